"""Nothing a player has seen is lost: the store, the commit-before-broadcast
rule, and a real host killed with SIGKILL and resumed."""

from __future__ import annotations

import dataclasses
import json
import select
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import poker
from players import Door, Player, Table, hosting

M = poker.Msg
ROOT = Path(__file__).resolve().parent.parent
#: Seconds a host subprocess may take to print its address.
STARTUP = 20.0


# ---------------------------------------------------------------- the store


def played(game: poker.Game) -> poker.Game:
    """The game after two revealed rounds and a third under way."""
    ada = game.join("Ada")[0].id
    bob = game.join("Bob")[0].id
    cyd = game.join("Cyd", role=poker.OBSERVER)[0].id
    for story, cards in (("PROJ-1 login", ("3", "5")), ("PROJ-2 export", ("8", "8"))):
        game.set_story(ada, story)
        game.vote(ada, cards[0])
        game.vote(bob, cards[1])
        game.new_round(ada)
    game.set_story(ada, "PROJ-3 search")
    game.set_auto_reveal(ada, False)
    game.vote(bob, "13")
    for seat in (ada, bob, cyd):
        game.set_connected(seat, False)  # a loaded game has nobody present
    return game


def test_a_stored_game_loads_back_exactly(tmp_path: Path) -> None:
    game = played(poker.Game.new("Sprint 42", "testhost", "modified"))
    store = poker.Store(tmp_path / "g.db")

    store.save(game)
    store.close()

    again = poker.Store(tmp_path / "g.db")
    loaded = again.load(game.id)
    again.close()
    assert loaded == game
    assert (loaded.story, loaded.round, loaded.facilitator) == (
        "PROJ-3 search",
        3,
        game.facilitator,
    )
    assert [r["story"] for r in loaded.history] == ["PROJ-1 login", "PROJ-2 export"]


def stored_table(
    path: Path,
) -> tuple[poker.Game, poker.Store, poker.Seat, poker.Seat]:
    """A new game in a new store, Ada and Bob seated, each change saved."""
    game = poker.Game.new("Sprint 42")
    store = poker.Store(path)
    store.save(game)
    ada, joined = game.join("Ada")
    store.save(game, joined)
    bob, joined = game.join("Bob")
    store.save(game, joined)
    return game, store, ada, bob


def test_changes_saved_one_by_one_load_back_as_the_whole_game(tmp_path: Path) -> None:
    # The host saves only what each change touched; the sum must be the game.
    game, store, ada, bob = stored_table(tmp_path / "g.db")
    steps = [
        lambda: game.set_story(ada.id, "PROJ-1 login"),
        lambda: game.vote(ada.id, "3"),
        lambda: game.vote(bob.id, "5"),  # the last vote: the round reveals
        lambda: game.new_round(ada.id, "PROJ-2 export"),
        lambda: game.set_role(ada.id, poker.OBSERVER),
        lambda: game.vote(bob.id, "8"),  # the only voter left: reveals again
        lambda: game.set_connected(ada.id, False),
        lambda: game.set_connected(bob.id, False),
    ]

    for step in steps:
        store.save(game, step())

    assert store.load(game.id) == game
    assert len(game.history) == 2
    store.close()


