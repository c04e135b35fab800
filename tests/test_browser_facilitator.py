"""The facilitator runs a session from the page in a real Chromium: backlog,
CSV import, timer, final estimate, results and export.

The host is a real `poker.py --headless` on loopback (no discovery); every
page fails the test on a console error or a request that leaves the host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import poker
from conftest import ROOT
from test_browser import seated, take_seat

pytestmark = pytest.mark.timeout(120)

ARTIFACTS = ROOT / "test-artifacts"
IMPORT = 'Summary,Issue key\r\nSearch by tag,PROJ-3\r\n"Export, as CSV",PROJ-4\r\n'


async def shoot(page: Any, name: str) -> None:
    """Screenshots of the page, wide and phone-sized, for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.wait_for_timeout(1000)  # the card flip and panels settle
    for width, height in ((1280, 800), (375, 740)):
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(
            path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True
        )
    await page.set_viewport_size({"width": 1280, "height": 800})


async def test_the_facilitator_runs_a_session_from_the_page(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host, (ada, bob) = await seated(headless_host, strict_page, "Ada", "Bob")

    # The backlog: one story typed, two imported from a CSV file.
    await ada.get_by_test_id("add-title").fill("Log in with SSO")
    await ada.get_by_test_id("add-key").fill("PROJ-1")
    await ada.get_by_test_id("add-submit").click()
    await ada.get_by_test_id("import-file").set_input_files(
        {"name": "jira.csv", "mimeType": "text/csv", "buffer": IMPORT.encode()}
    )
    await ada.get_by_test_id("import-sample").get_by_text("PROJ-4").wait_for()
    preview = await ada.get_by_test_id("import-summary").inner_text()
    await ada.get_by_test_id("import-commit").click()
    await bob.get_by_test_id("backlog-item").nth(2).wait_for()

    # The first story, a timer, two votes.
    await ada.get_by_test_id("next-story").click()
    await bob.get_by_test_id("story").filter(has_text="Log in with SSO").wait_for()
    await ada.get_by_test_id("timer-start").click()
    await bob.get_by_test_id("timer").wait_for()
    timer = await bob.get_by_test_id("timer").inner_text()
    await shoot(ada, "facilitator-voting")
    await ada.locator('[data-testid=card][data-card="5"]').click()
    await bob.locator('[data-testid=card][data-card="8"]').click()
    await ada.locator("body.is-revealed").wait_for()
    low = await bob.locator("[data-testid=seat].is-low").inner_text()

    # The final estimate, and on to the next story.
    await ada.get_by_test_id("estimate-cards").get_by_text("8", exact=True).click()
    await shoot(ada, "facilitator-revealed")
    await ada.get_by_test_id("estimate-save").click()
    await bob.get_by_test_id("story").filter(has_text="Search by tag").wait_for()
    row = await bob.get_by_test_id("results-row").first.inner_text()
    await shoot(bob, "player-results")
    href = await ada.get_by_test_id("export-csv").get_attribute("href")
    export = await ada.request.get(host.url.rstrip("/") + href)
    body = await export.body()

    assert preview == "jira.csv: 2 stories to import."
    assert timer in ("1:00", "0:59", "0:58")
    assert "Ada" in low
    assert row.split("\t")[1:3] == ["Log in with SSO", "8"]
    assert body.startswith(b"\xef\xbb\xbf")
    lines = body.decode("utf-8-sig").splitlines()
    assert lines[1].startswith("PROJ-1,Log in with SSO,8,6.5,6.5,no,1,5,8")
    assert lines[3] == 'PROJ-4,"Export, as CSV",,,,,0,,'


async def test_a_deck_change_over_votes_asks_first_and_a_custom_deck_follows(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    _, (ada, bob) = await seated(headless_host, strict_page, "Ada", "Bob")
    await bob.locator('[data-testid=card][data-card="8"]').click()
    await ada.locator("[data-testid=seat].is-voted").wait_for()

    await ada.get_by_test_id("deck-select").select_option("custom")
    await ada.get_by_test_id("custom-cards").fill("👍 👎 🤷🏽‍♀️ ∞")
    await ada.get_by_test_id("custom-save").click()
    await ada.get_by_test_id("deck-confirm").wait_for()
    asked = await ada.get_by_test_id("deck-confirm").inner_text()
    still_voted = await bob.locator("[data-testid=seat].is-voted").count()
    await ada.get_by_test_id("deck-confirm-yes").click()
    await bob.locator('[data-testid=card][data-card="🤷🏽‍♀️"]').wait_for()

    assert "clears the 1 vote" in asked
    assert still_voted == 1
    assert await bob.locator("[data-testid=seat].is-voted").count() == 0
    assert await bob.get_by_test_id("card").count() == 4


async def test_the_facilitator_passes_the_role_and_removes_a_player(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    _, (ada, bob, cyd) = await seated(headless_host, strict_page, "Ada", "Bob", "Cyd")
    await ada.get_by_test_id("player").nth(1).wait_for()

    await (
        ada.get_by_test_id("player")
        .filter(has_text="Cyd")
        .get_by_test_id("remove-button")
        .click()
    )
    await ada.get_by_test_id("remove-reason").fill("Wrong meeting, sorry!")
    await ada.get_by_test_id("remove-yes").click()
    await cyd.get_by_test_id("closed-banner").wait_for()
    told = await cyd.get_by_test_id("closed-banner").inner_text()
    tokens_kept = await cyd.evaluate(
        "Object.keys(localStorage).filter(k => k.startsWith('poker.token.'))"
    )
    await (
        ada.get_by_test_id("player")
        .filter(has_text="Bob")
        .get_by_test_id("pass-button")
        .click()
    )
    await bob.get_by_test_id("controls").wait_for()

    assert "The facilitator removed you from the game: Wrong meeting, sorry!" in told
    assert tokens_kept == []  # joining again is a new seat, by her own choice
    assert await ada.get_by_test_id("controls").is_hidden()
    assert await ada.get_by_test_id("seat").count() == 2


async def test_a_player_takes_over_the_table_when_the_facilitator_is_away(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host, (ada, bob) = await seated(headless_host, strict_page, "Ada", "Bob")
    await bob.get_by_test_id("seat").nth(1).wait_for()
    hidden_while_here = await bob.get_by_test_id("claim-button").is_hidden()

    await ada.close()  # her laptop is gone, and her seat token with it
    await bob.locator(".tag.is-away").wait_for()
    await bob.wait_for_timeout(poker.CLAIM_AFTER * 1000 - 5000)
    hidden_for_a_while = await bob.get_by_test_id("claim-button").is_hidden()
    claim = bob.get_by_test_id("claim-button")
    await claim.wait_for(timeout=15_000)
    offered = await claim.inner_text()
    await claim.click()
    await bob.get_by_test_id("controls").wait_for()
    again = await strict_page(host.url)
    await take_seat(again, host.url, "Ada")

    assert hidden_while_here
    assert hidden_for_a_while  # a Wi-Fi blip hands the table to nobody
    assert offered == "Ada is away: take over the table"
    assert await bob.get_by_test_id("claim-button").is_hidden()
    assert await again.get_by_test_id("claim-button").is_hidden()
    assert await again.get_by_test_id("controls").is_hidden()


async def test_the_export_link_of_a_locked_game_carries_the_seat_token(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host = headless_host("Sprint 42", "--passcode", "open sesame")
    ada = await strict_page(host.url)
    await ada.goto(host.url)
    await ada.get_by_test_id("name-input").fill("Ada")
    await ada.get_by_test_id("passcode-input").fill("open sesame")
    await ada.get_by_test_id("name-submit").click()
    await ada.get_by_test_id("connection").filter(has_text="connected").wait_for()
    await ada.get_by_test_id("add-title").fill("Locked story")
    await ada.get_by_test_id("add-submit").click()
    await ada.get_by_test_id("next-story").click()
    await ada.locator('[data-testid=card][data-card="5"]').click()
    await ada.locator("body.is-revealed").wait_for()
    await ada.get_by_test_id("results-row").first.wait_for()

    href = await ada.get_by_test_id("export-csv").get_attribute("href")
    base = host.url.rstrip("/")
    with_token = await ada.request.get(base + href)
    without = await ada.request.get(base + href.split("&token=")[0])

    assert "&token=" in href
    assert with_token.status == 200
    assert "Locked story" in (await with_token.body()).decode("utf-8-sig")
    assert without.status == 403


async def test_editing_a_backlog_storys_title_renames_it_in_the_backlog(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    _, (ada, bob) = await seated(headless_host, strict_page, "Ada", "Bob")
    await ada.get_by_test_id("add-title").fill("Log in with SSO")
    await ada.get_by_test_id("add-key").fill("PROJ-1")
    await ada.get_by_test_id("add-submit").click()
    await ada.get_by_test_id("next-story").click()
    await bob.get_by_test_id("story").filter(has_text="Log in with SSO").wait_for()

    await ada.get_by_test_id("story-edit").click()
    await ada.get_by_test_id("story-input").fill("Log in with SAML")
    await ada.get_by_test_id("story-save").click()
    await bob.get_by_test_id("backlog-item").filter(has_text="SAML").wait_for()

    assert await bob.get_by_test_id("story").inner_text() == "Log in with SAML"
    assert await bob.get_by_test_id("story-key").inner_text() == "PROJ-1"
    assert await bob.get_by_test_id("backlog-item").count() == 1


async def test_the_round_counts_the_rounds_of_the_story_under_estimate(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    _, (ada, bob) = await seated(headless_host, strict_page, "Ada", "Bob")
    for title in ("Log in", "Search"):
        await ada.get_by_test_id("add-title").fill(title)
        await ada.get_by_test_id("add-submit").click()
    await bob.get_by_test_id("backlog-item").nth(1).wait_for()
    label = bob.locator("#story-label")

    seen = []
    await ada.get_by_test_id("next-story").click()
    await bob.get_by_test_id("story").filter(has_text="Log in").wait_for()
    seen.append(await label.inner_text())
    for page, card in ((ada, "5"), (bob, "8")):
        await page.locator(f'[data-testid=card][data-card="{card}"]').click()
    await bob.locator("body.is-revealed").wait_for()
    seen.append(await label.inner_text())
    await ada.get_by_test_id("next-round-button").click()  # a re-vote
    await bob.locator("body:not(.is-revealed)").wait_for()
    seen.append(await label.inner_text())
    await ada.get_by_test_id("next-story").click()
    await bob.get_by_test_id("story").filter(has_text="Search").wait_for()
    seen.append(await label.inner_text())

    assert [s.upper() for s in seen] == [
        "STORY · ROUND 1",
        "STORY · ROUND 1",
        "STORY · ROUND 2",
        "STORY · ROUND 1",
    ]
