"""One headless host holding many games: created over HTTP, each at its own
URL, played at once without leaking into each other, put away when nobody
is connected and loaded again, as it was, when someone comes back."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import poker
from conftest import POKER, Host, NetnsPair, Proc
from players import Player

#: The idle time the hosts of these tests unload a game after (seconds).
IDLE = 1.0


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for HTTP calls and sockets to the host."""
    async with aiohttp.ClientSession() as session:
        yield session


async def create(
    session: aiohttp.ClientSession, host: Host, title: str, deck: str = "fibonacci"
) -> dict[str, Any]:
    """POST /api/games; the answer (id, url, title...)."""
    async with session.post(
        f"{host.url}api/games", json={"title": title, "deck": deck}
    ) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def games(session: aiohttp.ClientSession, host: Host) -> dict[str, Any]:
    """GET /api/games, by game id."""
    async with session.get(f"{host.url}api/games") as response:
        assert response.status == 200
        return {g["id"]: g for g in (await response.json())["games"]}


async def seat(
    session: aiohttp.ClientSession,
    host: Host,
    game_id: str | None,
    name: str,
    **join: Any,
) -> Player:
    """A player who joined the game *game_id* (None: the bare address's)."""
    query = f"?game={game_id}" if game_id else ""
    player = Player(await session.ws_connect(f"{host.url}ws{query}"))
    await player.join(name, **join)
    return player


async def test_games_created_over_http_are_listed_each_at_its_own_url(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host = headless_host("Front door")

    made = [await create(session, host, t, "tshirt") for t in ("Team A", "Team B")]
    listed = await games(session, host)

    assert {g["title"] for g in listed.values()} == {"Front door", "Team A", "Team B"}
    for game in made:
        assert game["url"] == f"/?game={game['id']}"
        assert listed[game["id"]]["loaded"] is True
        async with session.get(f"{host.url}api/game?game={game['id']}") as response:
            assert (await response.json())["title"] == game["title"]


async def test_new_games_from_one_computer_are_limited_to_a_burst(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host = headless_host("Front door")

    statuses = []
    for n in range(poker.CREATE_BURST + 2):
        async with session.post(
            f"{host.url}api/games", json={"title": f"Flood {n}"}
        ) as response:
            statuses.append(response.status)
            answer = await response.json()

    assert statuses == [201] * poker.CREATE_BURST + [429, 429]
    assert "Too many new games" in answer["error"]
    assert len(await games(session, host)) == poker.CREATE_BURST + 1


async def test_a_game_created_with_a_passcode_is_locked(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host = headless_host("Front door")

    async with session.post(
        f"{host.url}api/games", json={"title": "Secret", "passcode": "sesame"}
    ) as response:
        made = await response.json()
    stranger = Player(await session.ws_connect(f"{host.url}ws?game={made['id']}"))
    await stranger.send(poker.Msg.JOIN, name="Eve")
    refused = await stranger.expect(poker.Msg.ERROR)
    ada = await seat(session, host, made["id"], "Ada", passcode="sesame")

    assert made["locked"] is True
    assert refused["code"] == "bad_passcode"
    assert ada.seat


async def test_a_game_is_created_with_the_deck_asked_for(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host = headless_host("Front door")

    made = await create(session, host, "Sizes", "tshirt")
    player = await seat(session, host, made["id"], "Ada")

    assert player.frames[-1]["game"]["deck"]["name"] == "tshirt"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"title": "x" * 81}, 400),  # a title over 80 characters
        ({"title": "Fine", "deck": "tarot"}, 400),  # no such deck
        (["not", "an", "object"], 400),
        # A lone surrogate escape once made a game in memory that was never
        # stored, and a 500.
        ({"title": "Zombie\udc00"}, 400),
        ({"title": 0}, 400),  # a number is no title (it once became the default)
        ({"title": "Fine", "passcode": ["x"]}, 400),  # a passcode must be text
    ],
)
async def test_a_bad_new_game_is_refused_with_a_sentence(
    headless_host: Callable[..., Host],
    session: aiohttp.ClientSession,
    body: Any,
    status: int,
) -> None:
    host = headless_host("Front door")

    async with session.post(f"{host.url}api/games", json=body) as response:
        answer = await response.json()

    assert response.status == status
    assert answer["error"].endswith(".")
    assert len(await games(session, host)) == 1