def test_estimation_changes_saved_one_by_one_load_back_whole(tmp_path: Path) -> None:
    # Backlog, final estimates, decks and the timer each save only their part.
    game, store, ada, bob = stored_table(tmp_path / "g.db")
    story = lambda n: game.backlog[n].id  # noqa: E731
    steps = [
        lambda: game.add_story(ada.id, "PROJ-1 login", "PROJ-1", "SSO"),
        lambda: game.add_story(ada.id, "PROJ-2 export"),
        lambda: game.add_story(ada.id, "PROJ-3 search"),
        lambda: game.move_story(ada.id, story(2), 0),
        lambda: game.skip_story(ada.id, story(0)),
        lambda: game.edit_story(ada.id, story(1), {"title": "PROJ-1 SSO login"}),
        lambda: game.next_story(ada.id),
        lambda: game.set_deck(ada.id, poker.CUSTOM_DECK, ["S", "M", "L", "🐘"]),
        lambda: game.start_timer(ada.id, 60, now=1000.0),
        lambda: game.vote(ada.id, "M"),
        lambda: game.vote(bob.id, "🐘"),  # the last vote: the round reveals
        lambda: game.record_estimate(ada.id, "L"),
        lambda: game.next_story(ada.id),
        lambda: game.remove_story(ada.id, story(0)),
        lambda: game.pass_facilitator(ada.id, bob.id),
        lambda: game.set_connected(ada.id, False),
        lambda: game.set_connected(bob.id, False),
    ]

    for step in steps:
        store.save(game, step())

    assert store.load(game.id) == game
    assert store.load(game.id).history[-1]["final"] == "L"
    store.close()


def test_the_store_names_the_game_it_cannot_find(tmp_path: Path) -> None:
    store = poker.Store(tmp_path / "g.db")

    with pytest.raises(poker.StorageError, match="nope"):
        store.load("nope")

    store.close()


# ---------------------------------------------------------------- commit first


@pytest.fixture
async def table(tmp_path: Path) -> AsyncIterator[Table]:
    """A host serving one game in this process, stopped at the end."""
    async with hosting(tmp_path / "g.db") as served:
        yield served


def read_db(db: Path, sql: str, *args: Any) -> Any:
    """One value read through a connection of our own, not the host's."""
    with sqlite3.connect(db) as other:
        return other.execute(sql, args).fetchone()[0]


@pytest.mark.parametrize(
    ("sender", "message", "heard", "sql", "stored"),
    [
        # A vote: the others hear only that Bob voted.
        (
            "bob",
            {"type": M.VOTE, "card": "13"},
            M.SEAT,
            "SELECT vote FROM seats WHERE name='Bob'",
            "13",
        ),
        # A role: the seat record changes.
        (
            "bob",
            {"type": M.SET_ROLE, "role": poker.OBSERVER},
            M.SEAT,
            "SELECT role FROM seats WHERE name='Bob'",
            poker.OBSERVER,
        ),
        # A story: everybody gets the whole game again.
        (
            "ada",
            {"type": M.SET_STORY, "story": "PROJ-4 billing"},
            M.STATE,
            "SELECT story FROM games",
            "PROJ-4 billing",
        ),
        # A newcomer: the others get the new seat record.
        (
            "cyd",
            {"type": M.JOIN, "name": "Cyd"},
            M.SEAT,
            "SELECT name FROM seats WHERE name='Cyd'",
            "Cyd",
        ),
    ],
)
async def test_a_change_is_on_disk_before_anybody_hears_of_it(
    table: Table,
    tmp_path: Path,
    sender: str,
    message: dict[str, Any],
    heard: str,
    sql: str,
    stored: str,
) -> None:
    ada, bob = await table.seated("Ada", "Bob")
    players = {"ada": ada, "bob": bob, "cyd": await table.connect()}
    listener = bob if sender == "ada" else ada

    await players[sender].ws.send_str(json.dumps(message))
    await listener.expect(heard)

    assert read_db(tmp_path / "g.db", sql) == stored


# ---------------------------------------------------------------- a real host process


