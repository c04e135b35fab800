"""A client that stops reading: its frames wait in order, the others are not
held up, and past the queue's bound it is dropped (it resyncs on reconnect).

The stalled client is a raw socket with a small receive buffer that simply
stops reading; a 5,000-story backlog (one frame of megabytes) fills it."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

import poker
from players import Player, Table, hosting

#: Stories of each import (a 3.7 MB file): the backlog frames that follow,
#: of 3.7 MB then 7.4 MB, overflow a stalled socket's kernel buffers.
STORIES = 1400


class RawPlayer:
    """A websocket client by hand (RFC 6455), which reads only when told."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.close_code = 0

    @classmethod
    async def connect(cls, port: int) -> RawPlayer:
        """Open a socket that buffers little, and upgrade it."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**24)
        writer.write(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    def send(self, kind: str, **fields: object) -> None:
        """Write one masked text frame (a zero mask keeps the payload)."""
        data = json.dumps({"type": kind, **fields}).encode()
        assert len(data) < 126
        self.writer.write(struct.pack("!BB", 0x81, 0x80 | len(data)) + b"\0" * 4)
        self.writer.write(data)

    async def join(self, name: str) -> None:
        """Sit down, and read what a new player is sent (to the backlog)."""
        self.send(poker.Msg.JOIN, name=name)
        while (message := await self.receive()) and message["type"] != "backlog":
            pass

    async def closed_with(self) -> int:
        """Read on to the host's close frame; its close code."""
        while await self.receive() is not None:
            pass
        return self.close_code

    async def receive(self) -> dict[str, object] | None:
        """The next text frame, parsed; None when the host closed."""
        while True:
            first, second = await asyncio.wait_for(self.reader.readexactly(2), 10)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            payload = await asyncio.wait_for(self.reader.readexactly(size), 10)
            if first & 0x0F == 0x8:
                self.close_code = struct.unpack("!H", payload[:2])[0]
                return None
            if first & 0x0F == 0x1:
                return json.loads(payload)


@pytest.fixture
async def table(tmp_path: Path) -> AsyncIterator[Table]:
    """A host in this process with no player yet."""
    async with hosting(tmp_path / "games.db") as table:
        yield table


@pytest.fixture
async def raw(table: Table) -> AsyncIterator[Callable[[], Awaitable[RawPlayer]]]:
    """`await raw()` -> a RawPlayer at the table's game; all closed after."""
    opened: list[RawPlayer] = []

    async def connect() -> RawPlayer:
        assert table.host.port is not None
        opened.append(await RawPlayer.connect(table.host.port))
        return opened[-1]

    yield connect
    for player in opened:
        player.writer.close()
        with contextlib.suppress(OSError):
            await player.writer.wait_closed()


async def import_big_backlog(table: Table, facilitator: Player) -> None:
    """The facilitator imports STORIES long stories: one huge backlog frame."""
    about = "y" * poker.MAX_DESCRIPTION
    body = "Title,Description\n" + "".join(
        f"Story {n} {'x' * 470},{about}\n" for n in range(STORIES)
    )
    async with table.session.post(
        f"{table.url}api/import?commit=1",
        data=io.BytesIO(body.encode()),
        headers={"X-Poker-Token": facilitator.token or ""},
    ) as response:
        assert response.status == 200, await response.text()


async def reader(table: Table) -> Player:
    """A player who reads every frame, however big (a browser has no cap)."""
    player = await table.connect(max_msg_size=0)
    await player.join("Ada")
    await player.catch_up()
    return player


async def pong_time(player: Player) -> float:
    """Seconds from a ping to its pong, for a player who reads."""
    began = time.monotonic()
    await player.catch_up()
    return time.monotonic() - began


async def test_a_stalled_client_does_not_hold_up_the_others(
    table: Table, raw: Callable[[], Awaitable[RawPlayer]]
) -> None:
    ada = await reader(table)
    stalled = await raw()
    await stalled.join("Stalled")

    await import_big_backlog(table, ada)
    await import_big_backlog(table, ada)
    took = await pong_time(ada)

    assert took < 1.0
    assert len(table.game.backlog) == 2 * STORIES
    (behind,) = [c for c in table.room.clients if c.seat != ada.seat]
    owed = behind.transport.get_write_buffer_size() + sum(map(len, behind.backlog))
    assert owed > poker.WRITE_BEHIND  # it really is behind


async def test_a_client_behind_gets_its_frames_in_order(
    table: Table, raw: Callable[[], Awaitable[RawPlayer]]
) -> None:
    ada = await reader(table)
    slow = await raw()
    await slow.join("Slow")
    await import_big_backlog(table, ada)
    for _ in range(10):  # answered while the socket is still full
        slow.send(poker.Msg.PING)
    await ada.catch_up()

    kinds = []
    while len(kinds) < 11:
        message = await slow.receive()
        assert message is not None
        kinds.append(str(message["type"]))

    assert kinds == [poker.Msg.BACKLOG] + [poker.Msg.PONG] * 10


async def test_a_client_too_far_behind_is_dropped(
    table: Table, raw: Callable[[], Awaitable[RawPlayer]]
) -> None:
    ada = await reader(table)
    stalled = await raw()
    await stalled.join("Stalled")
    await import_big_backlog(table, ada)
    await ada.catch_up()

    # Each one is answered (pong, or too_fast past the rate budget): more
    # answers than the queue holds.
    for _ in range(poker.SEND_QUEUE + 50):
        stalled.send(poker.Msg.PING)
    await stalled.writer.drain()
    for _ in range(100):  # the host reads them all, then closes that socket
        if len(table.room.clients) == 1:
            break
        await asyncio.sleep(0.05)

    assert [c.seat for c in table.room.clients] == [ada.seat]
    assert await stalled.closed_with() == 1013  # try again later
    assert await pong_time(ada) < 1.0
