"""Crash safety: a real `poker.py --headless` SIGKILLed at random points of
a scripted three-player session, again and again, and resumed each time on
the same port. Nothing acknowledged may be lost, nothing may count twice,
and every player gets their own seat back."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import poker
from conftest import pick_free_port
from players import Door, Player

M = poker.Msg

SEED = 20240604
KILLS = 100
CARDS = ("1", "2", "3", "5", "8", "13")

pytestmark = pytest.mark.timeout(600)


@dataclasses.dataclass
class Model:
    """What the players were told: the acknowledged game."""

    story: str = ""
    round: int = 1
    revealed: bool = False
    votes: dict[str, str | None] = dataclasses.field(default_factory=dict)
    history: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Step:
    """One message, who sends it, and what it does once acknowledged."""

    sender: int
    kind: str
    fields: dict[str, Any]
    apply: Callable[[Model], None]
    acked: Callable[[dict[str, Any]], bool]


def next_step(rng: random.Random, model: Model, players: list[Player]) -> Step:
    """A step the rules accept in the state the model is in."""
    choices = ["story", "round"]
    if not model.revealed:
        choices += ["vote"] * 4
        if any(v is not None for v in model.votes.values()):
            choices.append("reveal")
    kind = rng.choice(choices)
    if kind == "vote":
        sender = rng.randrange(len(players))
        seat = players[sender].seat or ""
        card = rng.choice([*CARDS, None])

        def vote(m: Model) -> None:
            m.votes[seat] = card

        return Step(sender, M.VOTE, {"card": card}, vote, lambda f: f["type"] == M.YOU)
    if kind == "reveal":

        def reveal(m: Model) -> None:
            m.revealed = True
            m.history.append(m.round)

        return Step(
            0, M.REVEAL, {}, reveal, lambda f: f.get("game", {}).get("revealed")
        )
    story = f"PROJ-{rng.randrange(10_000)}"
    if kind == "story":

        def set_story(m: Model) -> None:
            m.story = story

        return Step(
            0,
            M.SET_STORY,
            {"story": story},
            set_story,
            lambda f: f.get("game", {}).get("story") == story,
        )
    expected = model.round + 1

    def new_round(m: Model) -> None:
        m.story, m.round, m.revealed = story, m.round + 1, False
        m.votes = dict.fromkeys(m.votes)

    return Step(
        0,
        M.NEW_ROUND,
        {"story": story},
        new_round,
        lambda f: f.get("game", {}).get("round") == expected,
    )


async def acknowledged(player: Player, step: Step) -> None:
    """Read the sender's frames until the one that acknowledges *step*."""
    while not ((got := await player.receive())["type"] != M.ERROR and step.acked(got)):
        assert got["type"] != M.ERROR, got


def seen(states: list[dict[str, Any]], players: list[Player]) -> Model:
    """The model as the players find the game after they came back."""
    game = states[0]["game"]
    return Model(
        story=game["story"],
        round=game["round"],
        revealed=game["revealed"],
        votes={
            p.seat or "": s["you"]["vote"] for p, s in zip(players, states, strict=True)
        },
    )


def stored_history(data_dir: Path) -> list[int]:
    """The revealed rounds on disk, read while no host runs."""
    store = poker.Store(data_dir / "games.db")
    try:
        (game_id,) = [g["id"] for g in store.recent()]
        return [r["round"] for r in store.load(game_id).history]
    finally:
        store.close()


async def test_sigkill_at_random_points_loses_nothing_acknowledged(
    headless_host: Callable[..., Any], tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    port = pick_free_port()
    data_dir = tmp_path / "host"
    names = ("Ada", "Bob", "Cyd")
    host = headless_host("Crash", port=port, data_dir=data_dir)
    startups: list[float] = []
    in_flight_applied = 0
    async with aiohttp.ClientSession() as session:
        door = Door(session, f"http://127.0.0.1:{port}/")
        players = await door.seated(*names)
        await players[0].send(M.SET_AUTO_REVEAL, on=False)  # reveals are steps
        await players[0].expect(M.STATE)
        model = Model(votes=dict.fromkeys(p.seat or "" for p in players))

        for _ in range(KILLS):
            for _ in range(rng.randrange(5)):
                step = next_step(rng, model, players)
                await players[step.sender].send(step.kind, **step.fields)
                await acknowledged(players[step.sender], step)
                step.apply(model)
            pending = next_step(rng, model, players)
            if rng.random() < 0.8:  # else the kill finds the host idle
                await players[pending.sender].send(pending.kind, **pending.fields)
                await asyncio.sleep(rng.uniform(0, 0.004))
            host.kill()
            for player in players:
                await player.ws.close()
            history = stored_history(data_dir)
            began = time.monotonic()
            host = headless_host(None, "--resume", port=port, data_dir=data_dir)
            startups.append(time.monotonic() - began)

            states = []
            for player, name in zip(players, names, strict=True):
                back = await door.connect()
                states.append(await back.join(name, token=player.token))
                assert back.seat == player.seat, "a player lost their seat"
                player.ws, player.frames = back.ws, back.frames
            for player in players:
                await player.catch_up()

            after = copy.deepcopy(model)
            pending.apply(after)
            found = seen(states, players)
            # The revealed rounds on disk: each once, none lost.
            found.history = history
            assert found in (model, after), (found, model, pending.kind)
            in_flight_applied += found == after != model
            game = states[-1]["game"]
            assert [s["id"] for s in game["seats"]] == [p.seat for p in players]
            assert game["facilitator"] == players[0].seat
            model = found

    startups.sort()
    print(
        f"{KILLS} kills; startup median {startups[len(startups) // 2]:.2f} s, "
        f"max {startups[-1]:.2f} s; in-flight change kept {in_flight_applied} times"
    )
    assert model.round > 1
