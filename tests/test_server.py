"""The host over a real socket: a real aiohttp server on 127.0.0.1 and real
websocket clients, no mocks and no mDNS (the Host has no advertiser)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode

import poker
from players import Player, Table, hosting, leaves

M = poker.Msg


@pytest.fixture
async def table(tmp_path: Path) -> AsyncIterator[Table]:
    """A host serving one game, stopped at the end of the test."""
    async with hosting(tmp_path / "g.db") as served:
        yield served


def cards_seen(frames: list[dict[str, Any]]) -> set[Any]:
    """Every leaf value in *frames* except the deck's list of cards."""
    seen = set()
    for got in frames:
        game = got.get("game")
        if isinstance(game, dict):
            game = {key: value for key, value in game.items() if key != "deck"}
        for _, value in leaves({**got, "game": game}):
            seen.add(value)
    return seen


async def play(players: list[Player], cards: list[str]) -> list[dict[str, Any]]:
    """Each player votes its card; the revealed game as each one sees it."""
    for player, card in zip(players, cards, strict=True):
        await player.send(M.VOTE, card=card)
    return [(await player.expect(M.STATE))["game"] for player in players]


# ---------------------------------------------------------------- a round


async def test_three_players_play_a_full_round(table: Table) -> None:
    players = await table.seated("Ada", "Bob", "Cyd")

    revealed = await play(players, ["3", "8", "8"])

    for game in revealed:
        assert game["revealed"]
        assert [s["vote"] for s in game["seats"]] == ["3", "8", "8"]
        assert game["result"] == revealed[0]["result"]
    assert revealed[0]["result"]["mode"] == ["8"]
    assert revealed[0]["result"]["median"] == 8


async def test_a_new_round_reaches_every_player_with_no_cards(table: Table) -> None:
    players = await table.seated("Ada", "Bob", "Cyd")
    await play(players, ["3", "8", "8"])

    await players[0].send(M.NEW_ROUND, story="PROJ-2 export")

    for player in players:
        state = await player.expect(M.STATE)
        assert (state["game"]["round"], state["game"]["story"]) == (2, "PROJ-2 export")
        assert not state["game"]["revealed"]
        assert [s["vote"] for s in state["game"]["seats"]] == [None, None, None]
        assert state["you"]["vote"] is None


async def test_no_frame_before_the_reveal_carries_another_players_card(
    table: Table,
) -> None:
    players = await table.seated("Ada", "Bob", "Cyd", "Dan")
    cards = ["34", "55", "89"]  # one distinctive card each; Dan does not vote
    for player, card in zip(players, cards, strict=False):
        await player.send(M.VOTE, card=card)
        await player.send(M.VOTE, card=None)  # taken back ...
        await player.send(M.VOTE, card=card)  # ... and placed again

    for player in players:
        await player.catch_up()

    assert not table.game.revealed
    for player, own in zip(players, [*cards, None], strict=True):
        others = set(cards) - {own}
        assert not others & cards_seen(player.frames), player.raw
        votes = {value for key, value in leaves(player.frames) if key == "vote"}
        assert votes <= {None, own}, player.raw


async def test_your_own_you_frame_carries_your_card(table: Table) -> None:
    ada, bob = await table.seated("Ada", "Bob")

    await bob.send(M.VOTE, card="13")

    assert await bob.expect(M.YOU) == {"type": M.YOU, "vote": "13"}


async def test_others_learn_only_that_you_voted(table: Table) -> None:
    ada, bob = await table.seated("Ada", "Bob")

    await bob.send(M.VOTE, card="13")

    seat = (await ada.expect(M.SEAT))["seat"]
    assert (seat["id"], seat["voted"], seat["vote"]) == (bob.seat, True, None)
    assert await ada.next_is_pong()


# ---------------------------------------------------------------- bad input

BAD_JSON = '{"type": "vote", "card": '


