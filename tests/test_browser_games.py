"""The list page of a headless host with many games, in a real Chromium:
create a game from the form and land at its table; see the host's games."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)


async def test_new_game_form_creates_a_game_and_opens_its_table(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host = headless_host("Front door")
    page = await strict_page(host.url)
    await page.goto(f"{host.url}games")

    await page.get_by_test_id("create-title").fill("Team Orange")
    await page.get_by_test_id("create-deck").select_option("tshirt")
    await page.get_by_test_id("create-submit").click()
    await page.wait_for_url("**/?game=*")
    await page.get_by_test_id("name-input").fill("Ada")
    await page.get_by_test_id("name-submit").click()
    title = page.get_by_test_id("game-title").filter(has_text="Team Orange")
    await title.wait_for()

    assert "?game=" in page.url
    assert await page.get_by_test_id("all-games").get_attribute("href") == "/games"


async def test_the_list_shows_every_game_with_a_join_link(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host = headless_host("Front door")
    page = await strict_page(host.url)
    await page.goto(f"{host.url}games")
    await page.get_by_test_id("create-title").fill("Team Blue")
    await page.get_by_test_id("create-submit").click()
    await page.wait_for_url("**/?game=*")

    await page.goto(f"{host.url}games")
    items = page.get_by_test_id("host-games").locator("li")
    await items.nth(1).wait_for()

    titles = sorted(await items.locator(".game-item-title").all_inner_texts())
    assert titles == ["Front door", "Team Blue"]
    links = await page.get_by_test_id("host-game-join").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    assert all(link.startswith("/?game=") for link in links)
