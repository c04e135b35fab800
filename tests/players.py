"""Players for the tests: real websocket clients at a real in-process host.

Not a test module: test_server.py and test_persistence.py import it, so that
both speak to the host the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp

import poker

#: Seconds a player waits for a frame before the test fails.
WAIT = 5.0


def leaves(tree: Any, key: str | None = None) -> Iterator[tuple[str | None, Any]]:
    """Every (key, leaf) of a JSON tree; a list item keeps its list's key."""
    if isinstance(tree, dict):
        for name, value in tree.items():
            yield from leaves(value, name)
    elif isinstance(tree, list):
        for value in tree:
            yield from leaves(value, key)
    else:
        yield key, tree


class Player:
    """One websocket at the table, keeping every frame it was sent."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.seat: str | None = None
        self.token: str | None = None

    async def send(self, kind: str, **fields: Any) -> None:
        """Send one protocol message."""
        await self.ws.send_str(json.dumps({"type": kind, **fields}))

    async def receive(self) -> dict[str, Any]:
        """The next frame, parsed; fail on anything but a text frame."""
        message = await self.ws.receive(WAIT)
        assert message.type == aiohttp.WSMsgType.TEXT, (
            f"expected a text frame, got {message.type.name} {message.data!r}"
        )
        self.raw.append(message.data)
        self.frames.append(json.loads(message.data))
        return self.frames[-1]

    async def expect(self, kind: str) -> dict[str, Any]:
        """Read frames until one of type *kind* arrives; return it."""
        while (got := await self.receive())["type"] != kind:
            pass
        return got

    async def join(self, name: str, **fields: Any) -> dict[str, Any]:
        """Sit down; return the first ``state`` frame."""
        await self.send(poker.Msg.JOIN, name=name, **fields)
        welcome = await self.expect(poker.Msg.WELCOME)
        self.seat, self.token = welcome["seat"], welcome["token"]
        return await self.expect(poker.Msg.STATE)

    async def catch_up(self) -> None:
        """Read every frame the host sent so far (a ping marks the end)."""
        await self.send(poker.Msg.PING)
        await self.expect(poker.Msg.PONG)

    async def next_is_pong(self) -> bool:
        """True when nothing else was sent since the last catch_up().

        The host queues a client's frames in order, so a frame caused by an
        earlier message would stand before the pong.
        """
        await self.send(poker.Msg.PING)
        return (await self.receive())["type"] == poker.Msg.PONG

    async def closed(self) -> int | None:
        """Read until the socket closes; the close code the host sent.

        That is the code in the host's close frame, not ``ws.close_code``: the
        client's reply to it fails (1006) once a stopped host is gone.
        """
        while (message := await self.ws.receive(WAIT)).type == aiohttp.WSMsgType.TEXT:
            self.raw.append(message.data)
            self.frames.append(json.loads(message.data))
        if message.type == aiohttp.WSMsgType.CLOSE:
            return message.data
        return self.ws.close_code


@dataclasses.dataclass
class Door:
    """Where players come in: a client session and a host's base URL."""

    session: aiohttp.ClientSession
    url: str

    async def connect(self, **kwargs: Any) -> Player:
        """Open a websocket to the game."""
        return Player(await self.session.ws_connect(f"{self.url}ws", **kwargs))

    async def seated(self, *names: str) -> list[Player]:
        """Players who joined in this order (the first runs the table)."""
        players = []
        for name in names:
            player = await self.connect()
            await player.join(name)
            players.append(player)
        for player in players:
            await player.catch_up()
        return players


@dataclasses.dataclass
class Table(Door):
    """A host serving one game in this process, and the door to it."""

    host: poker.Host
    room: poker.Room

    @property
    def game(self) -> poker.Game:
        """The host's copy of the game."""
        return self.room.game

    def stored(self) -> poker.Game:
        """The game as the database holds it now."""
        return self.host.store.load(self.game.id)


@contextlib.asynccontextmanager
async def hosting(db: Path, title: str = "Sprint 42") -> AsyncIterator[Table]:
    """Host a new game in this process (no discovery) until the block ends."""
    store = poker.Store(db)
    host = poker.Host(store, "testhost")
    room = host.open_room(poker.Game.new(title, "testhost"))
    port = await host.start(0, "127.0.0.1")
    try:
        async with aiohttp.ClientSession() as session:
            yield Table(session, f"http://127.0.0.1:{port}/", host, room)
    finally:
        await host.stop()
        store.close()