Starter = Callable[..., subprocess.Popen[str]]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def start_host(tmp_path: Path) -> Iterator[Starter]:
    """`start_host(data_dir, port, *args)` runs poker.py --headless until it
    prints its address; every process started is SIGKILLed by PID at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(data_dir: Path, port: int, *args: str) -> subprocess.Popen[str]:
        """Start one headless host on 127.0.0.1:port, never with mDNS."""
        errors = (tmp_path / f"stderr-{len(started)}.txt").open("w")
        argv = [sys.executable, "poker.py", "--headless", "--no-discovery"]
        argv += [
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ]
        proc = subprocess.Popen(
            [*argv, *args],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        errors.close()
        started.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], STARTUP)
        line = proc.stdout.readline() if ready else ""
        if f":{port}/" not in line or "Hosting" not in line:
            pytest.fail(
                f"poker.py printed {line!r}, not its address; stderr:\n"
                + Path(errors.name).read_text(),
                pytrace=False,
            )
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
async def door() -> AsyncIterator[Callable[[int], Door]]:
    """`door(port)`: the way in to a host on 127.0.0.1:port."""
    async with aiohttp.ClientSession() as session:
        yield lambda port: Door(session, f"http://127.0.0.1:{port}/")


async def come_back(door: Door, players: list[Player]) -> list[dict[str, Any]]:
    """Each player rejoins with its token; the state each one gets."""
    states = []
    for player in players:
        back = await door.connect()
        states.append(await back.join("Back", token=player.token))
        assert back.seat == player.seat
        player.ws, player.frames = back.ws, back.frames
    return states


@dataclasses.dataclass
class Crash:
    """Players whose host was SIGKILLed mid-round, and how to bring it back."""

    players: list[Player]
    resume: Callable[[], Awaitable[list[dict[str, Any]]]]


@pytest.fixture
async def killed_mid_round(
    start_host: Starter, door: Callable[[int], Door], tmp_path: Path
) -> Crash:
    """Three players: round 2, a story, Ada and Bob voted (5 and 13), Cyd
    not; then the host was SIGKILLed and the sockets closed."""
    port = free_port()
    host = start_host(tmp_path, port, "--title", "Sprint 42")
    players = await door(port).seated("Ada", "Bob", "Cyd")
    ada, bob, _cyd = players
    await ada.send(M.NEW_ROUND)
    await ada.send(M.SET_STORY, story="PROJ-9 import")
    await ada.send(M.VOTE, card="5")
    await bob.send(M.VOTE, card="13")
    for player in players:
        await player.catch_up()
    host.send_signal(signal.SIGKILL)
    host.wait(5)
    for player in players:
        await player.ws.close()

    async def resume() -> list[dict[str, Any]]:
        """Start the host again with --resume; every player comes back."""
        start_host(tmp_path, port, "--resume")
        return await come_back(door(port), players)

    return Crash(players, resume)


async def test_a_killed_host_resumes_the_round_where_it_stopped(
    killed_mid_round: Crash,
) -> None:
    players = killed_mid_round.players

    states = await killed_mid_round.resume()

    for player, state, own in zip(players, states, ("5", "13", None), strict=True):
        game = state["game"]
        assert (game["title"], game["story"], game["round"]) == (
            "Sprint 42",
            "PROJ-9 import",
            2,
        )
        assert game["facilitator"] == players[0].seat
        assert not game["revealed"]
        assert [s["id"] for s in game["seats"]] == [p.seat for p in players]
        assert state["you"] == {"seat": player.seat, "vote": own}
    marks = [(s["voted"], s["vote"]) for s in states[-1]["game"]["seats"]]
    assert marks == [(True, None), (True, None), (False, None)]


async def test_after_a_resume_the_last_vote_reveals_the_round(
    killed_mid_round: Crash,
) -> None:
    players = killed_mid_round.players
    await killed_mid_round.resume()
    for player in players:
        await player.catch_up()

    await players[2].send(M.VOTE, card="8")

    for player in players:
        game = (await player.expect(M.STATE))["game"]
        assert game["revealed"]
        assert [s["vote"] for s in game["seats"]] == ["5", "13", "8"]
        assert game["result"]["count"] == 3


def moved_aside(data_dir: Path) -> list[bytes]:
    """The contents of each damaged database the host moved aside."""
    return [path.read_bytes() for path in data_dir.glob("games.db.damaged-*")]


async def test_a_damaged_database_is_moved_aside_and_a_fresh_game_works(
    start_host: Starter,
    door: Callable[[int], Door],
    tmp_path: Path,
) -> None:
    garbage = bytes(range(256)) * 64
    (tmp_path / "games.db").write_bytes(garbage)
    port = free_port()

    start_host(tmp_path, port, "--title", "Fresh start")

    assert moved_aside(tmp_path) == [garbage]
    (ada,) = await door(port).seated("Ada")
    await ada.send(M.VOTE, card="3")
    game = (await ada.expect(M.STATE))["game"]
    assert (game["title"], game["revealed"]) == ("Fresh start", True)


def test_a_database_in_use_by_another_program_is_not_taken_for_damaged(
    tmp_path: Path,
) -> None:
    path = tmp_path / "games.db"
    poker.Store(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(poker.StorageError) as refused:
            poker.Store(path)
    finally:
        other.close()

    assert "in use by another program" in str(refused.value)
    assert list(tmp_path.glob("games.db.damaged-*")) == []


# ---------------------------------------------------------------- migration

#: The schema of the first release, as its databases are on users' disks.
FIRST_SCHEMA = """
CREATE TABLE games (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, host TEXT NOT NULL,
    deck TEXT NOT NULL, story TEXT NOT NULL, round INTEGER NOT NULL,
    revealed INTEGER NOT NULL, facilitator TEXT, auto_reveal INTEGER NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL, round_started REAL NOT NULL,
    port INTEGER
);
CREATE TABLE seats (
    game TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    id TEXT NOT NULL, token TEXT NOT NULL, name TEXT NOT NULL,
    role TEXT NOT NULL, vote TEXT, joined REAL NOT NULL,
    PRIMARY KEY (game, id)
);
CREATE TABLE rounds (
    game TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    n INTEGER NOT NULL, record TEXT NOT NULL
);
CREATE INDEX rounds_game ON rounds (game, n);
"""


def first_release_db(path: Path) -> None:
    """A database as the first release left it: one game, a played round."""
    record = {
        "round": 1,
        "story": "PROJ-1",
        "deck": "fibonacci",
        "votes": {"s1": ["Ada", "5"]},
        "started": 1.0,
        "revealed": 2.0,
    }
    db = sqlite3.connect(path)
    db.executescript(FIRST_SCHEMA)
    db.execute(
        "INSERT INTO games VALUES ('g1','Old sprint','h','tshirt','PROJ-2',2,0,"
        "'s1',1,1.0,2.0,3.0,8000)"
    )
    db.execute("INSERT INTO seats VALUES ('g1','s1','tok','Ada','voter','M',1.0)")
    db.execute("INSERT INTO rounds VALUES ('g1',1,?)", (json.dumps(record),))
    db.commit()
    db.close()


def test_a_database_of_the_first_release_opens_and_loads(tmp_path: Path) -> None:
    first_release_db(tmp_path / "g.db")

    store = poker.Store(tmp_path / "g.db")
    game = store.load("g1")
    store.close()

    assert (game.title, game.deck, game.story, game.round) == (
        "Old sprint",
        "tshirt",
        "PROJ-2",
        2,
    )
    assert game.seats["s1"].vote == "M"
    assert (game.backlog, game.story_id, game.timer) == ([], None, None)
    assert game.public()["history"][0]["final"] is None


def test_an_old_database_stores_the_new_parts_after_migration(tmp_path: Path) -> None:
    first_release_db(tmp_path / "g.db")
    store = poker.Store(tmp_path / "g.db")
    game = store.load("g1")
    game.add_story("s1", "PROJ-3", "K-3")
    game.set_deck("s1", poker.CUSTOM_DECK, ["👍", "👎"], confirm=True)
    game.start_timer("s1", 60, now=100.0)

    store.save(game)
    store.close()

    again = poker.Store(tmp_path / "g.db")
    loaded = again.load("g1")
    again.close()
    assert [(s.key, s.title) for s in loaded.backlog] == [("K-3", "PROJ-3")]
    assert (loaded.cards, loaded.timer) == (("👍", "👎"), game.timer)
