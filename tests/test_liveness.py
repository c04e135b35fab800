"""Liveness: away seats, their timeout, and a frozen client (SIGSTOP) that
must never delay the others. Real sockets to a real in-process host."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import poker
from players import Player, Table, hosting

M = poker.Msg


@pytest.fixture
async def table(tmp_path: Path) -> AsyncIterator[Table]:
    """A host serving one game, stopped at the end of the test."""
    async with hosting(tmp_path / "g.db") as served:
        yield served


async def seat_update(player: Player, seat_id: str | None) -> dict:
    """The next record of *seat_id* this player hears of (seat or state)."""
    while True:
        got = await player.receive()
        if got["type"] == M.SEAT and got["seat"]["id"] == seat_id:
            return got["seat"]
        if got["type"] == M.STATE:
            for seat in got["game"]["seats"]:
                if seat["id"] == seat_id:
                    return seat


async def test_the_facilitator_sets_the_away_timeout_for_everyone(
    table: Table,
) -> None:
    ada, bob = await table.seated("Ada", "Bob")

    await ada.send(M.SET_AWAY_TIMEOUT, seconds=1800)
    seen_by_bob = (await bob.expect(M.STATE))["game"]["awayTimeout"]

    assert seen_by_bob == 1800
    assert table.stored().away_timeout == 1800


async def test_an_away_seat_is_shown_with_its_time_and_keeps_its_card(
    table: Table,
) -> None:
    ada, bob = await table.seated("Ada", "Bob")
    await bob.send(M.VOTE, card="8")
    await bob.expect(M.YOU)
    await ada.catch_up()
    began = time.time()

    await bob.ws.close()
    seat = await seat_update(ada, bob.seat)

    assert (seat["connected"], seat["voted"]) == (False, True)
    assert began - 1 <= seat["awaySince"] <= time.time()
    assert table.stored().seats[bob.seat or ""].vote == "8"


async def test_the_host_gives_up_an_away_seat_at_its_timeout(table: Table) -> None:
    ada, bob = await table.seated("Ada", "Bob")
    table.game.away_timeout = 1  # below what a message may set: a fast test

    await bob.ws.close()
    began = time.monotonic()
    while True:
        state = await ada.expect(M.STATE)
        if bob.seat not in {s["id"] for s in state["game"]["seats"]}:
            break
    took = time.monotonic() - began

    assert 0.9 <= took <= 1 + poker.EXPIRY_CHECK + 0.5
    assert bob.seat not in table.stored().seats


async def test_a_given_up_player_is_told_why_when_still_listening(
    table: Table,
) -> None:
    ada, bob = await table.seated("Ada", "Bob")
    table.game.away_timeout = 1
    # Bob's socket is still open, but the host counts his seat as away.
    table.room.commit(table.game.set_connected(bob.seat or "", False))

    removed = await bob.expect(M.REMOVED)

    assert "away for more than 1 minute" in removed["reason"]


# ---------------------------------------------------------------- frozen client

# A player in its own process: joins, votes 13, then reads forever; when its
# socket drops it comes back with its token and says so.
FROZEN = """
import asyncio, json, sys, aiohttp
async def main():
    url, token = sys.argv[1], None
    async with aiohttp.ClientSession() as session:
        for attempt in range(20):
            async with session.ws_connect(url) as ws:
                join = {"type": "join", "name": "Fred"}
                if token:
                    join["token"] = token
                await ws.send_json(join)
                async for message in ws:
                    data = json.loads(message.data)
                    if data["type"] == "welcome":
                        print("back" if token else "seat", data["seat"], flush=True)
                        if not token:
                            await ws.send_json({"type": "vote", "card": "13"})
                        token = data["token"]
            await asyncio.sleep(0.5)
asyncio.run(asyncio.wait_for(main(), 180))
"""

STOPPED_FOR = 60.0


async def read_line(proc: asyncio.subprocess.Process, within: float) -> str:
    """One stdout line of *proc*, within *within* seconds."""
    assert proc.stdout is not None
    return (await asyncio.wait_for(proc.stdout.readline(), within)).decode().strip()


@pytest.mark.timeout(180)
async def test_a_frozen_client_never_delays_the_others_and_resyncs_after(
    table: Table,
) -> None:
    ada, bob = await table.seated("Ada", "Bob")
    fred = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        FROZEN,
        f"{table.url}ws",
        stdout=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        kind, fred_seat = (await read_line(fred, 10)).split()
        assert kind == "seat"
        while not (await seat_update(ada, fred_seat))["voted"]:
            pass
        await ada.catch_up()
        await bob.catch_up()

        os.kill(fred.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        latencies, away_after = [], None
        card = None
        while time.monotonic() - stopped < STOPPED_FOR:
            card = "5" if card is None else None
            sent = time.monotonic()
            await ada.send(M.VOTE, card=card)
            while True:
                got = await bob.receive()
                if got["type"] == M.SEAT and got["seat"]["id"] == ada.seat:
                    break
                if (
                    got["type"] == M.SEAT
                    and got["seat"]["id"] == fred_seat
                    and not got["seat"]["connected"]
                    and away_after is None
                ):
                    away_after = time.monotonic() - stopped
                    assert got["seat"]["voted"], "the away seat lost its card"
            latencies.append(time.monotonic() - sent)
            await asyncio.sleep(0.1)
        os.kill(fred.pid, signal.SIGCONT)
        kind, seat_back = (await read_line(fred, 15)).split()
        while not (back := await seat_update(ada, fred_seat))["connected"]:
            pass  # Ada reads past what she was told while Fred was stopped
    finally:
        os.kill(fred.pid, signal.SIGCONT)
        fred.kill()
        await asyncio.wait_for(fred.wait(), 5)

    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"frozen {STOPPED_FOR:.0f} s: {len(latencies)} updates to Bob, p50 "
        f"{p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max "
        f"{latencies[-1] * 1000:.1f} ms; shown away after {away_after:.1f} s"
    )
    assert away_after is not None
    assert away_after <= 20
    assert latencies[-1] < 0.25
    assert (kind, seat_back) == ("back", fred_seat)
    assert back["voted"]
    assert len(table.game.seats) == 3
    assert table.game.seats[fred_seat].vote == "13"
