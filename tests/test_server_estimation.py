"""Estimating as teams run it, over real sockets: the host enforces the
facilitator's rights, sends the backlog, runs the timer on its own clock,
imports CSV files and exports the results over HTTP."""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import poker
from players import Player, Table, hosting

M = poker.Msg


@pytest.fixture
async def table(tmp_path: Path) -> AsyncIterator[Table]:
    """A host serving one game, stopped at the end of the test."""
    async with hosting(tmp_path / "g.db") as served:
        yield served


def snapshot(table: Table) -> dict[str, Any]:
    """The game as stored and as held, to see that nothing changed."""
    stored = table.stored()
    return {
        "public": table.game.public(),
        "backlog": table.game.public_backlog(),
        "stored": (stored.public(), stored.public_backlog()),
    }


async def with_story(table: Table, ada: Player, title: str = "PROJ-1") -> str:
    """Add one story as the facilitator; its id."""
    await ada.send(M.STORY_ADD, title=title)
    stories = (await ada.expect(M.BACKLOG))["stories"]
    return stories[-1]["id"]


# ---------------------------------------------------------------- forged messages

FORGED = [
    ({"type": M.REVEAL}, "reveal"),
    ({"type": M.NEW_ROUND, "story": "Mine"}, "new round"),
    ({"type": M.SET_STORY, "story": "Mine"}, "set the story"),
    ({"type": M.SET_DECK, "deck": "tshirt", "confirm": True}, "change the deck"),
    ({"type": M.SET_AUTO_REVEAL, "on": False}, "auto-reveal"),
    ({"type": M.REMOVE, "seat": "ADA"}, "remove the facilitator's seat"),
    ({"type": M.PASS_FACILITATOR, "seat": "BOB"}, "take the role"),
    ({"type": M.ESTIMATE, "value": "8"}, "record the final estimate"),
    ({"type": M.NEXT_STORY}, "next story"),
    ({"type": M.STORY_ADD, "title": "Sneaky"}, "add a story"),
    ({"type": M.STORY_EDIT, "id": "STORY", "title": "Mine"}, "edit a story"),
    ({"type": M.STORY_MOVE, "id": "STORY", "to": 0}, "reorder"),
    ({"type": M.STORY_REMOVE, "id": "STORY"}, "remove a story"),
    ({"type": M.STORY_SKIP, "id": "STORY"}, "skip a story"),
    ({"type": M.START_TIMER, "seconds": 60}, "start the timer"),
    ({"type": M.STOP_TIMER}, "stop the timer"),
]


@pytest.mark.parametrize(
    "message", [m for m, _ in FORGED], ids=[name for _, name in FORGED]
)
async def test_a_facilitator_action_from_another_seat_is_refused(
    table: Table, message: dict[str, Any]
) -> None:
    ada, bob = await table.seated("Ada", "Bob")
    story = await with_story(table, ada)
    await ada.send(M.VOTE, card="5")
    await ada.send(M.START_TIMER, seconds=600)
    await ada.catch_up()
    await bob.catch_up()
    before = snapshot(table)
    ids = {"ADA": ada.seat, "BOB": bob.seat, "STORY": story}
    forged = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in message.items()}

    await bob.ws.send_str(json.dumps(forged))

    error = await bob.expect(M.ERROR)
    assert (error["code"], error["ref"]) == ("not_allowed", message["type"])
    assert await ada.next_is_pong()
    assert snapshot(table) == before


# ---------------------------------------------------------------- decks and roles


async def test_a_deck_change_over_votes_asks_the_sender_to_confirm(
    table: Table,
) -> None:
    ada, bob = await table.seated("Ada", "Bob")
    await bob.send(M.VOTE, card="8")
    await ada.catch_up()
    await bob.catch_up()

    await ada.send(M.SET_DECK, deck="tshirt")

    error = await ada.expect(M.ERROR)
    assert (error["code"], error["ref"]) == ("confirm_needed", M.SET_DECK)
    assert await bob.next_is_pong()
    assert table.game.seats[bob.seat].vote == "8"


