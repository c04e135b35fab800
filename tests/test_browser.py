"""Teammates without the app: the game page in a real Chromium.

The host is a real `poker.py --headless` on loopback (no discovery); every
page fails the test on a console error or a request that leaves the host.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from conftest import ROOT

pytestmark = pytest.mark.timeout(120)

ARTIFACTS = ROOT / "test-artifacts"


async def take_seat(page: Any, url: str, name: str) -> None:
    """Open the game page and sit down under ``name``."""
    await page.goto(url)
    await page.get_by_test_id("name-input").fill(name)
    await page.get_by_test_id("name-submit").click()
    await page.get_by_test_id("connection").filter(has_text="connected").wait_for()


async def seated(
    headless_host: Callable[..., Any], strict_page: Any, *names: str
) -> tuple[Any, list[Any]]:
    """A host and one strict page per name, each seated under that name."""
    host = headless_host("Sprint 42")
    pages = [await strict_page(host.url) for _ in names]
    for page, name in zip(pages, names, strict=True):
        await take_seat(page, host.url, name)
    return host, pages


def record_frames(page: Any) -> list[str]:
    """Keep every websocket frame the page receives, as raw text."""
    frames: list[str] = []
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framereceived",
            lambda payload: frames.append(
                payload
                if isinstance(payload, str)
                else payload.decode("utf-8", "replace")
            ),
        ),
    )
    return frames


def votes_seen(frames: list[str]) -> set[str]:
    """Every card value that appears in a seat record of these frames."""
    seen: set[str] = set()
    for raw in frames:
        message = json.loads(raw)
        seats = []
        if message["type"] == "state":
            seats = message["game"]["seats"]
        elif message["type"] == "seat":
            seats = [message["seat"]]
        seen.update(s["vote"] for s in seats if s.get("vote") is not None)
    return seen


async def test_two_browser_players_vote_and_see_the_reveal_together(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host = headless_host("Sprint 42")
    ada = await strict_page(host.url)
    bob = await strict_page(host.url)
    bob_frames = record_frames(bob)
    await take_seat(ada, host.url, "Ada")
    await take_seat(bob, host.url, "Bob")

    await ada.locator('[data-testid=card][data-card="8"]').click()
    await bob.locator("[data-testid=seat].is-voted").wait_for()
    before_reveal = votes_seen(bob_frames)
    await bob.locator('[data-testid=card][data-card="13"]').click()
    await ada.locator("body.is-revealed").wait_for()
    await bob.locator("body.is-revealed").wait_for()

    assert before_reveal == set()
    for page in (ada, bob):
        assert await page.get_by_test_id("result-mean").inner_text() == "10.5"
        assert await page.get_by_test_id("result-median").inner_text() == "10.5"
    assert votes_seen(bob_frames) == {"8", "13"}
    assert await ada.get_by_test_id("seat").count() == 2


async def test_the_facilitator_reveals_early_and_starts_a_new_round(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host = headless_host("Sprint 42")
    ada = await strict_page(host.url)
    bob = await strict_page(host.url)
    await take_seat(ada, host.url, "Ada")
    await take_seat(bob, host.url, "Bob")
    await ada.locator('[data-testid=card][data-card="5"]').click()
    await bob.locator("[data-testid=seat].is-voted").wait_for()

    await ada.get_by_test_id("reveal-button").click()
    await bob.locator("body.is-revealed").wait_for()
    mean_after_reveal = await bob.get_by_test_id("result-mean").inner_text()
    await ada.get_by_test_id("next-round-button").click()
    await bob.locator("body:not(.is-revealed)").wait_for()

    assert mean_after_reveal == "5"
    assert await bob.locator("[data-testid=seat].is-voted").count() == 0
    assert await bob.get_by_test_id("reveal-button").is_hidden()


async def test_the_page_shows_the_join_address_and_a_qr_code(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host = headless_host("Sprint 42")
    page = await strict_page(host.url)

    await take_seat(page, host.url, "Ada")
    join_url = await page.get_by_test_id("join-url").inner_text()
    qr = await page.request.get(host.url + "qr.svg")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "browser-table.png"), full_page=True)

    assert join_url.strip().rstrip("/").endswith(f":{host.port}")
    assert qr.status == 200
    assert (await qr.text()).lstrip().startswith("<svg")
