"""The game page in a real Chromium when things go wrong: the host killed and
resumed, a page busy for 15 s, script in names and stories, and a page of
another origin reaching for the desktop lobby. Hosts are real `poker.py
--headless` processes on loopback (no discovery)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from yarl import URL

import poker
from conftest import _endpoint
from test_browser import take_seat

pytestmark = pytest.mark.timeout(120)

XSS_NAME = "<img src=x onerror=window.__pwned=1>"
XSS_STORY = "<script>window.__pwned=2</script><b onclick=x>bold</b>"


async def two_pages(
    headless_host: Callable[..., Any], strict_page: Any, names: tuple[str, str]
) -> tuple[Any, Any, Any]:
    """A new host, and two pages seated at it under *names*, in order."""
    host = headless_host("Sprint 42")
    pages = [await strict_page(host.url) for _ in names]
    for page, name in zip(pages, names, strict=True):
        await take_seat(page, host.url, name)
    return host, pages[0], pages[1]


async def connected(page: Any) -> None:
    """Wait (up to 15 s) until the page says it is connected."""
    await page.locator("[data-testid=connection].is-connected").wait_for(timeout=15_000)


async def my_seat(page: Any) -> str:
    """The seat id this page plays."""
    return await page.locator("[data-testid=seat].is-you").get_attribute("data-seat-id")


def record_frames(page: Any) -> list[dict[str, Any]]:
    """Every websocket frame the page receives, parsed."""
    frames: list[dict[str, Any]] = []
    page.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda data: frames.append(json.loads(data))),
    )
    return frames


async def test_after_a_kill_and_resume_each_page_gets_its_seat_role_and_card(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host, ada, bob = await two_pages(headless_host, strict_page, ("Ada", "Bob"))
    await ada.locator('[data-testid=card][data-card="8"]').click()
    await bob.get_by_test_id("role-observer").click()
    await ada.locator("[data-testid=seat].is-observer").wait_for()
    await ada.locator("[data-testid=card].is-selected").wait_for()
    before = (await my_seat(ada), await my_seat(bob))

    host.kill()
    await ada.locator("[data-testid=connection].is-reconnecting").wait_for()
    headless_host(None, "--resume", port=host.port, data_dir=host.data_dir)
    await connected(ada)
    await connected(bob)

    assert (await my_seat(ada), await my_seat(bob)) == before
    assert await ada.get_by_test_id("seat").count() == 2
    assert await bob.get_by_test_id("seat").count() == 2
    selected = ada.locator("[data-testid=card].is-selected")
    assert await selected.get_attribute("data-card") == "8"
    assert await bob.locator("body.is-observer").count() == 1
    assert await ada.locator("body.is-facilitator").count() == 1
    # While the host was down Chromium itself logged each refused attempt;
    # those are the browser's notes, not the page's errors.
    strict_page.problems[:] = [
        p for p in strict_page.problems if "ERR_CONNECTION_REFUSED" not in p
    ]


async def test_a_page_busy_for_15_seconds_stays_connected(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host = headless_host("Sprint 42")
    ada = await strict_page(host.url)
    bob = await strict_page(host.url)
    await take_seat(ada, host.url, "Ada")
    ada_frames = record_frames(ada)
    await take_seat(bob, host.url, "Bob")
    bob_seat = await my_seat(bob)

    await bob.evaluate(
        "() => { const end = Date.now() + 15000; while (Date.now() < end); }"
    )
    await bob.wait_for_timeout(1500)  # the timers that waited run now
    await bob.locator('[data-testid=card][data-card="5"]').click()
    await ada.locator("[data-testid=seat].is-voted").wait_for()

    away = [
        f
        for f in ada_frames
        if f["type"] == "seat"
        and f["seat"]["id"] == bob_seat
        and not f["seat"]["connected"]
    ]
    assert away == []
    assert await bob.locator("[data-testid=connection].is-connected").count() == 1
    assert await ada.get_by_test_id("seat").count() == 2


async def test_script_in_names_and_stories_is_shown_as_text(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    _, ada, bob = await two_pages(
        headless_host,
        strict_page,
        (XSS_NAME, "Bob \u202e\U0001f984 \u0639\u0644\u064a"),
    )

    await ada.get_by_test_id("story-edit").click()
    await ada.get_by_test_id("story-input").fill(XSS_STORY)
    await ada.get_by_test_id("story-save").click()
    await bob.get_by_test_id("story").filter(has_text="bold").wait_for()

    for page in (ada, bob):
        assert await page.evaluate("() => window.__pwned") is None
        assert await page.get_by_test_id("story").inner_text() == XSS_STORY
        names = await page.locator(".seat-name").all_inner_texts()
        assert names == [XSS_NAME, "Bob \U0001f984 \u0639\u0644\u064a"]
        assert (
            await page.locator(
                "[data-testid=seats] img, .story script, .story b"
            ).count()
            == 0
        )


async def test_a_full_round_requests_nothing_outside_the_host(
    headless_host: Callable[..., Any], strict_page: Any
) -> None:
    host = headless_host("Sprint 42")
    ada = await strict_page(host.url)
    bob = await strict_page(host.url)
    requests: list[str] = []
    for page in (ada, bob):
        page.on("request", lambda request: requests.append(request.url))
        page.on("websocket", lambda ws: requests.append(ws.url))

    await take_seat(ada, host.url, "Ada")
    await take_seat(bob, host.url, "Bob")
    await ada.locator('[data-testid=card][data-card="3"]').click()
    await bob.locator('[data-testid=card][data-card="5"]').click()
    await bob.locator("body.is-revealed").wait_for()
    await ada.get_by_test_id("next-round-button").click()
    await bob.locator("body:not(.is-revealed)").wait_for()

    hosts = {_endpoint(url) for url in requests if URL(url).scheme not in ("data",)}
    assert hosts == {_endpoint(host.url)}, requests
    assert any(url.startswith("ws://") for url in requests)


# ---------------------------------------------------------------- the lobby


@pytest.fixture
async def lobby(tmp_path: Path) -> AsyncIterator[poker.Host]:
    """A desktop app's host with its loopback lobby and key, no discovery."""
    store = poker.Store(tmp_path / "games.db")
    host = poker.Host(store, "desk", lobby_key="k" * 32)
    host.settings = poker.Settings(tmp_path / "settings.json")
    await host.start_lobby()
    yield host
    await host.stop()
    store.close()