async def test_a_confirmed_custom_deck_reaches_everyone(table: Table) -> None:
    ada, bob = await table.seated("Ada", "Bob")
    await bob.send(M.VOTE, card="8")
    await ada.catch_up()
    cards = ["👍", "👎", "🤷🏽‍♀️", "∞"]

    await ada.send(M.SET_DECK, deck="custom", cards=cards, confirm=True)

    for player in (ada, bob):
        game = (await player.expect(M.STATE))["game"]
        assert game["deck"] == {"name": "custom", "cards": cards}
        assert game["seats"][1]["voted"] is False
    assert table.stored().cards == tuple(cards)


async def test_a_custom_deck_with_a_duplicate_is_refused_with_a_sentence(
    table: Table,
) -> None:
    (ada,) = await table.seated("Ada")

    await ada.send(M.SET_DECK, deck="custom", cards=["1", "2", "1"])

    error = await ada.expect(M.ERROR)
    assert error["code"] == "bad_deck"
    assert "twice" in error["message"]


async def test_the_facilitator_role_passes_to_another_seat_for_everyone(
    table: Table,
) -> None:
    ada, bob = await table.seated("Ada", "Bob")

    await ada.send(M.PASS_FACILITATOR, seat=bob.seat)

    for player in (ada, bob):
        assert (await player.expect(M.STATE))["game"]["facilitator"] == bob.seat
    await ada.send(M.NEW_ROUND)
    assert (await ada.expect(M.ERROR))["code"] == "not_allowed"
    assert table.stored().facilitator == bob.seat


# ---------------------------------------------------------------- backlog


async def test_a_story_added_reaches_every_player_as_a_backlog_frame(
    table: Table,
) -> None:
    ada, bob = await table.seated("Ada", "Bob")

    await ada.send(M.STORY_ADD, title="Log in", key="PROJ-1", description="SSO")

    for player in (ada, bob):
        (story,) = (await player.expect(M.BACKLOG))["stories"]
        assert (story["title"], story["key"], story["description"]) == (
            "Log in",
            "PROJ-1",
            "SSO",
        )


async def test_a_player_who_joins_gets_the_backlog_after_the_state(
    table: Table,
) -> None:
    (ada,) = await table.seated("Ada")
    await with_story(table, ada, "Log in")
    bob = await table.connect()

    await bob.join("Bob")
    backlog = await bob.receive()

    assert backlog["type"] == M.BACKLOG
    assert [s["title"] for s in backlog["stories"]] == ["Log in"]


async def test_the_final_estimate_is_recorded_and_the_next_story_follows(
    table: Table,
) -> None:
    ada, bob = await table.seated("Ada", "Bob")
    first = await with_story(table, ada, "PROJ-1")
    await with_story(table, ada, "PROJ-2")
    await ada.send(M.NEXT_STORY, id=first)
    await ada.send(M.VOTE, card="5")
    await ada.catch_up()  # the new round is under way before Bob votes
    await bob.send(M.VOTE, card="8")
    await bob.catch_up()  # revealed before the estimate

    await ada.send(M.ESTIMATE, value="8")
    await ada.send(M.NEXT_STORY)

    await bob.catch_up()
    backlog = [f for f in bob.frames if f["type"] == M.BACKLOG][-1]["stories"]
    game = [f for f in bob.frames if f["type"] == M.STATE][-1]["game"]
    assert [s["estimate"] for s in backlog] == ["8", None]
    assert (game["story"], game["revealed"]) == ("PROJ-2", False)
    assert game["history"][-1]["final"] == "8"
    assert table.stored().history[-1]["final"] == "8"


# ---------------------------------------------------------------- timer


async def test_every_state_carries_the_hosts_clock(table: Table) -> None:
    player = await table.connect()

    before = time.time()
    state = await player.join("Ada")

    assert before - 1 <= state["now"] <= time.time() + 1


async def test_the_host_reveals_when_the_timer_reaches_zero(table: Table) -> None:
    ada, bob = await table.seated("Ada", "Bob")
    await bob.send(M.VOTE, card="8")
    await ada.catch_up()
    # Started 4.8 s ago on the host's clock: zero comes in 0.2 s.
    change = table.game.start_timer(ada.seat, 5, now=time.time() - 4.8)
    table.room.commit(change)

    while not (await ada.expect(M.STATE))["game"]["revealed"]:
        pass

    assert table.stored().revealed
    assert table.game.timer is not None
    assert table.game.timer["done"]


