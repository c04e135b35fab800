"""The game rules (class Game, summarize, clean_text) with no network at all."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

import poker
from players import leaves


def table(*names: str) -> tuple[poker.Game, list[str]]:
    """A fresh game with one connected voter per name; the seat ids in order."""
    game = poker.Game.new("Sprint")
    seats = [game.join(name)[0].id for name in names]
    return game, seats


def voted(game: poker.Game, votes: dict[str, str]) -> poker.Game:
    """The game after each seat in *votes* has placed its card."""
    for seat_id, card in votes.items():
        game.vote(seat_id, card)
    return game


# ---------------------------------------------------------------- joining


def test_first_joiner_gets_a_seat_and_runs_the_table() -> None:
    game = poker.Game.new("Sprint")

    seat, _ = game.join("Ada")

    assert list(game.seats) == [seat.id]
    assert (seat.name, seat.role, seat.connected) == ("Ada", poker.VOTER, True)
    assert game.facilitator == seat.id


def test_later_joiner_does_not_take_the_facilitator_role() -> None:
    game, (ada,) = table("Ada")

    bob, _ = game.join("Bob")

    assert game.facilitator == ada
    assert bob.id != ada


def test_two_players_with_the_same_name_get_two_seats() -> None:
    game = poker.Game.new("Sprint")

    first, _ = game.join("Sam")
    second, _ = game.join("Sam")

    assert first.id != second.id
    assert first.token != second.token
    assert [s.name for s in game.seats.values()] == ["Sam", "Sam"]


def test_rejoin_with_the_token_gives_the_same_seat_and_card_back() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.vote(bob, "8")
    game.set_connected(bob, False)
    token = game.seats[bob].token

    seat, _ = game.join("Bob again", token=token)

    assert seat.id == bob
    assert len(game.seats) == 2
    assert (seat.name, seat.connected, seat.vote) == ("Bob again", True, "8")


def test_rejoin_with_a_token_never_adds_a_second_seat() -> None:
    game, (ada,) = table("Ada")
    token = game.seats[ada].token

    for _ in range(3):
        game.join("Ada", token=token)

    assert list(game.seats) == [ada]


def test_join_with_an_unknown_token_gets_a_new_seat() -> None:
    game, (ada,) = table("Ada")

    seat, _ = game.join("Eve", token="not-a-token-of-this-game")

    assert seat.id != ada
    assert len(game.seats) == 2


def test_join_with_a_token_that_is_not_ascii_gets_a_new_seat() -> None:
    game, (ada,) = table("Ada")

    seat, _ = game.join("Eve", token="jeton-é")

    assert seat.id != ada


@pytest.mark.parametrize(
    ("name", "token", "role"),
    [
        ("", None, None),  # empty name
        ("x" * 41, None, None),  # name over 40 characters
        (42, None, None),  # name that is not text
        ("Ada", 42, None),  # token that is not text
        ("Ada", None, "boss"),  # role that does not exist
    ],
)
def test_join_with_bad_fields_is_refused_and_seats_nobody(
    name: Any, token: Any, role: Any
) -> None:
    game, _ = table("Ada")
    before = copy.deepcopy(game)

    with pytest.raises(poker.Refused) as refused:
        game.join(name, token=token, role=role)

    assert refused.value.code == "bad_message"
    assert game == before


# ---------------------------------------------------------------- voting


@pytest.mark.parametrize(
    ("cards", "expected"),
    [
        (["5"], "5"),  # a first vote
        (["5", "13"], "13"),  # a changed vote: the last card counts
        (["5", None], None),  # a vote taken back
    ],
)
def test_a_voter_places_changes_and_takes_back_a_card(
    cards: list[str | None], expected: str | None
) -> None:
    game, (ada, _bob) = table("Ada", "Bob")

    for card in cards:
        game.vote(ada, card)

    assert game.seats[ada].vote == expected
    assert not game.revealed


def _observer(game: poker.Game, seat_id: str) -> None:
    """Make the seat an observer."""
    game.set_role(seat_id, poker.OBSERVER)


def _revealed(game: poker.Game, seat_id: str) -> None:
    """Vote with the seat and have the facilitator turn the cards over."""
    game.vote(seat_id, "5")
    game.reveal(game.facilitator or "")


@pytest.mark.parametrize(
    ("prepare", "card", "code"),
    [
        (None, "4", "bad_card"),  # a card the Fibonacci deck does not have
        (None, "XL", "bad_card"),  # a card of another deck
        (None, 5, "bad_card"),  # a number, not the card's text
        (_observer, "5", "not_allowed"),  # an observer does not vote
        (_revealed, "8", "revealed"),  # the cards are already turned over
        (_revealed, None, "revealed"),  # nor can a vote be taken back then
    ],
)
def test_a_refused_vote_names_the_reason_and_changes_nothing(
    prepare: Any, card: Any, code: str
) -> None:
    game, (ada, bob) = table("Ada", "Bob")
    if prepare is not None:
        prepare(game, ada)
    before = copy.deepcopy(game)

    with pytest.raises(poker.Refused) as refused:
        game.vote(ada, card)

    assert refused.value.code == code
    assert game == before


def test_a_vote_from_a_seat_that_never_joined_is_refused() -> None:
    game, _ = table("Ada")

    with pytest.raises(poker.Refused) as refused:
        game.vote("nobody", "5")

    assert refused.value.code == "not_joined"


# ---------------------------------------------------------------- reveal


def test_the_cards_turn_over_when_every_connected_voter_voted() -> None:
    game, (ada, bob, cyd) = table("Ada", "Bob", "Cyd")
    voted(game, {ada: "3", bob: "5"})

    game.vote(cyd, "8")

    assert game.revealed
    assert game.result() is not None


def test_the_cards_stay_hidden_while_one_connected_voter_has_not_voted() -> None:
    game, (ada, bob, _cyd) = table("Ada", "Bob", "Cyd")

    voted(game, {ada: "3", bob: "5"})

    assert not game.revealed
    assert game.result() is None


def test_a_disconnected_voter_does_not_hold_up_the_reveal() -> None:
    game, (ada, bob, cyd) = table("Ada", "Bob", "Cyd")
    game.set_connected(cyd, False)
    game.vote(ada, "3")

    game.vote(bob, "5")

    assert game.revealed


def test_the_last_voter_leaving_turns_the_cards_over() -> None:
    game, (ada, bob, cyd) = table("Ada", "Bob", "Cyd")
    voted(game, {ada: "3", bob: "5"})

    game.set_connected(cyd, False)

    assert game.revealed


def test_an_observer_does_not_hold_up_the_reveal() -> None:
    game, (ada, bob, cyd) = table("Ada", "Bob", "Cyd")
    game.set_role(cyd, poker.OBSERVER)
    game.vote(ada, "3")

    game.vote(bob, "5")

    assert game.revealed


def test_with_auto_reveal_off_the_cards_stay_hidden_after_all_voted() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.set_auto_reveal(ada, False)

    voted(game, {ada: "3", bob: "5"})

    assert not game.revealed


def test_turning_auto_reveal_back_on_reveals_a_round_where_all_voted() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.set_auto_reveal(ada, False)
    voted(game, {ada: "3", bob: "5"})

    game.set_auto_reveal(ada, True)

    assert game.revealed


def test_the_facilitator_reveals_before_everybody_voted() -> None:
    game, (ada, bob, _cyd) = table("Ada", "Bob", "Cyd")
    game.vote(bob, "5")

    game.reveal(ada)

    assert game.revealed
    assert game.result()["count"] == 1
    assert game.history[-1]["votes"] == {bob: ["Bob", "5"]}


def test_reveal_with_no_vote_at_all_is_refused() -> None:
    game, (ada, _bob) = table("Ada", "Bob")

    with pytest.raises(poker.Refused) as refused:
        game.reveal(ada)

    assert refused.value.code == "not_allowed"
    assert not game.revealed


FACILITATOR, OTHER = 0, 1  # seats of table("Ada", "Bob", "Cyd")


@pytest.mark.parametrize(
    ("who", "action", "code"),
    [
        (OTHER, lambda g, s: g.reveal(s), "not_allowed"),  # facilitator's only
        (OTHER, lambda g, s: g.new_round(s, "Next"), "not_allowed"),  # same
        (OTHER, lambda g, s: g.set_story(s, "Other"), "not_allowed"),  # same
        (OTHER, lambda g, s: g.set_deck(s, "tshirt"), "not_allowed"),  # same
        (OTHER, lambda g, s: g.set_auto_reveal(s, False), "not_allowed"),  # same
        (FACILITATOR, lambda g, s: g.set_deck(s, "tarot"), "bad_message"),  # no deck
        (FACILITATOR, lambda g, s: g.set_role(s, "boss"), "bad_message"),  # no role
        (FACILITATOR, lambda g, s: g.set_story(s, 5), "bad_message"),  # not text
        (FACILITATOR, lambda g, s: g.set_story(s, "x" * 501), "bad_message"),  # long
        (FACILITATOR, lambda g, s: g.new_round(s, "x" * 501), "bad_message"),  # same
        (FACILITATOR, lambda g, s: g.set_auto_reveal(s, "on"), "bad_message"),  # bool
    ],
)
def test_a_refused_action_names_the_reason_and_changes_nothing(
    who: int, action: Any, code: str
) -> None:
    game, seats = table("Ada", "Bob", "Cyd")
    game.vote(seats[OTHER], "5")
    before = copy.deepcopy(game)

    with pytest.raises(poker.Refused) as refused:
        action(game, seats[who])

    assert refused.value.code == code
    assert game == before


# ---------------------------------------------------------------- rounds and roles


def test_a_new_round_clears_the_votes_and_counts_up() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    voted(game, {ada: "3", bob: "5"})

    game.new_round(ada, "PROJ-2 export")

    assert game.round == 2
    assert not game.revealed
    assert game.story == "PROJ-2 export"
    assert [s.vote for s in game.seats.values()] == [None, None]
    assert game.result() is None


def test_a_new_round_without_a_story_keeps_the_story() -> None:
    game, (ada,) = table("Ada")
    game.set_story(ada, "PROJ-1 login")

    game.new_round(ada)

    assert game.story == "PROJ-1 login"


def test_the_facilitator_sets_the_story() -> None:
    game, (ada,) = table("Ada")

    game.set_story(ada, "  PROJ-7 search\x07 ")

    assert game.story == "PROJ-7 search"


def test_a_confirmed_new_deck_clears_the_votes_of_the_round() -> None:
    game, (ada, bob, _cyd) = table("Ada", "Bob", "Cyd")
    voted(game, {ada: "3", bob: "5"})

    game.set_deck(ada, "tshirt", confirm=True)

    assert game.public()["deck"] == {
        "name": "tshirt",
        "cards": list(poker.DECKS["tshirt"]),
    }
    assert [s.vote for s in game.seats.values()] == [None, None, None]


def test_a_voter_who_becomes_observer_loses_the_card() -> None:
    game, (ada, bob, _cyd) = table("Ada", "Bob", "Cyd")
    game.vote(bob, "5")

    game.set_role(bob, poker.OBSERVER)

    assert (game.seats[bob].role, game.seats[bob].vote) == (poker.OBSERVER, None)
    assert not game.revealed


def test_a_revealed_card_stays_when_its_voter_becomes_observer() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.vote(ada, "8")
    game.vote(bob, "13")

    game.set_role(bob, poker.OBSERVER)

    result = game.result()
    assert result is not None
    assert (result["count"], result["mean"]) == (2, 10.5)
    assert game.seats[bob].vote == "13"


def test_a_revealed_observers_card_stays_when_they_come_back() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.vote(ada, "8")
    game.vote(bob, "13")
    game.set_role(bob, poker.OBSERVER)
    game.set_connected(bob, False)  # a page reload

    game.join("Bob", game.seats[bob].token)

    result = game.result()
    assert result is not None
    assert (result["count"], game.seats[bob].vote) == (2, "13")


def test_an_observer_who_becomes_voter_can_vote() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.set_role(bob, poker.OBSERVER)

    game.set_role(bob, poker.VOTER)
    game.vote(bob, "5")

    assert game.seats[bob].vote == "5"


# ---------------------------------------------------------------- what players see


def test_the_public_view_before_the_reveal_carries_no_vote() -> None:
    game, (ada, bob, cyd) = table("Ada", "Bob", "Cyd")
    voted(game, {ada: "3", bob: "21"})

    view = game.public()

    assert [s["vote"] for s in view["seats"]] == [None, None, None]
    assert [s["voted"] for s in view["seats"]] == [True, True, False]
    assert view["result"] is None
    assert all(value is None for key, value in leaves(view) if key == "vote")


def test_the_public_view_before_the_reveal_is_the_same_whatever_the_cards() -> None:
    # The robust form of "no card leaks": two games that differ only in the
    # cards chosen must look the same to everybody, field for field.
    game, (ada, bob, _cyd) = table("Ada", "Bob", "Cyd")
    other = copy.deepcopy(game)

    voted(game, {ada: "3", bob: "21"})
    voted(other, {ada: "?", bob: "☕"})

    assert game.public() == other.public()


def test_the_public_view_before_the_reveal_names_no_card_beside_a_seat() -> None:
    game, (ada, bob, _cyd) = table("Ada", "Bob", "Cyd")
    voted(game, {ada: "89", bob: "☕"})

    seats = game.public()["seats"]

    assert not {"89", "☕"} & {value for seat in seats for _, value in leaves(seat)}


def test_your_own_view_holds_only_your_own_card() -> None:
    game, (ada, bob, _cyd) = table("Ada", "Bob", "Cyd")
    voted(game, {ada: "3", bob: "21"})

    mine, theirs = game.you(ada), game.you(bob)

    assert mine == {"seat": ada, "vote": "3"}
    assert theirs == {"seat": bob, "vote": "21"}


def test_after_the_reveal_the_public_view_holds_every_card_and_the_result() -> None:
    game, (ada, bob, cyd) = table("Ada", "Bob", "Cyd")

    voted(game, {ada: "3", bob: "21", cyd: "3"})

    view = game.public()
    assert view["revealed"]
    assert [s["vote"] for s in view["seats"]] == ["3", "21", "3"]
    summary = poker.summarize(["3", "21", "3"], game.cards)
    assert {key: view["result"][key] for key in summary} == summary
    assert view["result"]["mode"] == ["3"]


# ---------------------------------------------------------------- statistics


@pytest.mark.parametrize(
    ("cards", "deck", "expected"),
    [
        # Coffee and "?" count as votes but not as numbers.
        (
            ["8", "8", "13", "13", "13", "?", "☕"],
            "fibonacci",
            {"count": 7, "numeric": 5, "mean": 11, "median": 13, "mode": ["13"]},
        ),
        # One outlier pulls the mean, not the median.
        (
            ["1", "1", "1", "1", "21"],
            "fibonacci",
            {"mean": 5, "median": 1, "mode": ["1"], "low": 1, "high": 21},
        ),
        # The half card is 0.5; the mean is rounded to two places.
        (["½", "1", "2"], "modified", {"mean": 1.17, "median": 1, "low": 0.5}),
        # T-shirt sizes have no numbers: no mean, no median, still a mode.
        (
            ["M", "M", "L"],
            "tshirt",
            {"numeric": 0, "mean": None, "median": None, "mode": ["M"]},
        ),
        # A tie gives every top card, in deck order.
        (["5", "3", "5", "3"], "fibonacci", {"mode": ["3", "5"], "median": 4}),
        # Everybody agrees.
        (["5", "5", "5"], "fibonacci", {"consensus": True, "mode": ["5"]}),
        # One dissent is no consensus.
        (["5", "5", "8"], "fibonacci", {"consensus": False}),
        # The distribution lists cards in deck order, not vote order.
        (
            ["13", "?", "8", "13"],
            "fibonacci",
            {"distribution": [["8", 1], ["13", 2], ["?", 1]]},
        ),
    ],
)
def test_summarize(cards: list[str], deck: str, expected: dict[str, Any]) -> None:
    result = poker.summarize(cards, poker.DECKS[deck])

    assert {key: result[key] for key in expected} == expected


def test_whole_number_statistics_stay_whole() -> None:
    result = poker.summarize(["8", "8", "13", "13", "13"], poker.DECKS["fibonacci"])

    assert type(result["mean"]) is int
    assert type(result["median"]) is int


# ---------------------------------------------------------------- clean_text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Ada", "Ada"),  # plain text stays
        ("  Ada  ", "Ada"),  # outer spaces go
        ("Ada\x07Lovelace", "Ada Lovelace"),  # a bell becomes a space
        ("\x1b[31mRed", "[31mRed"),  # an escape sequence loses its escape
        ("\tAda\x00", "Ada"),  # tab and NUL at the ends vanish
        ("Ada\x85B", "Ada B"),  # C1 controls (NEL) count too
        ("line one\nline two", "line one\nline two"),  # line breaks stay
        ("x" * 40, "x" * 40),  # exactly the limit
    ],
)
def test_clean_text_keeps_the_text_and_drops_control_characters(
    raw: str, clean: str
) -> None:
    assert poker.clean_text(raw, "name", 40) == clean


@pytest.mark.parametrize(
    ("raw", "empty_ok"),
    [
        ("x" * 41, False),  # one over the limit
        ("x" * 41, True),  # too long even where empty would do
        ("", False),  # empty
        ("   ", False),  # only spaces
        ("\x00\x07", False),  # only control characters
        (None, False),  # not text
        (["Ada"], False),  # not text either
    ],
)
def test_clean_text_refuses_bad_text(raw: Any, empty_ok: bool) -> None:
    with pytest.raises(poker.Refused) as refused:
        poker.clean_text(raw, "name", 40, empty_ok=empty_ok)

    assert refused.value.code == "bad_message"


def test_clean_text_allows_empty_where_asked() -> None:
    assert poker.clean_text("  ", "story", 500, empty_ok=True) == ""


@pytest.mark.parametrize(
    ("who", "target", "code"),
    [
        ("bob", "cyd", "not_allowed"),  # a voter cannot remove anyone
        ("ada", "ada", "not_allowed"),  # the facilitator passes the role first
        ("ada", "nobody", "bad_message"),  # no such seat
    ],
)
def test_remove_is_refused_and_changes_nothing(
    who: str, target: str, code: str
) -> None:
    game = poker.Game.new("T")
    seats = {name: game.join(name.title())[0].id for name in ("ada", "bob", "cyd")}
    before = game.public()

    with pytest.raises(poker.Refused) as refused:
        game.remove(seats[who], seats.get(target, target))

    assert refused.value.code == code
    assert game.public() == before


def test_remove_takes_the_seat_and_its_card_away() -> None:
    game = poker.Game.new("T")
    ada, _ = game.join("Ada")
    bob, _ = game.join("Bob")
    game.vote(bob.id, "8")

    change = game.remove(ada.id, bob.id)

    assert bob.id not in game.seats
    assert change.removed == {bob.id: "The facilitator removed you from the game."}


# ---------------------------------------------------------------- away seats


def away_table(timeout: int = 60) -> tuple[poker.Game, poker.Seat, poker.Seat]:
    """Ada runs the table; Bob voted 8 and went away at t=1000."""
    game = poker.Game.new("T")
    game.away_timeout = timeout
    ada, _ = game.join("Ada")
    bob, _ = game.join("Bob")
    game.vote(bob.id, "8")
    game.set_connected(bob.id, False, now=1000.0)
    return game, ada, bob


def test_an_away_seat_keeps_its_card_and_says_since_when() -> None:
    game, _, bob = away_table()

    seat = game.public()["seats"][1]

    assert (seat["connected"], seat["awaySince"], seat["voted"]) == (
        False,
        1000.0,
        True,
    )
    assert game.you(bob.id)["vote"] == "8"


def test_an_away_seat_is_kept_until_its_timeout() -> None:
    game, _, bob = away_table(timeout=60)

    change = game.expire(1059.9)

    assert not change
    assert bob.id in game.seats


def test_an_away_seat_is_given_up_at_its_timeout_with_a_reason() -> None:
    game, _, bob = away_table(timeout=60)

    change = game.expire(1060.0)

    assert bob.id not in game.seats
    assert list(change.removed) == [bob.id]
    assert "away for more than 1 minute" in change.removed[bob.id]


def test_a_seat_that_came_back_is_not_given_up() -> None:
    game, _, bob = away_table(timeout=60)
    game.join("Bob", token=bob.token)

    assert not game.expire(5000.0)
    assert game.next_expiry() is None


def test_the_facilitators_seat_is_never_given_up() -> None:
    game, ada, _ = away_table(timeout=60)
    game.set_connected(ada.id, False, now=1000.0)

    game.expire(9999.0)

    assert list(game.seats) == [ada.id]


def test_a_timeout_of_zero_keeps_away_seats_for_ever() -> None:
    game, ada, bob = away_table(timeout=60)

    game.set_away_timeout(ada.id, 0)

    assert game.next_expiry() is None
    assert not game.expire(10**9)
    assert bob.id in game.seats


def test_an_away_voter_does_not_hold_up_the_reveal_before_it_is_given_up() -> None:
    game, ada, bob = away_table(timeout=600)  # Bob voted, then went away
    carl, _ = game.join("Carl")
    game.set_connected(carl.id, False, now=1000.0)  # away, no card

    change = game.vote(ada.id, "5")

    assert change.revealed
    assert {carl.id, bob.id} <= set(game.seats)


@pytest.mark.parametrize(
    ("seconds", "ok"),
    [
        (0, True),  # never
        (30, True),  # the shortest
        (604800, True),  # a week, the longest
        (29, False),  # too short: a blip would cost a seat
        (604801, False),  # too long
        (60.5, False),  # not whole
        ("60", False),  # not a number
        (True, False),  # a bool is not a number here
        (None, False),  # missing
    ],
)
def test_the_away_timeout_takes_only_sensible_values(seconds: Any, ok: bool) -> None:
    game, ada, _ = away_table()

    if ok:
        assert game.set_away_timeout(ada.id, seconds).game
        assert game.public()["awayTimeout"] == seconds
    else:
        with pytest.raises(poker.Refused) as refused:
            game.set_away_timeout(ada.id, seconds)
        assert refused.value.code == "bad_message"
        assert game.away_timeout == 60


def test_only_the_facilitator_sets_the_away_timeout() -> None:
    game, _, bob = away_table()
    game.join("Bob", token=bob.token)

    with pytest.raises(poker.Refused) as refused:
        game.set_away_timeout(bob.id, 300)

    assert refused.value.code == "not_allowed"


def test_a_loaded_game_counts_every_seat_away_from_the_load() -> None:
    game, ada, bob = away_table()

    game.all_away(now=5000.0)

    assert [s.connected for s in game.seats.values()] == [False, False]
    assert (ada.away_since, bob.away_since) == (5000.0, 1000.0)


# ---------------------------------------------------------------- passcode


def test_a_locked_game_knows_its_passcode_but_does_not_keep_it() -> None:
    game = poker.Game.new("T")

    game.lock("open sesame")

    assert game.locked
    assert game.public()["locked"]
    assert game.passcode_ok("open sesame")
    assert game.passcode_ok("  open sesame ")  # typed with spaces around
    assert not game.passcode_ok("Open sesame")
    assert not game.passcode_ok(None)
    assert "open sesame" not in json.dumps(game.public())
    assert "open sesame" not in game.passcode


def test_an_empty_passcode_leaves_the_game_open() -> None:
    game = poker.Game.new("T")

    game.lock("  ")

    assert not game.locked
    assert game.passcode_ok(None)


def test_a_passcode_over_64_characters_is_refused() -> None:
    with pytest.raises(poker.Refused):
        poker.Game.new("T").lock("x" * 65)


# ---------------------------------------------------------------- hostile text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\u202eAda", "Ada"),  # a right-to-left override would flip the row
        ("Ada\u2066x\u2069", "Adax"),  # isolates go too
        ("\u05e9\u05dc\u05d5\u05dd", "\u05e9\u05dc\u05d5\u05dd"),  # Hebrew stays
        ("\u0639\u0644\u064a", "\u0639\u0644\u064a"),  # Arabic stays
        ("Ada 🦄👩‍💻", "Ada 🦄👩‍💻"),  # emoji, joined ones too, stay
        ("<b>Ada</b>", "<b>Ada</b>"),  # markup is only text: kept as typed
    ],
)
def test_clean_text_keeps_scripts_and_emoji_but_drops_bidi_controls(
    raw: str, clean: str
) -> None:
    assert poker.clean_text(raw, "name", 40) == clean


# ---------------------------------------------------------------- protocol


def test_the_pages_message_types_mirror_the_hosts() -> None:
    source = (poker.ASSETS_DIR / "protocol.js").read_text(encoding="utf-8")
    table = source.split("export const MSG = Object.freeze({", 1)[1].split("});")[0]
    mirrored = dict(re.findall(r'^\s*([A-Z_]+): "([a-z_]+)",', table, re.MULTILINE))

    ours = {k: v for k, v in vars(poker.Msg).items() if k.isupper()}

    assert mirrored == ours


def test_a_title_is_one_line() -> None:
    game = poker.Game.new("Sprint 42\nand the rest\tof it")

    assert game.title == "Sprint 42 and the rest of it"


# ---------------------------------------------------------------- full table


def test_a_newcomer_at_a_full_table_takes_the_seat_away_the_longest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(poker, "MAX_SEATS", 3)
    game, (ada, bob, cyd) = table("Ada", "Bob", "Cyd")
    game.set_connected(cyd, False, now=200.0)
    game.set_connected(bob, False, now=100.0)

    seat, change = game.join("Dan")

    assert list(game.seats) == [ada, cyd, seat.id]
    assert set(change.removed) == {bob}
    assert change.game


def test_a_full_table_with_everyone_here_refuses_a_newcomer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(poker, "MAX_SEATS", 2)
    game, (ada, _bob) = table("Ada", "Bob")
    game.set_connected(ada, False)  # the facilitator's seat is never given up
    before = copy.deepcopy(game)

    with pytest.raises(poker.Refused) as refused:
        game.join("Cyd")

    assert refused.value.code == "table_full"
    assert game == before


def test_a_returning_player_sits_down_at_a_full_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(poker, "MAX_SEATS", 2)
    game, (_ada, bob) = table("Ada", "Bob")
    game.set_connected(bob, False)

    seat, change = game.join("Bob", game.seats[bob].token)

    assert seat.id == bob
    assert not change.removed
