"""The rules of estimating as teams run it (decks, roles, backlog, final
estimate, timer, statistics), with no network at all."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

import poker


def table(*names: str) -> tuple[poker.Game, list[str]]:
    """A fresh game with one connected voter per name; the seat ids in order."""
    game = poker.Game.new("Sprint")
    return game, [game.join(name)[0].id for name in names]


def with_backlog(*titles: str) -> tuple[poker.Game, list[str], list[str]]:
    """Ada (facilitator) and Bob at a table whose backlog holds *titles*."""
    game, seats = table("Ada", "Bob")
    game.add_stories(seats[0], [poker.Game.make_story(t) for t in titles])
    return game, seats, [story.id for story in game.backlog]


def refused(action: Callable[[], Any], game: poker.Game, code: str) -> str:
    """Run *action*, check it is refused with *code* and changes nothing."""
    before = copy.deepcopy(game)
    with pytest.raises(poker.Refused) as caught:
        action()
    assert caught.value.code == code
    assert game == before
    return str(caught.value)


# ---------------------------------------------------------------- statistics


@pytest.mark.parametrize(
    ("cards", "deck", "expected"),
    [
        # The issue's first example: ? and coffee are left out of the numbers.
        (
            ["8", "8", "13", "13", "13", "?", "☕"],
            "fibonacci",
            {"mean": 11, "median": 13, "mode": ["13"], "numeric": 5, "count": 7},
        ),
        # The issue's second example: one outlier moves the mean only.
        (["1", "1", "1", "1", "21"], "fibonacci", {"mean": 5, "median": 1}),
        # The issue's third: 7/6 is shown as 1.17, never as a long float.
        (["½", "1", "2"], "modified", {"mean": 1.17, "median": 1}),
        # A T-shirt deck: mode and distribution, no mean, no median.
        (
            ["M", "L", "M", "?"],
            "tshirt",
            {
                "mean": None,
                "median": None,
                "mode": ["M"],
                "distribution": [["M", 2], ["L", 1], ["?", 1]],
            },
        ),
    ],
)
def test_the_issue_examples_give_the_stated_statistics(
    cards: list[str], deck: str, expected: dict[str, Any]
) -> None:
    result = poker.summarize(cards, poker.DECKS[deck])

    assert {key: result[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("cards", "expected"),
    [
        (["?", "?"], False),  # everyone unsure is not agreement
        (["☕", "☕", "☕"], False),  # nor is everyone wanting a break
        (["M", "M"], True),  # a size agreed on is
        (["5", "5"], True),  # and a number
    ],
)
def test_consensus_is_agreement_on_an_estimate(
    cards: list[str], expected: bool
) -> None:
    deck = [*poker.DECKS["fibonacci"], *poker.DECKS["tshirt"]]

    assert poker.summarize(cards, deck)["consensus"] is expected


@pytest.mark.parametrize(
    ("card", "value"),
    [
        ("13", 13),  # digits
        ("0.5", 0.5),  # a decimal point
        ("1,5", 1.5),  # a decimal comma
        ("½", 0.5),  # the half card
        ("1e308", None),  # Python reads it; its mean overflowed and broke the game
        ("inf", None),  # not a number people estimate with
        ("1_0", None),  # Python reads it as 10
        ("9999999", None),  # seven digits: past any estimate
        ("?", None),  # not a number
    ],
)
def test_a_card_counts_as_a_number_only_as_people_write_numbers(
    card: str, value: float | None
) -> None:
    assert poker.card_value(card) == value


def test_a_custom_deck_of_huge_numbers_reveals_without_numbers() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.set_deck(ada, poker.CUSTOM_DECK, ["1e308", "2"])
    game.vote(ada, "1e308")

    game.vote(bob, "1e308")

    result = game.result()
    assert result is not None
    assert (result["mean"], result["mode"], result["consensus"]) == (
        None,
        ["1e308"],
        True,
    )


def test_the_lowest_and_highest_voters_are_named_after_the_reveal() -> None:
    game, (ada, bob, cyd, dan) = table("Ada", "Bob", "Cyd", "Dan")
    game.vote(dan, "?")
    game.vote(ada, "3")
    game.vote(bob, "13")

    game.vote(cyd, "3")

    result = game.result()
    assert result is not None
    assert (result["lowest"], result["highest"]) == ([ada, cyd], [bob])


def test_with_no_spread_nobody_is_lowest_or_highest() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.vote(ada, "5")

    game.vote(bob, "5")

    result = game.result()
    assert result is not None
    assert (result["lowest"], result["highest"]) == ([], [])


# ---------------------------------------------------------------- decks


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("13", 2),  # plain digits
        ("½", 1),  # one code point
        ("∞", 1),  # one code point
        ("👩🏽‍💻", 1),  # woman, skin tone, joiner, laptop
        ("👨‍👩‍👧‍👦", 1),  # a family of four joined by three joiners
        ("🇫🇷", 1),  # two regional indicators make one flag
        ("🇫🇷🇩🇪", 2),  # two flags
        ("e\u0301", 1),  # e and a combining acute accent
        ("❤️", 1),  # heart and a variation selector
        ("XXL", 3),  # letters
    ],
)
def test_visible_length_counts_characters_as_people_see_them(
    text: str, length: int
) -> None:
    assert poker.visible_length(text) == length


def test_the_facilitator_types_a_custom_deck_and_players_vote_with_it() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    cards = ["½", "1", "∞", "👩🏽‍💻", "🇫🇷", "ABCDEFGH"]

    game.set_deck(ada, poker.CUSTOM_DECK, cards)
    game.vote(bob, "👩🏽‍💻")

    assert game.public()["deck"] == {"name": "custom", "cards": cards}
    assert game.seats[bob].vote == "👩🏽‍💻"


def test_a_deck_changed_after_the_reveal_votes_in_a_round_of_its_own() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.vote(ada, "5")
    game.vote(bob, "8")

    game.set_deck(ada, "tshirt")
    game.vote(ada, "M")
    game.vote(bob, "M")

    assert [record["round"] for record in game.history] == [1, 2]


def test_a_custom_deck_is_tidied_of_blanks_around_cards() -> None:
    game, (ada,) = table("Ada")

    game.set_deck(ada, poker.CUSTOM_DECK, [" 1 ", "2", "  "])

    assert game.cards == ("1", "2")


@pytest.mark.parametrize(
    ("cards", "says"),
    [
        (["1"], "2 to 20 cards"),  # too few
        ([str(n) for n in range(21)], "2 to 20 cards"),  # too many
        (["1", "2", "1"], "'1' is in the deck twice"),  # a duplicate
        (["XS", "xs"], "'xs' is in the deck twice"),  # the same but for case
        (["1", "ABCDEFGHI"], "at most 8 characters"),  # nine characters
        # 8 characters, but 40 code points (accents past four are dropped)
        (["1", ("x" + "\u0301" * 4) * 8], "at most 8 characters"),
        (["1", "1\u200b"], "'1' is in the deck twice"),  # alike but for a ZWSP
        (["\u202e21", "21"], "'21' is in the deck twice"),  # alike but an override
        (["1", "1\u2063"], "'1' is in the deck twice"),  # an invisible separator
        (["1", "\ufe0f"], "one of them is blank"),  # a variation selector alone
        (["1", "\u0301\u0301"], "one of them is blank"),  # accents on nothing
        (["1", "a\x07"], "control characters"),  # a bell
        ("1 2 3", "list of cards"),  # not a list
        (["1", 2], "list of cards"),  # a number among the cards
        (None, "list of cards"),  # no cards at all
    ],
)
def test_a_bad_custom_deck_is_refused_with_the_reason(cards: Any, says: str) -> None:
    game, (ada,) = table("Ada")

    message = refused(
        lambda: game.set_deck(ada, poker.CUSTOM_DECK, cards), game, "bad_deck"
    )

    assert says in message


def test_changing_the_deck_with_votes_on_the_table_needs_confirmation() -> None:
    game, (ada, bob, _cyd) = table("Ada", "Bob", "Cyd")
    game.vote(bob, "5")

    message = refused(lambda: game.set_deck(ada, "tshirt"), game, "confirm_needed")

    assert "clears the 1 vote" in message


def test_changing_the_deck_before_anyone_voted_needs_no_confirmation() -> None:
    game, (ada, _bob) = table("Ada", "Bob")

    game.set_deck(ada, "tshirt")

    assert game.deck == "tshirt"


def test_changing_the_deck_between_rounds_needs_no_confirmation() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.vote(ada, "5")
    game.vote(bob, "8")  # revealed: the round is stored already

    game.set_deck(ada, "powers")

    assert (game.deck, game.revealed, len(game.history)) == ("powers", False, 1)


# ---------------------------------------------------------------- roles

FACILITATOR_ONLY: list[tuple[str, Callable[[poker.Game, str, str], Any]]] = [
    ("reveal", lambda g, s, o: g.reveal(s)),
    ("new round", lambda g, s, o: g.new_round(s)),
    ("set the deck", lambda g, s, o: g.set_deck(s, "tshirt", confirm=True)),
    ("auto-reveal", lambda g, s, o: g.set_auto_reveal(s, False)),
    ("remove", lambda g, s, o: g.remove(s, o)),
    ("pass the role", lambda g, s, o: g.pass_facilitator(s, s)),
    ("add a story", lambda g, s, o: g.add_story(s, "Sneaky")),
    ("edit a story", lambda g, s, o: g.edit_story(s, g.backlog[0].id, {"title": "X"})),
    ("move a story", lambda g, s, o: g.move_story(s, g.backlog[0].id, 1)),
    ("remove a story", lambda g, s, o: g.remove_story(s, g.backlog[0].id)),
    ("skip a story", lambda g, s, o: g.skip_story(s, g.backlog[0].id)),
    ("next story", lambda g, s, o: g.next_story(s)),
    ("final estimate", lambda g, s, o: g.record_estimate(s, "5")),
    ("start the timer", lambda g, s, o: g.start_timer(s, 60)),
]


@pytest.mark.parametrize(
    "action", [a for _, a in FACILITATOR_ONLY], ids=[n for n, _ in FACILITATOR_ONLY]
)
def test_only_the_facilitator_may_run_the_table(
    action: Callable[[poker.Game, str, str], Any],
) -> None:
    game, (ada, bob), _ = with_backlog("PROJ-1", "PROJ-2")
    game.vote(ada, "5")
    game.start_timer(ada, 60)

    refused(lambda: action(game, bob, ada), game, "not_allowed")


def test_the_facilitator_passes_the_role_to_another_player() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.vote(ada, "3")

    game.pass_facilitator(ada, bob)
    game.reveal(bob)

    assert game.facilitator == bob
    refused(lambda: game.new_round(ada), game, "not_allowed")


def test_the_role_cannot_go_to_a_player_who_is_away() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.set_connected(bob, False)

    message = refused(lambda: game.pass_facilitator(ada, bob), game, "not_allowed")

    assert message == "Bob is away; pass the role to someone at the table."


@pytest.mark.parametrize(
    "target",
    [
        "nobody",  # no such seat
        None,  # not a seat id
        "self",  # the facilitator already
    ],
)
def test_passing_the_role_to_no_one_else_is_refused(target: Any) -> None:
    game, (ada, _bob) = table("Ada", "Bob")
    target = ada if target == "self" else target

    refused(lambda: game.pass_facilitator(ada, target), game, "bad_message")


def test_a_player_takes_over_from_a_facilitator_who_is_away() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.set_connected(ada, False, now=100.0)  # Ada lost her token: back anew
    again, _ = game.join("Ada")

    game.claim_facilitator(again.id, now=100.0 + poker.CLAIM_AFTER)
    game.vote(bob, "5")
    game.reveal(again.id)

    assert game.facilitator == again.id
    assert game.revealed


def test_nobody_takes_over_from_a_facilitator_away_for_a_moment() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.set_connected(ada, False, now=100.0)  # a Wi-Fi blip

    message = refused(
        lambda: game.claim_facilitator(bob, now=100.0 + poker.CLAIM_AFTER - 1),
        game,
        "not_allowed",
    )

    assert "away less than 30 seconds" in message
    assert game.facilitator == ada


def test_nobody_takes_over_from_a_facilitator_who_is_here() -> None:
    game, (ada, bob) = table("Ada", "Bob")

    message = refused(lambda: game.claim_facilitator(bob), game, "not_allowed")

    assert "Ada is here" in message
    assert game.facilitator == ada


def test_the_facilitator_cannot_take_over_from_themselves() -> None:
    game, (ada, _bob) = table("Ada", "Bob")
    game.set_connected(ada, False)
    game.set_connected(ada, True)

    refused(lambda: game.claim_facilitator(ada), game, "bad_message")


def test_the_facilitator_who_observes_does_not_block_the_reveal() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.set_role(ada, poker.OBSERVER)

    game.vote(bob, "8")

    assert game.revealed


def test_an_observer_stays_an_observer_in_the_next_round() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.set_role(bob, poker.OBSERVER)

    game.new_round(ada)

    assert game.seats[bob].role == poker.OBSERVER


# ---------------------------------------------------------------- backlog


def test_stories_are_added_with_an_optional_key_and_description() -> None:
    game, (ada,) = table("Ada")

    game.add_story(ada, "  Log in  with SSO ", "PROJ-1", "As a user\nI want")

    (story,) = game.backlog
    assert (story.title, story.key, story.description) == (
        "Log in with SSO",
        "PROJ-1",
        "As a user\nI want",
    )


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("", ""),  # no title
        ("x" * 501, ""),  # a title over 500 characters
        ("Fine", "k" * 201),  # a key or link over 200 characters
        (7, ""),  # a title that is not text
    ],
)
def test_a_bad_story_is_refused(title: Any, key: Any) -> None:
    game, (ada,) = table("Ada")

    refused(lambda: game.add_story(ada, title, key), game, "bad_message")


def test_the_facilitator_edits_a_story() -> None:
    game, (ada, _), (one, _two) = with_backlog("PROJ-1", "PROJ-2")

    game.edit_story(ada, one, {"key": "https://jira/PROJ-1", "title": "Login"})

    assert (game.backlog[0].title, game.backlog[0].key) == (
        "Login",
        "https://jira/PROJ-1",
    )


def test_editing_the_story_under_estimate_changes_what_everyone_sees() -> None:
    game, (ada, _), (one,) = with_backlog("PROJ-1")
    game.next_story(ada)

    game.edit_story(ada, one, {"title": "PROJ-1 login"})

    assert game.story == "PROJ-1 login"


@pytest.mark.parametrize(
    ("to", "order"),
    [
        (0, ["C", "A", "B"]),  # to the top
        (1, ["A", "C", "B"]),  # into the middle
        (99, ["A", "B", "C"]),  # past the end: the end
        (-5, ["C", "A", "B"]),  # before the top: the top
    ],
)
def test_the_facilitator_reorders_the_backlog(to: int, order: list[str]) -> None:
    game, (ada, _), ids = with_backlog("A", "B", "C")

    game.move_story(ada, ids[2], to)

    assert [s.title for s in game.backlog] == order


def test_the_facilitator_removes_a_story() -> None:
    game, (ada, _), (one, _two) = with_backlog("A", "B")

    game.remove_story(ada, one)

    assert [s.title for s in game.backlog] == ["B"]


def test_next_story_takes_the_first_one_not_estimated_or_skipped() -> None:
    game, (ada, bob), (one, two, _three, _four) = with_backlog("A", "B", "C", "D")
    game.backlog[0].estimate = "5"
    game.skip_story(ada, two)

    game.next_story(ada)

    assert (game.story, game.story_id, game.round) == ("C", game.backlog[2].id, 2)


def test_next_story_moves_past_the_story_under_estimate() -> None:
    game, (ada, _), _ = with_backlog("A", "B")
    game.next_story(ada)

    game.next_story(ada)

    assert game.story == "B"


def test_next_story_walks_the_whole_queue_before_coming_back() -> None:
    game, (ada, _), _ = with_backlog("A", "B", "C")

    played = []
    for _ in range(4):  # none of them estimated: each stays in the queue
        game.next_story(ada)
        played.append(game.story)

    assert played == ["A", "B", "C", "A"]


def test_next_story_can_name_the_story() -> None:
    game, (ada, _), (_one, two) = with_backlog("A", "B")

    game.next_story(ada, two)

    assert game.story == "B"


def test_a_skipped_story_can_be_taken_back_into_the_queue() -> None:
    game, (ada, _), (one,) = with_backlog("A")
    game.skip_story(ada, one)

    game.skip_story(ada, one, False)
    game.next_story(ada)

    assert game.story == "A"


def test_next_story_with_nothing_left_is_refused_with_a_reason() -> None:
    game, (ada, _), _ = with_backlog("A")
    game.next_story(ada)

    message = refused(lambda: game.next_story(ada), game, "backlog_done")

    assert "estimated or skipped" in message


def test_a_backlog_takes_at_most_its_limit() -> None:
    game, (ada,) = table("Ada")
    stories = [poker.Game.make_story(f"S{n}") for n in range(poker.MAX_BACKLOG + 1)]

    refused(lambda: game.add_stories(ada, stories), game, "backlog_full")


# ---------------------------------------------------------------- final estimate


def test_the_final_estimate_is_kept_with_the_round_and_the_story() -> None:
    game, (ada, bob), (one, _two) = with_backlog("A", "B")
    game.next_story(ada)
    game.vote(ada, "5")
    game.vote(bob, "8")

    game.record_estimate(ada, "8")

    assert game.history[-1]["final"] == "8"
    assert game.history[-1]["storyId"] == one
    assert game.backlog[0].estimate == "8"
    assert game.public()["history"][-1]["final"] == "8"


def test_a_typed_final_estimate_need_not_be_a_card() -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.vote(ada, "5")
    game.vote(bob, "8")

    game.record_estimate(ada, "6 days")

    assert game.history[-1]["final"] == "6 days"


def test_the_final_estimate_waits_for_the_reveal() -> None:
    game, (ada, _bob) = table("Ada", "Bob")
    game.vote(ada, "5")

    refused(lambda: game.record_estimate(ada, "5"), game, "not_allowed")


def test_a_re_vote_of_a_story_is_kept_as_a_further_round() -> None:
    game, (ada, bob), (one,) = with_backlog("A")
    game.next_story(ada)
    game.vote(ada, "3")
    game.vote(bob, "13")

    game.new_round(ada)
    game.vote(ada, "8")
    game.vote(bob, "8")

    assert [(r["storyId"], r["round"]) for r in game.history] == [(one, 2), (one, 3)]


# ---------------------------------------------------------------- timer


def test_the_timer_ends_at_the_hosts_time_plus_its_seconds() -> None:
    game, (ada,) = table("Ada")

    game.start_timer(ada, 90, now=1000.0)

    assert game.public()["timer"] == {"seconds": 90, "ends": 1090.0, "reveal": True}


@pytest.mark.parametrize(
    ("reveal", "votes", "now", "revealed", "due"),
    [
        (True, 1, 1059.9, False, 1060.0),  # not yet zero: nothing happens
        (True, 1, 1060.0, True, None),  # zero, a vote, reveal on: revealed
        (False, 1, 1060.0, False, None),  # zero, reveal off: only the time is up
        (True, 0, 1061.0, False, None),  # zero, nobody voted: nothing to reveal
    ],
)
def test_the_timer_at_zero_reveals_when_asked(
    reveal: bool, votes: int, now: float, revealed: bool, due: float | None
) -> None:
    game, (ada, bob) = table("Ada", "Bob")
    game.start_timer(ada, 60, reveal, now=1000.0)
    if votes:
        game.vote(bob, "5")

    game.tick(now)

    assert (game.revealed, game.timer_due()) == (revealed, due)


def test_a_new_round_stops_the_timer() -> None:
    game, (ada,) = table("Ada")
    game.start_timer(ada, 60)

    game.new_round(ada)

    assert game.timer is None


@pytest.mark.parametrize(
    "seconds",
    [
        4,  # under the least
        3601,  # over the most
        30.5,  # not whole
        True,  # a bool is no number of seconds
        "60",  # text
    ],
)
def test_a_bad_timer_is_refused(seconds: Any) -> None:
    game, (ada,) = table("Ada")

    refused(lambda: game.start_timer(ada, seconds), game, "bad_message")