async def test_the_timer_reaches_every_player_with_its_end(table: Table) -> None:
    ada, bob = await table.seated("Ada", "Bob")

    await ada.send(M.START_TIMER, seconds=120, reveal=False)

    timer = (await bob.expect(M.STATE))["game"]["timer"]
    assert timer["seconds"] == 120
    assert timer["reveal"] is False
    assert abs(timer["ends"] - (time.time() + 120)) < 2


# ---------------------------------------------------------------- import over HTTP


async def post_import(
    table: Table, data: bytes, token: str | None, query: str = "", **headers: str
) -> tuple[int, dict[str, Any]]:
    """POST a file to /api/import (streamed, with no length given); the
    status and the JSON answer."""
    if token is not None:
        headers["X-Poker-Token"] = token
    url = f"{table.url}api/import?game={table.game.id}{query}"
    body = io.BytesIO(data)
    async with table.session.post(url, data=body, headers=headers) as response:
        return response.status, await response.json()


JIRA = b"Summary,Issue key\r\nLog in,PROJ-1\r\nExport,PROJ-2\r\n"


async def test_a_preview_shows_the_columns_and_imports_nothing(table: Table) -> None:
    (ada,) = await table.seated("Ada")

    status, answer = await post_import(table, JIRA, ada.token)

    assert status == 200
    assert answer["columns"] == ["Summary", "Issue key"]
    assert (answer["title"], answer["key"], answer["obvious"]) == (0, 1, True)
    assert [s["title"] for s in answer["sample"]] == ["Log in", "Export"]
    assert (answer["stories"], answer["imported"]) == (2, 0)
    assert table.game.backlog == []


async def test_the_facilitator_imports_a_file_and_everyone_gets_the_backlog(
    table: Table,
) -> None:
    ada, bob = await table.seated("Ada", "Bob")

    status, answer = await post_import(table, JIRA, ada.token, "&commit=1")

    assert (status, answer["imported"]) == (200, 2)
    stories = (await bob.expect(M.BACKLOG))["stories"]
    assert [(s["key"], s["title"]) for s in stories] == [
        ("PROJ-1", "Log in"),
        ("PROJ-2", "Export"),
    ]
    assert len(table.stored().backlog) == 2


async def test_the_facilitator_picks_the_columns_of_an_import(table: Table) -> None:
    (ada,) = await table.seated("Ada")

    status, answer = await post_import(
        table, b"A,B\nPROJ-1,Log in\n", ada.token, "&title=1&key=0&commit=1"
    )

    assert (status, answer["obvious"]) == (200, False)
    assert [(s.key, s.title) for s in table.game.backlog] == [("PROJ-1", "Log in")]


async def test_a_five_thousand_row_import_fits_through_http(table: Table) -> None:
    (ada,) = await table.seated("Ada")
    lines = ["Issue key,Summary"] + [f"K-{n},Story {n}" for n in range(5000)]

    status, answer = await post_import(
        table, "\n".join(lines).encode(), ada.token, "&commit=1"
    )

    assert (status, answer["imported"]) == (200, 5000)
    assert len((await ada.expect(M.BACKLOG))["stories"]) == 5000
    assert len(table.stored().backlog) == 5000


@pytest.mark.parametrize(
    ("who", "data", "headers", "status"),
    [
        ("bob", JIRA, {}, 403),  # a voter's own token
        ("nobody", JIRA, {}, 403),  # no token at all
        ("forged", JIRA, {}, 403),  # a token of no seat
        ("ada", JIRA, {"Origin": "http://evil.example"}, 403),  # another site
        ("ada", b"Title\nA,\x00", {}, 400),  # a binary file
        ("ada", b"", {}, 400),  # an empty file
        ("ada", b"x" * (poker.MAX_IMPORT + 1), {}, 413),  # over the size limit
    ],
)
async def test_a_refused_import_says_why_and_imports_nothing(
    table: Table, who: str, data: bytes, headers: dict[str, str], status: int
) -> None:
    ada, bob = await table.seated("Ada", "Bob")
    token = {"ada": ada.token, "bob": bob.token, "forged": "x" * 24}.get(who)

    got, answer = await post_import(table, data, token, "&commit=1", **headers)

    assert got == status
    assert answer["error"]
    assert table.game.backlog == []
    assert table.stored().backlog == []
    assert await bob.next_is_pong()