@pytest.mark.parametrize(
    ("sender", "payload", "code"),
    [
        ("bob", BAD_JSON, "bad_json"),  # cut off mid-object
        ("bob", "[1, 2]", "bad_message"),  # a JSON array, not an object
        ("bob", '"vote"', "bad_message"),  # a bare JSON string
        ("bob", '{"card": "5"}', "bad_message"),  # no type at all
        ("bob", '{"type": 5}', "bad_message"),  # a type that is not text
        ("bob", '{"type": "shout"}', "unknown_type"),  # a type nobody knows
        ("bob", '{"type": "vote"}', "bad_message"),  # vote with no card field
        ("bob", '{"type": "set_role", "role": 7}', "bad_message"),  # role not text
        ("bob", '{"type": "join", "name": "Bob"}', "bad_message"),  # joined twice
        ("ada", '{"type": "set_auto_reveal", "on": "yes"}', "bad_message"),  # not bool
        ("ada", '{"type": "set_story", "story": 5}', "bad_message"),  # story not text
        ("ada", '{"type": "set_deck", "deck": "tarot"}', "bad_message"),  # no such deck
        ("stranger", '{"type": "join", "name": 42}', "bad_message"),  # name not text
        ("stranger", '{"type": "join", "name": ""}', "bad_message"),  # empty name
        ("stranger", '{"type": "vote", "card": "5"}', "not_joined"),  # vote before join
        ("bob", b'{"type": "ping"}', "binary"),  # a binary frame
        ("bob", '{"type": "vote", "card": "4"}', "bad_card"),  # not in the deck
        ("bob", '{"type": "reveal"}', "not_allowed"),  # facilitator action
        ("bob", '{"type": "set_story", "story": "X"}', "not_allowed"),  # same
        ("bob", '{"type": "new_round"}', "not_allowed"),  # same
    ],
)
async def test_bad_input_gets_an_error_to_its_sender_only(
    table: Table, sender: str, payload: str | bytes, code: str
) -> None:
    ada, bob = await table.seated("Ada", "Bob")
    await bob.send(M.VOTE, card="5")
    stranger = await table.connect()
    players = {"ada": ada, "bob": bob, "stranger": stranger}
    for player in (ada, bob):
        await player.catch_up()
    before = table.stored()

    ws = players[sender].ws
    await (
        ws.send_bytes(payload) if isinstance(payload, bytes) else ws.send_str(payload)
    )

    error = await players[sender].receive()
    assert (error["type"], error["code"]) == (M.ERROR, code)
    assert isinstance(error["message"], str)
    assert error["message"]
    for name, player in players.items():
        if name != sender:
            assert await player.next_is_pong(), f"{name} was sent {player.raw[-1]}"
    assert table.stored() == before


async def test_a_join_with_a_token_that_is_not_ascii_still_seats_the_player(
    table: Table,
) -> None:
    (ada,) = await table.seated("Ada")
    eve = await table.connect()

    state = await eve.join("Eve", token="jeton-é")

    assert eve.seat != ada.seat
    assert len(state["game"]["seats"]) == 2


async def test_an_error_names_the_refused_message_type(table: Table) -> None:
    ada, bob = await table.seated("Ada", "Bob")

    await bob.send(M.VOTE, card="4")

    assert (await bob.expect(M.ERROR))["ref"] == M.VOTE


async def test_a_frame_over_64_kib_closes_that_socket_with_1009(table: Table) -> None:
    ada, bob, cyd = await table.seated("Ada", "Bob", "Cyd")
    huge = json.dumps({"type": M.SET_STORY, "story": "x" * poker.MAX_FRAME})

    await bob.ws.send_str(huge)

    assert await bob.closed() == WSCloseCode.MESSAGE_TOO_BIG
    await cyd.send(M.VOTE, card="5")
    assert await cyd.expect(M.YOU) == {"type": M.YOU, "vote": "5"}
    gone = (await ada.expect(M.SEAT))["seat"]
    assert (gone["id"], gone["connected"]) == (bob.seat, False)


async def test_a_frame_of_exactly_64_kib_is_read(table: Table) -> None:
    (ada,) = await table.seated("Ada")
    story = "x" * (poker.MAX_FRAME - len('{"type":"set_story","story":""}'))
    exact = json.dumps({"type": M.SET_STORY, "story": story}, separators=(",", ":"))
    assert len(exact.encode()) == poker.MAX_FRAME

    await ada.ws.send_str(exact)

    error = await ada.expect(M.ERROR)  # too long for a story, but read
    assert (error["code"], error["ref"]) == ("bad_message", M.SET_STORY)


# ---------------------------------------------------------------- origin