EVIL_PAGE = """<!doctype html><title>evil</title><script>
window.results = {};
async function attempt(name, options) {
  try {
    const response = await fetch(LOBBY + "api/local/host", options);
    window.results[name] = response.status;
  } catch (error) {
    window.results[name] = "blocked";
  }
}
(async () => {
  const body = JSON.stringify({title: "pwned"});
  await attempt("with-key", {method: "POST", body,
    headers: {"X-Poker-Key": KEY, "Content-Type": "application/json"}});
  await attempt("simple", {method: "POST", body, mode: "no-cors",
    headers: {"Content-Type": "text/plain"}});
  await attempt("state", {method: "GET", headers: {"X-Poker-Key": KEY}});
  window.done = true;
})();
</script>"""


async def test_a_page_of_another_origin_cannot_drive_the_lobby(
    lobby: poker.Host, aiohttp_server: Any, browser: Any
) -> None:
    lobby_url = f"http://127.0.0.1:{lobby.lobby_port}/"
    page_text = EVIL_PAGE.replace("LOBBY", json.dumps(lobby_url)).replace(
        "KEY",
        json.dumps(lobby.lobby_key),  # even a page that knows the key
    )

    async def evil_page(request: web.Request) -> web.Response:
        return web.Response(text=page_text, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", evil_page)
    evil = await aiohttp_server(app, host="127.0.0.1")
    page = await (await browser.new_context()).new_page()

    await page.goto(str(evil.make_url("/")))
    await page.wait_for_function("() => window.done === true", timeout=10_000)
    results = await page.evaluate("() => window.results")

    # The header forces a preflight the host never grants; a request simple
    # enough to need none carries no key and is refused.
    assert results["with-key"] == "blocked"
    assert results["state"] == "blocked"
    assert results["simple"] == 0  # opaque: sent, refused, unreadable
    assert lobby.rooms == {}