async def test_a_malformed_import_names_its_line(table: Table) -> None:
    (ada,) = await table.seated("Ada")

    status, answer = await post_import(
        table, b'Title,Key\nA,1\n"B,2\n', ada.token, "&commit=1"
    )

    assert (status, answer["line"]) == (400, 3)
    assert "Line 3" in answer["error"]


# ---------------------------------------------------------------- export over HTTP


async def played(table: Table) -> None:
    """Ada and Bob estimate PROJ-1 at 8."""
    ada, bob = await table.seated("Ada", "Bob")
    await with_story(table, ada, "PROJ-1")
    await ada.send(M.NEXT_STORY)
    await ada.send(M.VOTE, card="5")
    await ada.catch_up()  # the new round is under way before Bob votes
    await bob.send(M.VOTE, card="8")
    await bob.catch_up()
    await ada.send(M.ESTIMATE, value="8")
    await ada.catch_up()


async def test_the_results_download_as_csv_with_a_bom(table: Table) -> None:
    await played(table)

    url = f"{table.url}api/export?game={table.game.id}&format=csv"
    async with table.session.get(url) as response:
        body = await response.read()
        disposition = response.headers["Content-Disposition"]

    assert body.startswith(b"\xef\xbb\xbf")
    assert body.decode("utf-8-sig").splitlines()[1] == ",PROJ-1,8,6.5,6.5,no,1,5,8"
    assert "Sprint-42-results.csv" in disposition


async def test_the_results_download_as_markdown(table: Table) -> None:
    await played(table)

    url = f"{table.url}api/export?game={table.game.id}&format=md"
    async with table.session.get(url) as response:
        text = await response.text()

    assert "| Key | Title | Final estimate |" in text
    assert "|   | PROJ-1 | 8 | 6.5 | 6.5 | no | 1 | 5 | 8 |" in text


async def test_the_lobby_exports_a_stored_game_with_its_key(tmp_path: Path) -> None:
    store = poker.Store(tmp_path / "g.db")
    game = poker.Game.new("Old sprint")
    ada = game.join("Ada")[0].id
    game.add_story(ada, "Kept")
    store.save(game)
    host = poker.Host(store, "testhost", lobby_key="k" * 24)
    port = await host.start_lobby()
    base = f"http://127.0.0.1:{port}/api/local/export?id={game.id}&format=csv"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}&key={'k' * 24}") as allowed:
                body = await allowed.read()
            async with session.get(base) as keyless:
                refused = keyless.status
    finally:
        await host.stop()
        store.close()

    assert body.decode("utf-8-sig").splitlines()[1] == ",Kept,,,,,0"
    assert refused == 403


@pytest.mark.parametrize(
    ("how", "status"),
    [
        ("none", 403),  # no token at all
        ("forged", 403),  # a token of no seat
        ("header", 200),  # a player's token in the X-Poker-Token header
        ("query", 200),  # the same token in the link, as the page sends it
    ],
)
async def test_a_locked_games_results_need_a_seat_token(
    table: Table, how: str, status: int
) -> None:
    await played(table)
    table.game.lock("open sesame")
    token = next(iter(table.game.seats.values())).token
    url = f"{table.url}api/export?game={table.game.id}&format=csv"
    headers = {"X-Poker-Token": token} if how == "header" else {}
    url += {"query": f"&token={token}", "forged": f"&token={'x' * 24}"}.get(how, "")

    async with table.session.get(url, headers=headers) as response:
        got, body = response.status, await response.text()

    assert got == status
    assert ("PROJ-1" in body) == (status == 200)
    assert status == 200 or "passcode" in body
