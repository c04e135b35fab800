"""Property-based tests (hypothesis): random message sequences from several
players, at the rules level (fast, many runs) and over real sockets (fewer).
After every step: no vote value has reached another player before the
reveal; one seat per token; the stored game equals the live one."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import poker
from players import Player, hosting

M = poker.Msg
DEVICES = 4
#: Values a message field may take: valid cards and junk of every kind.
VALUES = st.one_of(
    st.sampled_from([*poker.DECKS["fibonacci"], "XL", "voter", "observer", "tshirt"]),
    st.none(),
    st.booleans(),
    st.integers(-5, 700_000),
    st.text(max_size=60),
    st.lists(st.integers(), max_size=2),
)
KINDS = sorted(
    {
        M.JOIN,
        M.VOTE,
        M.REVEAL,
        M.NEW_ROUND,
        M.SET_STORY,
        M.SET_DECK,
        M.SET_ROLE,
        M.SET_AUTO_REVEAL,
        M.REMOVE,
        M.SET_AWAY_TIMEOUT,
        "leave",
        "expire",
    }
)
#: A step: which device, what it does, with a valid value or with junk.
STEPS = st.lists(
    st.tuples(
        st.integers(0, DEVICES - 1),
        st.sampled_from(KINDS),
        st.one_of(st.integers(0, 11), VALUES.map(lambda junk: ("junk", junk))),
    ),
    max_size=40,
)


def valid_value(kind: str, n: int, seats: dict[int, str]) -> Any:
    """A value the rules accept for *kind* (when the sender may act)."""
    return {
        M.VOTE: poker.DECKS["fibonacci"][n] if n < 11 else None,
        M.NEW_ROUND: f"Story {n}",
        M.SET_STORY: f"Story {n}",
        M.SET_DECK: sorted(poker.DECKS)[n % 4],
        M.SET_ROLE: poker.ROLES[n % 3 // 2],  # voters twice as often
        M.SET_AUTO_REVEAL: n % 2 == 0,
        M.SET_AWAY_TIMEOUT: (0, 30, 600)[n % 3],
        M.REMOVE: seats.get(n % DEVICES, "nobody"),
        M.JOIN: poker.ROLES[n % 3 // 2],
    }.get(kind)


def snapshot(game: poker.Game) -> dict[str, Any]:
    """Everything stored of a game (not who is connected right now)."""
    return {
        "game": {
            k: v
            for k, v in vars(game).items()
            if k not in ("seats", "history", "round_started")
        },
        "seats": [
            (s.id, s.token, s.name, s.role, s.vote, s.joined, s.away_since)
            for s in game.seats.values()
        ],
        "history": json.loads(json.dumps(game.history)),
    }


def check_invariants(game: poker.Game, store: poker.Store) -> None:
    """The three properties, on the game as it is now."""
    public = game.public()
    if not game.revealed:
        assert all(seat["vote"] is None for seat in public["seats"]), public
    for seat in game.seats.values():
        assert game.you(seat.id)["vote"] == seat.vote
    tokens = [s.token for s in game.seats.values()]
    assert len(tokens) == len(set(tokens)), "two seats share a token"
    assert snapshot(store.load(game.id)) == snapshot(game)


def apply(
    game: poker.Game,
    seats: dict[int, str],
    device: int,
    kind: str,
    arg: Any,
    now: float,
) -> poker.Change:
    """One step by one device; Refused when the rules say no."""
    me = seats.get(device, "nobody")
    value = arg[1] if isinstance(arg, tuple) else valid_value(kind, arg, seats)
    if kind == M.JOIN:
        token = game.seats[me].token if me in game.seats else None
        seat, change = game.join(
            f"P{device}", token, value if value in poker.ROLES else None
        )
        assert seats.setdefault(device, seat.id) == seat.id or me not in game.seats
        seats[device] = seat.id
        return change
    if kind == "leave":
        return (
            game.set_connected(me, False, now) if me in game.seats else poker.Change()
        )
    if kind == "expire":
        return game.expire(now)
    if kind == M.REMOVE:
        return game.remove(me, value)
    handler = poker.HANDLERS[kind]
    field = {
        M.VOTE: "card",
        M.NEW_ROUND: "story",
        M.SET_STORY: "story",
        M.SET_DECK: "deck",
        M.SET_ROLE: "role",
        M.SET_AUTO_REVEAL: "on",
        M.SET_AWAY_TIMEOUT: "seconds",
    }.get(kind)
    return handler(game, me, {"type": kind, **({field: value} if field else {})})


@settings(max_examples=150, deadline=None)
@given(steps=STEPS)
def test_random_sequences_keep_the_rules_properties(
    steps: list[tuple[int, str, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = poker.Store(Path(folder) / "g.db")
        try:
            game = poker.Game.new("Props")
            game.away_timeout = 30
            store.save(game)
            seats: dict[int, str] = {}
            now = 1_000_000.0
            seated = [(device, M.JOIN, 0) for device in range(DEVICES)]
            for device, kind, value in seated + steps:
                now += 7.0
                before = snapshot(game)
                try:
                    change = apply(game, seats, device, kind, value, now)
                except poker.Refused:
                    assert snapshot(game) == before, "a refused step changed the game"
                else:
                    store.save(game, change)
                check_invariants(game, store)
        finally:
            store.close()


# ---------------------------------------------------------------- over sockets


RAW = st.one_of(
    st.builds(
        lambda kind, value: json.dumps({"type": kind, "card": value, "story": value}),
        st.sampled_from([M.VOTE, M.REVEAL, M.NEW_ROUND, M.SET_STORY, "nope"]),
        VALUES,
    ),
    st.builds(lambda card: json.dumps({"type": M.VOTE, "card": card}), VALUES),
    st.text(max_size=20),  # not JSON at all, most of the time
)
SOCKET_STEPS = st.lists(
    st.tuples(st.integers(0, 2), st.one_of(st.just("reconnect"), RAW)), max_size=15
)


def leaked_votes(player: Player, own_cards: set[Any]) -> list[str]:
    """Frames that showed this player a card not theirs before a reveal."""
    leaks, revealed = [], False
    for raw, got in zip(player.raw, player.frames, strict=True):
        if got["type"] == M.STATE:
            revealed = got["game"]["revealed"]
            seats = got["game"]["seats"]
        elif got["type"] == M.SEAT:
            seats = [got["seat"]]
        elif got["type"] == M.YOU:
            if got["vote"] not in own_cards | {None}:
                leaks.append(raw)
            continue
        else:
            continue
        if not revealed and any(s["vote"] is not None for s in seats):
            leaks.append(raw)
    return leaks


async def play_over_sockets(folder: Path, steps: list[tuple[int, str]]) -> None:
    """Three players send the steps; the properties hold after each."""
    async with hosting(folder / "g.db") as table:
        players = await table.seated("Ada", "Bob", "Cyd")
        names = ["Ada", "Bob", "Cyd"]
        sent: list[set[Any]] = [set(), set(), set()]
        for index, step in steps:
            player = players[index]
            if step == "reconnect":
                await player.ws.close()
                back = await table.connect()
                await back.join(names[index], token=player.token)
                assert back.seat == player.seat
                back.frames[:0], back.raw[:0] = player.frames, player.raw
                players[index] = player = back
            else:
                card = json.loads(step).get("card") if step.startswith("{") else None
                sent[index].add(card if isinstance(card, str) else None)
                await player.ws.send_str(step)
            for each in players:
                await each.catch_up()
            for each, own in zip(players, sent, strict=True):
                assert not leaked_votes(each, own)
            tokens = [s.token for s in table.game.seats.values()]
            assert len(tokens) == len(set(tokens)) == 3
            assert snapshot(table.stored()) == snapshot(table.game)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps=SOCKET_STEPS)
def test_random_messages_over_sockets_keep_the_properties(
    steps: list[tuple[int, str]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(play_over_sockets(Path(folder), steps))