async def test_a_socket_from_another_sites_page_is_refused_before_the_upgrade(
    table: Table,
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await table.connect(headers={"Origin": "http://evil.example"})

    assert refused.value.status == 403
    assert table.room.clients == set()


async def test_a_socket_from_the_hosts_own_page_is_accepted(table: Table) -> None:
    origin = table.url.rstrip("/")

    player = await table.connect(headers={"Origin": origin})

    state = await player.join("Ada")
    assert state["game"]["title"] == "Sprint 42"


# ---------------------------------------------------------------- seats come back


async def with_bobs_card(table: Table, card: str) -> tuple[Player, Player]:
    """Ada and Bob seated, Bob's card placed, and both told of it."""
    ada, bob = await table.seated("Ada", "Bob")
    await bob.send(M.VOTE, card=card)
    await bob.expect(M.YOU)
    await ada.catch_up()
    return ada, bob


async def test_reconnecting_with_the_token_gives_back_the_seat_and_card(
    table: Table,
) -> None:
    ada, bob = await with_bobs_card(table, "21")
    await bob.ws.close()
    assert (await ada.expect(M.SEAT))["seat"]["connected"] is False

    again = await table.connect()
    state = await again.join("Bob", token=bob.token)

    assert again.seat == bob.seat
    assert state["you"] == {"seat": bob.seat, "vote": "21"}
    assert len(state["game"]["seats"]) == 2
    back = (await ada.expect(M.SEAT))["seat"]
    assert (back["id"], back["connected"], back["voted"]) == (bob.seat, True, True)


async def test_a_second_socket_with_the_same_token_takes_the_seat_over(
    table: Table,
) -> None:
    ada, bob = await with_bobs_card(table, "21")

    window = await table.connect()
    state = await window.join("Bob", token=bob.token)

    assert (window.seat, state["you"]["vote"]) == (bob.seat, "21")
    error = await bob.expect(M.ERROR)
    assert error["code"] == "taken_over"
    assert await bob.closed() is not None
    assert bob.ws.closed


async def test_a_seat_taken_over_stays_connected(table: Table) -> None:
    ada, bob = await table.seated("Ada", "Bob")
    window = await table.connect()
    await window.join("Bob", token=bob.token)

    await bob.closed()

    await window.catch_up()
    assert table.game.seats[bob.seat or ""].connected
    assert len(table.game.seats) == 2


# ---------------------------------------------------------------- stopping


async def test_stopping_the_host_says_goodbye_and_closes_with_1001(
    table: Table,
) -> None:
    players = await table.seated("Ada", "Bob", "Cyd")

    await table.host.stop()

    for player in players:
        assert await player.closed() == WSCloseCode.GOING_AWAY
        assert player.frames[-1] == {
            "type": M.GOODBYE,
            "reason": "The host closed the game.",
        }


async def test_stopping_the_host_keeps_the_cards_of_an_open_round_hidden(
    table: Table,
) -> None:
    # The host closes a game's sockets in no fixed order, and the round
    # reveals when the voter who has not voted goes before the others: in
    # 4 of 5 orders here. Eight games make it all but certain to be seen.
    table.host.max_per_address = 40  # all 40 players come from 127.0.0.1
    games = [table.host.open_room(poker.Game.new(f"Game {n}")).game for n in range(8)]
    players = []
    for game in games:
        seated = [await table.connect(params={"game": game.id}) for _ in range(5)]
        for n, player in enumerate(seated):
            await player.join(f"Player {n}")
        for player in seated[:4]:  # the fifth has not voted
            await player.send(M.VOTE, card="5")
        players += seated
    for player in players:
        await player.catch_up()

    await table.host.stop()

    for player in players:
        await player.closed()
    stored = [table.host.store.load(game.id) for game in games]
    assert [(game.revealed, game.history) for game in stored] == [(False, [])] * 8


# ---------------------------------------------------------------- http


async def test_api_game_gives_the_public_facts(table: Table) -> None:
    players = await table.seated("Ada", "Bob")

    async with table.session.get(f"{table.url}api/game") as response:
        facts = await response.json()

    assert response.status == 200
    port = table.host.port
    assert facts == {
        "id": table.game.id,
        "title": "Sprint 42",
        "host": "testhost",
        "players": 2,
        "protocol": poker.PROTOCOL_VERSION,
        "locked": False,
        "joinUrl": facts["joinUrl"],
        "games": None,  # one game: no list of games to link to
    }
    assert len(players) == 2
    assert facts["joinUrl"].startswith("http://")
    assert facts["joinUrl"].endswith(f":{port}/")


async def test_api_game_of_an_unknown_game_is_404(table: Table) -> None:
    async with table.session.get(f"{table.url}api/game?game=nope") as response:
        body = await response.json()

    assert response.status == 404
    assert "error" in body


async def test_qr_code_is_an_svg_image(table: Table) -> None:
    async with table.session.get(f"{table.url}qr.svg?game={table.game.id}") as response:
        body = await response.text()

    assert response.status == 200
    assert response.content_type == "image/svg+xml"
    assert ET.fromstring(body).tag.rpartition("}")[2] == "svg"


# ---------------------------------------------------------------- removing


async def test_a_removed_player_is_told_why_and_their_socket_closes(
    table: Table,
) -> None:
    ada, bob, cyd = await table.seated("Ada", "Bob", "Cyd")

    await ada.send(M.REMOVE, seat=bob.seat, reason="Wrong team, sorry!")
    removed = await bob.expect(M.REMOVED)
    code = await bob.closed()
    seen_by_cyd = await cyd.expect(M.STATE)

    assert (
        removed["reason"]
        == "The facilitator removed you from the game: Wrong team, sorry!"
    )
    assert code == WSCloseCode.POLICY_VIOLATION
    assert bob.seat not in {s["id"] for s in seen_by_cyd["game"]["seats"]}
    assert bob.seat not in table.stored().seats


async def test_only_the_facilitator_can_remove_a_player(table: Table) -> None:
    ada, bob, cyd = await table.seated("Ada", "Bob", "Cyd")

    await bob.send(M.REMOVE, seat=cyd.seat)
    refused = await bob.expect(M.ERROR)

    assert refused["code"] == "not_allowed"
    assert cyd.seat in table.stored().seats
    assert await cyd.next_is_pong()


async def test_removing_the_last_voter_who_had_not_voted_reveals(table: Table) -> None:
    ada, bob, cyd = await table.seated("Ada", "Bob", "Cyd")
    await ada.send(M.VOTE, card="5")
    await bob.send(M.VOTE, card="8")
    await bob.catch_up()  # both votes are in before the removal

    await ada.send(M.REMOVE, seat=cyd.seat)
    revealed = await bob.expect(M.STATE)

    assert revealed["game"]["revealed"]
    assert revealed["game"]["result"]["mean"] == 6.5