async def test_a_new_game_from_another_sites_page_is_refused(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host = headless_host("Front door")

    async with session.post(
        f"{host.url}api/games",
        json={"title": "Sneaky"},
        headers={"Origin": "http://evil.example"},
    ) as response:
        status = response.status

    assert status == 403
    assert len(await games(session, host)) == 1


async def test_a_vote_in_one_game_never_reaches_the_players_of_another(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host = headless_host("Front door")
    one, two = await create(session, host, "One"), await create(session, host, "Two")
    ada, bob = [await seat(session, host, one["id"], n) for n in ("Ada", "Bob")]
    cy, di = [await seat(session, host, two["id"], n) for n in ("Cy", "Di")]
    for player in (ada, bob, cy, di):
        await player.catch_up()

    await bob.send(poker.Msg.VOTE, card="8")
    await ada.expect(poker.Msg.SEAT)

    assert await cy.next_is_pong()
    assert await di.next_is_pong()
    assert not [raw for raw in cy.raw + di.raw if "Ada" in raw or "Bob" in raw]


async def test_both_games_play_at_once(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host = headless_host("Front door")
    one, two = await create(session, host, "One"), await create(session, host, "Two")
    ada = await seat(session, host, one["id"], "Ada")
    cy = await seat(session, host, two["id"], "Cy")

    await asyncio.gather(
        ada.send(poker.Msg.VOTE, card="3"), cy.send(poker.Msg.VOTE, card="13")
    )
    states = await asyncio.gather(
        ada.expect(poker.Msg.STATE), cy.expect(poker.Msg.STATE)
    )

    # One voter each: the vote reveals each game with its own card.
    assert [s["game"]["result"]["mean"] for s in states] == [3, 13]
    assert [s["game"]["id"] for s in states] == [one["id"], two["id"]]


async def test_the_bare_address_opens_the_first_game_however_many_are_loaded(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host = headless_host("Front door", "--idle-unload", "0")
    await create(session, host, "Second")

    async with session.get(host.url) as response:
        bare = await response.text()
    async with session.get(f"{host.url}api/game") as response:
        facts = await response.json()
    async with session.get(f"{host.url}games") as response:
        listed = await response.text()

    assert "/assets/app.js" in bare  # the game page, of the first game
    assert (facts["title"], facts["joinUrl"], facts["games"]) == (
        "Front door",
        host.url,
        "/games",
    )
    assert "/assets/games.js" in listed


async def test_the_game_of_the_command_line_is_never_put_away(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host = headless_host("Front door", "--idle-unload", str(IDLE))
    first = await seat(session, host, None, "Ada")
    game_id = first.frames[-1]["game"]["id"]
    await first.ws.close()

    await asyncio.sleep(IDLE * 2.5)

    # Its printed address and its mDNS listing are what the team was given.
    assert (await games(session, host))[game_id]["loaded"] is True


async def test_a_game_put_away_never_writes_its_old_copy_over_the_new(
    tmp_path: Path,
) -> None:
    store = poker.Store(tmp_path / "games.db")
    host = poker.Host(store, "testhost", many=True, idle_unload=0.2)
    port = await host.start(0, "127.0.0.1")
    game = poker.Game.new("Sprint 9", "testhost")
    host.open_room(game)
    url = f"http://127.0.0.1:{port}/ws?game={game.id}"
    try:
        async with aiohttp.ClientSession() as session:
            ada = Player(await session.ws_connect(url))
            await ada.join("Ada")
            bob = Player(await session.ws_connect(url))
            await bob.join("Bob")
            game.away_timeout = 1  # Bob's seat is given up a second after he left
            await bob.ws.close()
            await ada.ws.close()
            await asyncio.sleep(0.5)  # put away after 0.2 s with nobody there
            assert game.id not in host.rooms
            back = Player(await session.ws_connect(url))
            await back.join("Ada", token=ada.token)
            await back.send(poker.Msg.SET_STORY, story="After the break")
            await back.expect(poker.Msg.STATE)

            await asyncio.sleep(1.5)  # Bob's time is up: in the live copy only

            assert store.load(game.id).story == "After the break"
            assert host.rooms[game.id].game.story == "After the break"
    finally:
        await host.stop()
        store.close()


async def test_resume_brings_back_the_game_of_the_command_line(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host = headless_host("Front door")
    side = await create(session, host, "Side game")
    ada = await seat(session, host, side["id"], "Ada")  # the latest changed
    await ada.ws.close()
    host.stop()

    again = headless_host(None, "--resume", port=host.port, data_dir=host.data_dir)

    assert 'Hosting "Front door"' in again.stdout_lines()[0]


async def test_another_games_join_address_names_it(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host = headless_host("Front door", "--idle-unload", "0")

    made = await create(session, host, "Second")  # the only game other than one

    assert made["joinUrl"] == f"{host.url}?game={made['id']}"


async def wait_unloaded(
    session: aiohttp.ClientSession, host: Host, game_id: str, within: float
) -> float:
    """Poll GET /api/games until the game is put away; the seconds it took."""
    began = time.monotonic()
    while time.monotonic() - began < within:
        if not (await games(session, host))[game_id]["loaded"]:
            return time.monotonic() - began
        await asyncio.sleep(0.1)
    pytest.fail(f"game {game_id} still loaded after {within} s")


async def unloading_game(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> tuple[Host, dict[str, Any], list[Player]]:
    """A host that puts games away after IDLE, a new game on it, Ada and Bob
    seated there."""
    host = headless_host("Front door", "--idle-unload", str(IDLE))
    made = await create(session, host, "Sprint 9")
    players = [await seat(session, host, made["id"], n) for n in ("Ada", "Bob")]
    return host, made, players


async def test_an_idle_game_is_put_away_and_comes_back_as_it_was(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host, made, (ada, bob) = await unloading_game(headless_host, session)
    await ada.send(poker.Msg.SET_STORY, story="Login page")
    await bob.send(poker.Msg.VOTE, card="5")
    await bob.catch_up()
    await ada.ws.close()
    await bob.ws.close()

    took = await wait_unloaded(session, host, made["id"], IDLE + 5)
    async with session.get(f"{host.url}api/game?game={made['id']}") as response:
        facts = await response.json()  # answered from the store
    still_away = not (await games(session, host))[made["id"]]["loaded"]
    back = await seat(session, host, made["id"], "Bob", token=bob.token)

    assert took <= IDLE + 2
    assert facts["title"] == "Sprint 9"
    assert still_away  # asking about it did not load it
    assert back.seat == bob.seat
    assert back.frames[-1]["you"]["vote"] == "5"
    assert back.frames[-1]["game"]["story"] == "Login page"
    assert (await games(session, host))[made["id"]]["loaded"] is True


async def test_a_running_timer_reveals_at_zero_though_everyone_left(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host, made, (ada, bob) = await unloading_game(headless_host, session)
    await ada.send(poker.Msg.SET_AUTO_REVEAL, on=False)  # the timer decides
    await ada.send(poker.Msg.START_TIMER, seconds=poker.MIN_TIMER)
    await bob.send(poker.Msg.VOTE, card="5")
    await bob.catch_up()
    while (timer := (await ada.expect(poker.Msg.STATE))["game"]["timer"]) is None:
        pass  # the auto-reveal's state came first
    ends = timer["ends"]
    await ada.ws.close()
    await bob.ws.close()

    await wait_unloaded(session, host, made["id"], poker.MIN_TIMER + IDLE + 5)
    back = await seat(session, host, made["id"], "Ada", token=ada.token)

    history = back.frames[-1]["game"]["history"]
    assert len(history) == 1
    assert ends <= history[0]["revealed"] < ends + 1.5


async def test_a_game_with_someone_connected_stays_loaded(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host = headless_host("Front door", "--idle-unload", str(IDLE))
    made = await create(session, host, "Busy")
    ada = await seat(session, host, made["id"], "Ada")
    await ada.catch_up()

    await asyncio.sleep(IDLE * 2.5)

    assert (await games(session, host))[made["id"]]["loaded"] is True
    assert await ada.next_is_pong()


async def test_an_unknown_game_is_404_and_loads_nothing(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host = headless_host("Front door")

    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await session.ws_connect(f"{host.url}ws?game=nosuchgame")

    assert refused.value.status == 404
    assert len(await games(session, host)) == 1


# --- with real mDNS between two namespaces ---------------------------------

#: Holds sockets at games from the other namespace: argv is the host's base
#: URL, then GAME_ID=SECONDS pairs (how long to stay at each game).
HOLDER = """
import asyncio, json, sys, aiohttp
async def stay(session, base, game, seconds):
    ws = await session.ws_connect(f"{base}ws?game={game}")
    await ws.send_str(json.dumps({"type": "join", "name": "holder"}))
    await ws.receive(10)
    print("joined", game, flush=True)
    await asyncio.sleep(float(seconds))
    await ws.close()
    print("left", game, flush=True)
async def main():
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(stay(session, sys.argv[1], *a.split("="))
                               for a in sys.argv[2:]))
asyncio.run(main())
"""


def post_from(pair: NetnsPair, host: Host, title: str) -> str:
    """Create a game from namespace B over HTTP; its id."""
    answer = pair.b.check_output(
        [
            sys.executable,
            "-c",
            "import sys, json, urllib.request as u;"
            "r = u.Request(sys.argv[1], data=json.dumps({'title': sys.argv[2]})"
            ".encode(), headers={'Content-Type': 'application/json'});"
            "print(u.urlopen(r, timeout=5).read().decode())",
            f"{host.url}api/games",
            title,
        ]  # fmt: skip
    )
    return json.loads(answer)["id"]


def test_two_games_of_one_host_are_listed_by_title_and_an_unloaded_one_leaves(
    netns_pair: NetnsPair,
    headless_host: Callable[..., Host],
    poker: Callable[..., Proc],
    spawn: Callable[..., Proc],
) -> None:
    host = headless_host("Alpha", "--idle-unload", "2", netns=netns_pair.a)
    alpha = json.loads(
        netns_pair.b.check_output(
            [
                sys.executable,
                "-c",
                "import sys, urllib.request as u;"
                "print(u.urlopen(sys.argv[1], timeout=5).read().decode())",
                f"{host.url}api/game",
            ]  # fmt: skip
        )
    )["id"]
    beta = post_from(netns_pair, host, "Beta")
    holder = spawn(
        [sys.executable, "-c", HOLDER, host.url, f"{alpha}=120", f"{beta}=6"],
        netns=netns_pair.b,
        name="holder",
    )
    holder.expect("joined")
    holder.expect("joined")
    watch = poker("--list", "--watch", "60", netns=netns_pair.b, name="watch")
    seen = {watch.expect(r"^\+ (Alpha|Beta)\t", 10).match.group(1) for _ in "ab"}

    listing = poker("--list", netns=netns_pair.b, name="list")
    assert listing.wait(10) == 0
    holder.expect("left", timeout=10)
    gone = watch.expect(r"^- (Alpha|Beta)\t", timeout=10)

    assert seen == {"Alpha", "Beta"}
    assert sorted(line.split("\t")[0] for line in listing.stdout_lines()) == [
        "Alpha",
        "Beta",
    ]
    assert all(f"?game={g}" in watch.stdout_lines()[0] + watch.stdout_lines()[1]
               for g in (alpha, beta))  # fmt: skip
    assert gone.match.group(1) == "Beta"  # put away 2 s after its last player
    assert gone.at - holder.lines[-1][0] < 2 + 3


@pytest.mark.parametrize(
    "seconds",
    [
        "-1",  # before now: every game would be put away at once
        "nan",  # float() reads it, and every comparison with it is false
        "inf",  # float() reads it too; "never" is spelt 0
    ],
)
def test_an_idle_time_below_0_or_not_finite_is_refused_in_one_sentence(
    tmp_path: Path, seconds: str
) -> None:
    done = subprocess.run(
        [sys.executable, str(POKER), "--headless", "--no-discovery"]
        + ["--bind", "127.0.0.1", "--idle-unload", seconds]
        + ["--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )

    assert done.returncode == 2
    assert done.stderr == "--idle-unload takes seconds, 0 or more (0: never).\n"


async def test_a_stored_game_exports_and_shows_its_qr_without_loading(
    headless_host: Callable[..., Host], session: aiohttp.ClientSession
) -> None:
    host = headless_host("Front door", "--idle-unload", str(IDLE))
    made = await create(session, host, "Sprint 9")
    ada = await seat(session, host, made["id"], "Ada")
    await ada.send(poker.Msg.SET_STORY, story="Login page")
    await ada.send(poker.Msg.VOTE, card="5")
    await ada.catch_up()
    await ada.ws.close()
    await wait_unloaded(session, host, made["id"], IDLE + 5)

    async with session.get(f"{host.url}api/export?game={made['id']}") as response:
        export = (response.status, await response.read())
    async with session.get(f"{host.url}qr.svg?game={made['id']}") as response:
        qr = (response.status, response.content_type)

    assert export[0] == 200
    assert export[1].decode("utf-8-sig").splitlines()[1] == ",Login page,,5,5,no,1,5"
    assert qr == (200, "image/svg+xml")
    assert not (await games(session, host))[made["id"]]["loaded"]
