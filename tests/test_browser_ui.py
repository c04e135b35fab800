"""The table as people meet it, in a real Chromium: phone widths, keyboard
shortcuts, the flip, calm motion, dark mode, names for every control, focus
order, contrast, the reveal read out, the connection always in sight.

The host is a real `poker.py --headless` on loopback (no discovery); every
page fails the test on a console error or a request that leaves the host.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import poker
from test_browser import seated, take_seat

pytestmark = pytest.mark.timeout(120)

# A name and a story with no place to break: the page must still fit.
LONG_NAME = "Maximiliana-Theodora-Vandenberghe-Smit"
LONG_STORY = "As-a-user-I-want-" + "x" * 120 + " and then a few more words to wrap"

# WCAG 2.1 AA (1.4.3): 4.5:1 for normal text, 3:1 for large text, which is
# 24 px, or 18.66 px (14 pt) when bold.
AA_NORMAL, AA_LARGE = 4.5, 3.0

# What the page measures (see the file): [{what, ratio, large}].
CONTRAST_JS = (Path(__file__).parent / "contrast.js").read_text()


def failing(measured: list[dict[str, Any]]) -> list[str]:
    """The texts below AA for their size, each said once, worst first."""
    low = [m for m in measured if m["ratio"] < (AA_LARGE if m["large"] else AA_NORMAL)]
    said = {f"{m['what']}: {m['ratio']}" for m in low}
    return sorted(said, key=lambda text: float(text.rsplit(": ", 1)[1]))


async def scroll_overflow(page: Any) -> int:
    """How many pixels the page scrolls sideways (0 when it fits)."""
    return await page.evaluate(
        "document.scrollingElement.scrollWidth - window.innerWidth"
    )


async def pressed(page: Any) -> list[str]:
    """The cards shown as picked on this page."""
    return await page.locator('[data-testid=card][aria-pressed="true"]').evaluate_all(
        "nodes => nodes.map(n => n.dataset.card)"
    )


# --- layout -------------------------------------------------------------------


@pytest.mark.parametrize(
    "width",
    [
        360,  # the narrowest phone the issue names
        390,  # a common phone
        768,  # a tablet upright
        1024,  # a small laptop: the side column appears at 900
        1920,  # a large screen
    ],
)
async def test_no_sideways_scroll_from_a_phone_to_a_large_screen(
    headless_host: Callable[..., Any], strict_page: Any, width: int
) -> None:
    host = headless_host("Sprint-42-" + "planning-" * 7)
    ada = await strict_page(host.url)
    bob = await strict_page(host.url)
    await ada.set_viewport_size({"width": width, "height": 800})
    await ada.goto(host.url)
    name_form = await scroll_overflow(ada)
    await take_seat(ada, host.url, LONG_NAME)
    await take_seat(bob, host.url, "Bob")
    await ada.get_by_test_id("story-edit").click()
    await ada.get_by_test_id("story-input").fill(LONG_STORY)
    await ada.get_by_test_id("story-save").click()
    await ada.locator('[data-testid=card][data-card="8"]').click()
    await bob.locator('[data-testid=card][data-card="13"]').click()
    await ada.locator("body.is-revealed").wait_for()
    await ada.get_by_test_id("result").wait_for()
    revealed = await scroll_overflow(ada)

    assert name_form <= 0
    assert revealed <= 0


async def test_the_connection_state_stays_in_sight_on_a_phone(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    _, (ada,) = await seated(headless_host, strict_page, "Ada")
    await ada.set_viewport_size({"width": 360, "height": 640})

    await ada.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    box = await ada.get_by_test_id("connection").bounding_box()

    assert await ada.evaluate("window.scrollY") > 0
    assert box is not None
    assert box["y"] >= 0
    assert box["y"] + box["height"] <= 640
    assert await ada.get_by_test_id("connection").inner_text() == "connected"


async def test_a_closed_game_says_so_and_joins_again_when_the_host_is_back(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host, (ada,) = await seated(headless_host, strict_page, "Ada")
    seat = await ada.evaluate("localStorage.length")

    host.stop()
    await ada.get_by_test_id("closed-banner").wait_for()
    told = await ada.locator(".banner-text").inner_text()
    button = await ada.get_by_test_id("retry-button").inner_text()
    headless_host(None, "--resume", port=host.port, data_dir=host.data_dir)
    await ada.get_by_test_id("closed-banner").wait_for(state="hidden", timeout=20_000)

    assert told == (
        "The host closed the game. This page joins again by itself when the "
        "host is back."
    )
    assert button == "Try now"
    assert await ada.get_by_test_id("connection").inner_text() == "connected"
    assert await ada.get_by_test_id("seat").count() == 1  # her seat, not a new one
    assert await ada.evaluate("localStorage.length") == seat


async def test_an_address_of_a_game_the_host_lacks_says_so_before_a_name(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host = headless_host("Sprint 42")
    page = await strict_page(host.url)

    await page.goto(f"{host.url}?game=nosuchgame")
    await page.get_by_test_id("closed-banner").wait_for()

    assert (await page.locator(".banner-text").inner_text()).startswith(
        "There is no such game on this host"
    )
    assert await page.get_by_test_id("name-form").is_hidden()
    assert await page.get_by_test_id("retry-button").is_hidden()
    # The one console error is the browser's own line for that 404.
    strict_page.problems = [p for p in strict_page.problems if "404" not in p]


async def test_an_empty_name_is_answered_with_what_to_type(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host = headless_host("Sprint 42")
    page = await strict_page(host.url)
    await page.goto(host.url)

    await page.get_by_test_id("name-input").fill("   ")
    await page.get_by_test_id("name-submit").click()

    assert await page.get_by_test_id("error").inner_text() == "Type your name first."
    assert await page.get_by_test_id("name-form").is_visible()


async def test_a_long_error_on_a_phone_takes_the_screens_width(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host = headless_host("Sprint 42", "--passcode", "sesame")
    page = await strict_page(host.url)
    await page.set_viewport_size({"width": 360, "height": 740})
    await page.goto(host.url)

    await page.get_by_test_id("name-input").fill("Ada")
    await page.get_by_test_id("passcode-input").fill("wrong guess")
    await page.get_by_test_id("name-submit").click()
    toast = page.get_by_test_id("error")
    await toast.wait_for()
    box = await toast.bounding_box()

    assert box is not None
    assert box["width"] >= 0.8 * 360  # once half the screen: five lines
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 360
    assert await page.get_by_test_id("connection").inner_text() == "passcode needed"


# --- cards and keys -----------------------------------------------------------


async def test_digit_keys_pick_the_cards_they_show(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    # Bob has not voted, so Ada's cards do not reveal the round.
    _, (ada, _) = await seated(headless_host, strict_page, "Ada", "Bob")
    keys = await ada.locator("[data-testid=card] .card-key").all_inner_texts()

    await ada.keyboard.press("8")
    await ada.locator('[data-testid=card][data-card="8"].is-selected').wait_for()
    after_eight = await pressed(ada)
    await ada.keyboard.press("4")  # the first digit no card shows: 13's key
    await ada.locator('[data-testid=card][data-card="13"].is-selected').wait_for()
    after_four = await pressed(ada)
    await ada.keyboard.press("?")
    await ada.locator('[data-testid=card][data-card="?"].is-selected').wait_for()
    after_question = await pressed(ada)
    await ada.keyboard.press("?")  # the same key again takes the card back
    await ada.locator("[data-testid=card].is-selected").wait_for(state="detached")

    assert keys == [*"0123584679", "", "?", "C"]
    assert after_eight == ["8"]
    assert after_four == ["13"]
    assert after_question == ["?"]
    assert await pressed(ada) == []


# Outside its card: the label's box reaches past the button's (1 px slack).
SPILLED_LABELS = """() => [...document.querySelectorAll(
    "[data-testid=card], .seat-card-value")].filter((node) => {
  const label = node.matches(".seat-card-value") ? node : node.firstElementChild;
  const box = (node.matches(".seat-card-value") ? node.parentElement : node)
    .getBoundingClientRect();
  const r = label.getBoundingClientRect();
  return r.width > 0 && (r.left < box.left - 1 || r.right > box.right + 1);
}).map((node) => node.textContent)"""


@pytest.mark.parametrize("width", [360, 1280])
async def test_cards_of_eight_characters_fit_inside_their_cards(
    headless_host: Callable[..., Any], strict_page: Any, width: int
) -> None:
    _, (ada, bob) = await seated(headless_host, strict_page, "Ada", "Bob")
    cards = [f"{c}{n}234567"[:8] for c in "XYZ" for n in range(6)][:20]
    for page in (ada, bob):
        await page.set_viewport_size({"width": width, "height": 800})
    await ada.get_by_test_id("deck-select").select_option("custom")
    await ada.get_by_test_id("custom-cards").fill(" ".join(cards))
    await ada.get_by_test_id("custom-save").click()
    await bob.locator(f'[data-testid=card][data-card="{cards[-1]}"]').wait_for()

    await ada.locator(f'[data-testid=card][data-card="{cards[0]}"]').click()
    await bob.locator(f'[data-testid=card][data-card="{cards[1]}"]').click()
    await bob.locator("body.is-revealed").wait_for()
    await bob.wait_for_timeout(800)  # the flip ends

    assert await bob.evaluate(SPILLED_LABELS) == []
    assert await scroll_overflow(bob) <= 0


# Tags that reach past their seat, and table buttons past the table's centre.
SPILLED_TAGS = """() => [...document.querySelectorAll(
    ".seat .tag, .table-center .button")].filter((node) => {
  const box = node.closest(".seat, .table-center").getBoundingClientRect();
  const r = node.getBoundingClientRect();
  return r.width > 0 && (r.left < box.left - 1 || r.right > box.right + 1);
}).map((node) => node.textContent)"""


async def test_an_away_facilitators_tags_and_the_take_over_button_stay_inside(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    long_name = "Maximilian von Habsburg-Lothringen"
    _, (ada, bob) = await seated(headless_host, strict_page, long_name, "Bob")
    await ada.close()
    # The button comes once the facilitator has been away for a while.
    await bob.get_by_test_id("claim-button").wait_for(
        timeout=(poker.CLAIM_AFTER + 15) * 1000
    )

    spilled = {}
    for width in (360, 1280):
        await bob.set_viewport_size({"width": width, "height": 800})
        await bob.locator(".tag.is-away").wait_for()
        spilled[width] = await bob.evaluate(SPILLED_TAGS)

    assert spilled == {360: [], 1280: []}


async def test_letter_keys_pick_t_shirt_sizes(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host = headless_host("Sizes", "--deck", "tshirt")
    ada = await strict_page(host.url)
    bob = await strict_page(host.url)
    await take_seat(ada, host.url, "Ada")
    await take_seat(bob, host.url, "Bob")  # so that Ada's card does not reveal
    keys = await ada.locator("[data-testid=card] .card-key").all_inner_texts()
    picked = []

    for key, card in (("m", "M"), ("X", "XS"), ("1", "XL"), ("l", "L")):
        await ada.keyboard.press(key)
        await ada.locator(
            f'[data-testid=card][data-card="{card}"].is-selected'
        ).wait_for()
        picked.append(await pressed(ada))

    assert keys == ["X", "S", "M", "L", "1", "2", "?"]
    assert picked == [["M"], ["XS"], ["XL"], ["L"]]


async def test_keys_typed_in_a_field_do_not_vote(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    _, (ada,) = await seated(headless_host, strict_page, "Ada")

    await ada.get_by_test_id("new-story-input").press_sequentially("5 13")
    await ada.wait_for_timeout(300)

    assert await pressed(ada) == []


# --- the reveal ---------------------------------------------------------------


async def test_all_cards_flip_together_on_the_reveal(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    _, (ada, bob, cyd) = await seated(headless_host, strict_page, "Ada", "Bob", "Cyd")
    await ada.locator('[data-testid=card][data-card="3"]').click()
    await bob.locator('[data-testid=card][data-card="5"]').click()
    await cyd.locator("[data-testid=seat].is-voted >> nth=1").wait_for()

    await cyd.locator('[data-testid=card][data-card="8"]').click()
    await cyd.locator("body.is-revealed").wait_for()
    starts = await cyd.evaluate(
        """() => [...document.querySelectorAll('.seat-card-inner')].map(
             (n) => n.getAnimations().map((a) => a.startTime))"""
    )

    assert [len(s) for s in starts] == [1, 1, 1], starts
    assert len({s[0] for s in starts}) == 1, f"flips started apart: {starts}"


async def test_the_reveal_is_read_out_to_screen_readers(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    _, (ada, bob) = await seated(headless_host, strict_page, "Ada", "Bob")
    live = await bob.get_by_test_id("announcer").get_attribute("aria-live")

    await ada.locator('[data-testid=card][data-card="5"]').click()
    await bob.locator('[data-testid=card][data-card="5"]').click()
    await bob.locator("body.is-revealed").wait_for()
    said = await bob.get_by_test_id("announcer").text_content()

    assert live == "polite"
    assert said.startswith("Cards revealed. 2 votes. Mean 5, median 5.")
    assert "Consensus" in said


async def test_consensus_is_calm_under_reduced_motion(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    _, (ada, bob) = await seated(headless_host, strict_page, "Ada", "Bob")
    await bob.emulate_media(reduced_motion="reduce")
    await ada.locator('[data-testid=card][data-card="5"]').click()

    await bob.locator('[data-testid=card][data-card="5"]').click()
    await bob.locator("body.is-revealed.is-consensus").wait_for()
    moving = []
    for _ in range(10):  # over half a second: the flip, the chart, the burst
        moving += await bob.evaluate(
            """() => document.getAnimations()
                 .filter((a) => a.playState === 'running'
                   && a.effect.getComputedTiming().duration > 1)
                 .map((a) => a.animationName || a.transitionProperty)"""
        )
        await bob.wait_for_timeout(50)

    assert await bob.get_by_test_id("consensus").is_visible()
    assert moving == []


async def test_consensus_is_celebrated_with_motion_by_default(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    _, (ada, bob) = await seated(headless_host, strict_page, "Ada", "Bob")
    await ada.locator('[data-testid=card][data-card="5"]').click()

    await bob.locator('[data-testid=card][data-card="5"]').click()
    await bob.locator("body.is-revealed.is-consensus").wait_for()
    running = await bob.evaluate(
        "() => document.getAnimations().map((a) => a.animationName).filter(Boolean)"
    )

    assert await bob.locator(".consensus-text").inner_text() == "Consensus on 5!"
    assert "confetti" in running


# --- dark mode ----------------------------------------------------------------


async def test_dark_mode_follows_the_system(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    _, (ada,) = await seated(headless_host, strict_page, "Ada")
    background = "getComputedStyle(document.body).backgroundColor"

    await ada.emulate_media(color_scheme="light")
    light = await ada.evaluate(background)
    await ada.emulate_media(color_scheme="dark")
    dark = await ada.evaluate(background)

    assert light != dark
    assert sum(map(int, dark[4:-1].split(","))) < 100, dark


# --- accessibility ------------------------------------------------------------


CONTROL_ROLES = {
    "button",
    "checkbox",
    "combobox",
    "link",
    "listbox",
    "radio",
    "searchbox",
    "slider",
    "spinbutton",
    "switch",
    "textbox",
    "ToggleButton",
}


async def unnamed_controls(page: Any) -> list[str]:
    """Controls in the accessibility tree that have no accessible name."""
    cdp = await page.context.new_cdp_session(page)
    tree = await cdp.send("Accessibility.getFullAXTree")
    await cdp.detach()
    missing = []
    for node in tree["nodes"]:
        role = node.get("role", {}).get("value")
        if node.get("ignored") or role not in CONTROL_ROLES:
            continue
        if not str(node.get("name", {}).get("value", "")).strip():
            missing.append(f"{role} (backend node {node.get('backendDOMNodeId')})")
    return missing


async def test_every_control_has_an_accessible_name(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host = headless_host("Sprint 42")
    ada = await strict_page(host.url)
    bob = await strict_page(host.url)
    await ada.goto(host.url)
    name_form = await unnamed_controls(ada)
    await take_seat(ada, host.url, "Ada")
    await take_seat(bob, host.url, "Bob")
    await ada.get_by_test_id("add-title").fill("Log in with SSO")
    await ada.get_by_test_id("add-submit").click()
    await ada.get_by_test_id("backlog-item").wait_for()
    voting = await unnamed_controls(ada)
    await ada.locator('[data-testid=card][data-card="5"]').click()
    await ada.get_by_test_id("reveal-button").click()
    await ada.get_by_test_id("estimate-form").wait_for()
    revealed = await unnamed_controls(ada) + await unnamed_controls(bob)

    assert name_form == []
    assert voting == []
    assert revealed == []


async def tab_order(page: Any, presses: int) -> list[str]:
    """What Tab visits from the top of the page, as test ids (or tag names)."""
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    await page.evaluate("window.scrollTo(0, 0)")
    visited = []
    for _ in range(presses):
        await page.keyboard.press("Tab")
        visited.append(
            await page.evaluate(
                """() => { const a = document.activeElement;
                   return a.dataset.testid || a.dataset.action || a.tagName; }"""
            )
        )
    return visited


async def test_tab_goes_through_the_table_in_reading_order(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    _, (ada, bob) = await seated(headless_host, strict_page, "Ada", "Bob")
    await bob.locator('[data-testid=card][data-card="8"]').click()
    await ada.get_by_test_id("reveal-button").and_(ada.locator(":enabled")).wait_for()

    visited = await tab_order(ada, 60)

    main = [
        "story-edit",
        "reveal-button",
        "role-voter",
        "role-observer",
        *["card"] * 13,
        "new-story-input",
        "new-round-button",
        "auto-reveal",
        "away-timeout",
        "deck-select",
    ]
    assert visited[: len(main)] == main, visited
    assert visited.index("copy-button") > visited.index("deck-select"), visited


async def test_a_player_tabs_from_the_role_to_the_cards_to_the_invite(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    _, (_, bob) = await seated(headless_host, strict_page, "Ada", "Bob")

    visited = await tab_order(bob, 16)

    assert visited == ["role-voter", "role-observer", *["card"] * 13, "copy-button"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_text_meets_aa_contrast(
    headless_host: Callable[..., Any], strict_page: Any, scheme: str
) -> None:
    host = headless_host("Sprint 42")
    ada = await strict_page(host.url)
    bob = await strict_page(host.url)
    cyd = await strict_page(host.url)
    for page in (ada, bob, cyd):
        await page.emulate_media(color_scheme=scheme, reduced_motion="reduce")
    await ada.goto(host.url)
    measured = await ada.evaluate(CONTRAST_JS)
    await take_seat(ada, host.url, "Ada")
    await take_seat(bob, host.url, "Bob")
    await take_seat(cyd, host.url, "Cyd")
    await cyd.get_by_test_id("role-observer").click()
    await ada.get_by_test_id("add-title").fill("Log in with SSO")
    await ada.get_by_test_id("add-key").fill("PROJ-1")
    await ada.get_by_test_id("add-submit").click()
    await ada.get_by_test_id("next-story").click()
    await ada.get_by_test_id("timer-start").click()
    await ada.locator('[data-testid=card][data-card="5"]').click()
    await bob.get_by_test_id("timer").wait_for()
    for page in (ada, bob):
        measured += await page.evaluate(CONTRAST_JS)
    await bob.locator('[data-testid=card][data-card="13"]').click()
    await ada.locator("body.is-revealed").wait_for()
    await ada.get_by_test_id("estimate-cards").get_by_text("8", exact=True).click()
    for page in (ada, bob):
        measured += await page.evaluate(CONTRAST_JS)
    await ada.get_by_test_id("estimate-save").click()
    await ada.get_by_test_id("final-recorded").wait_for()
    await ada.get_by_test_id("next-round-button").click()
    await ada.locator("body:not(.is-revealed)").wait_for()
    await ada.locator('[data-testid=card][data-card="5"]').click()
    await bob.locator('[data-testid=card][data-card="5"]').click()
    await ada.locator("body.is-consensus").wait_for()
    for page in (ada, bob, cyd):
        measured += await page.evaluate(CONTRAST_JS)

    for large in (False, True):
        worst = min(
            (m for m in measured if m["large"] is large), key=lambda m: m["ratio"]
        )
        print(f"{scheme}, {'large' if large else 'normal'} text: lowest {worst}")
    assert failing(measured) == [], "\n".join(failing(measured))
