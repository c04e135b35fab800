"""A whole session across devices: three teammates in Chromium and one in the
desktop app play two rounds with two decks, and the facilitator exports the
results.

Like two computers on one LAN: the host (`poker.py --headless`) runs in
namespace A; the desktop app (a real Qt window under Xvfb) and the three
Chromium players run in namespace B. The desktop player acts only as a
person would: it types the host's address into its lobby and presses a
card's shortcut key, both through the keyboard of the virtual display
(xdotool). Every Chromium page fails the test on a console error or on a
request to anywhere but the host (or, for the lobby, the app itself).
"""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import Netns, NetnsPair, need
from test_browser import take_seat
from test_window import (
    LOBBY_KEY,
    App,
    colour_count,
    desktop_app,  # noqa: F401 (a fixture, used by name)
    log_text,
    screenshot,
    wait_for,
)

pytestmark = pytest.mark.timeout(240)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WIDTHS = ((1280, 800), (360, 740))  # a desktop and the narrowest phone
# How far apart the keys xdotool types are, in ms: the web view keeps up.
TYPE_DELAY = "40"


def xdotool(display: str, *args: str) -> str:
    """Run xdotool on the virtual display; its stdout."""
    done = subprocess.run(
        ["xdotool", *args],
        env={"DISPLAY": display, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=15,
        check=True,
    )
    return done.stdout


class Window:
    """The desktop app's window, driven by keyboard and mouse like a person."""

    def __init__(self, display: str) -> None:
        self.display = display
        found = wait_for(
            lambda: self._find(), 15, "the app's window on the virtual display"
        )
        self.id = found

    def _find(self) -> str | None:
        """The id of the visible window named like the app, if there is one."""
        try:
            out = xdotool(
                self.display, "search", "--onlyvisible", "--name", "Planning Poker"
            )
        except subprocess.CalledProcessError:
            return None
        ids = out.split()
        return ids[-1] if ids else None

    def click(self, x: int, y: int) -> None:
        """Click at (x, y) inside the window, which also gives it the keys."""
        xdotool(self.display, "windowfocus", "--sync", self.id)
        xdotool(self.display, "mousemove", "--window", self.id, str(x), str(y))
        xdotool(self.display, "click", "1")

    def keys(self, *names: str) -> None:
        """Press keys (X keysym names: Tab, Return, m, 7)."""
        xdotool(self.display, "key", "--delay", TYPE_DELAY, *names)

    def type(self, text: str) -> None:
        """Type text into whatever has the focus."""
        xdotool(self.display, "type", "--delay", TYPE_DELAY, text)


async def shoot(page: Any, name: str) -> list[Path]:
    """Screenshots of a page at desktop and phone widths, checked not blank."""
    ARTIFACTS.mkdir(exist_ok=True)
    shots = []
    for width, height in WIDTHS:
        await page.set_viewport_size({"width": width, "height": height})
        await page.evaluate("window.scrollTo(0, 0)")
        await page.wait_for_timeout(900)  # the flip and the chart settle
        path = ARTIFACTS / f"e2e-{name}-{width}.png"
        await page.screenshot(path=str(path), full_page=True)
        shots.append(path)
    await page.set_viewport_size({"width": 1280, "height": 800})
    return shots


def not_blank(paths: list[Path]) -> dict[str, int]:
    """Pictures with too few colours to be anything but blank."""
    counts = {path.name: colour_count(path) for path in paths}
    return {name: count for name, count in counts.items() if count <= 50}


async def tabs_to(page: Any, testid: str, limit: int = 30) -> int:
    """How many Tabs from the page's header reach the element *testid*."""
    await page.locator("header").click(position={"x": 5, "y": 5})
    for count in range(1, limit + 1):
        await page.keyboard.press("Tab")
        if await page.evaluate(
            "(id) => document.activeElement.dataset.testid === id", testid
        ):
            return count
    pytest.fail(f"{limit} Tabs never reached {testid}", pytrace=False)


async def downloaded(download: Any) -> str:
    """The text of a file the page downloaded (a BOM dropped)."""
    path = await (await download.value).path()
    return (await asyncio.to_thread(Path(path).read_bytes)).decode("utf-8-sig")


async def seat_card(page: Any, name: str) -> str:
    """The card shown face up at *name*'s seat."""
    seat = page.get_by_test_id("seat").filter(
        has=page.locator(".seat-name", has_text=name)
    )
    return await seat.locator(".seat-card-value").inner_text()


async def test_three_browsers_and_the_desktop_app_play_two_rounds_and_export(
    netns_pair: NetnsPair,
    headless_host: Callable[..., Any],
    desktop_app: Callable[[Netns], App],  # noqa: F811 (the imported fixture)
    chromium: Callable[..., Any],
    strict_page: Any,
    xvfb_display: str,
) -> None:
    need(shutil.which("xdotool"), "xdotool is not installed (Debian: xdotool)")
    host = headless_host("Sprint 42", netns=netns_pair.a)
    browser = await chromium(netns=netns_pair.b)
    ada, bob, cyd = [await strict_page(host.url, browser=browser) for _ in range(3)]
    for page, name in ((ada, "Ada"), (bob, "Bob"), (cyd, "Cyd")):
        await take_seat(page, host.url, name)
    app = desktop_app(netns_pair.b)
    app.call("/api/local/name", {"name": "Dee"})
    lobby_url = f"http://127.0.0.1:{app.lobby_port}/"
    lobby = await strict_page(lobby_url, browser=browser)
    await lobby.goto(f"{lobby_url}?key={LOBBY_KEY}")
    await lobby.get_by_test_id("found-game").wait_for(timeout=15_000)
    shots = await shoot(lobby, "lobby")
    tabs = await tabs_to(lobby, "join-address")
    await lobby.close()  # it polls the app; the window is the player here
    shots.append(screenshot(xvfb_display, "e2e-window-lobby"))

    # Dee joins from the desktop app's lobby by typing the host's address.
    window = Window(xvfb_display)
    window.click(5, 5)
    window.keys(*["Tab"] * tabs)
    window.type(f"{host.address}:{host.port}")
    window.keys("Return")
    wait_for(
        lambda: f"({host.url})" in log_text(app.data_dir),
        20,
        "the window to open the game page",
    )
    await ada.get_by_test_id("seat").filter(has_text="Dee").wait_for()

    # Round 1, Fibonacci: the browsers vote; the window's "7" is its 13.
    await ada.get_by_test_id("story-edit").click()
    await ada.get_by_test_id("story-input").fill("Log in with SSO")
    await ada.get_by_test_id("story-save").click()
    await ada.locator('[data-testid=card][data-card="5"]').click()
    await bob.locator('[data-testid=card][data-card="8"]').click()
    await cyd.locator('[data-testid=card][data-card="5"]').click()
    await bob.locator("[data-testid=seat].is-voted >> nth=2").wait_for()
    shots += await shoot(bob, "voting")
    shots.append(screenshot(xvfb_display, "e2e-window-voting"))
    window.click(550, 18)  # the title: nothing there to press
    window.keys("4")  # 13: the first digit no card of the deck shows
    await bob.locator("body.is-revealed").wait_for()
    first = {name: await seat_card(bob, name) for name in ("Ada", "Bob", "Cyd", "Dee")}
    shots += await shoot(bob, "revealed")
    shots.append(screenshot(xvfb_display, "e2e-window-revealed"))

    # Round 2, T-shirt sizes: the window's "m" is M.
    await ada.get_by_test_id("new-story-input").fill("Search by tag")
    await ada.get_by_test_id("new-round-button").click()
    await bob.locator("body:not(.is-revealed)").wait_for()
    await ada.get_by_test_id("deck-select").select_option("tshirt")
    await bob.locator('[data-testid=card][data-card="XL"]').wait_for()
    await ada.locator('[data-testid=card][data-card="M"]').click()
    await bob.locator('[data-testid=card][data-card="L"]').click()
    await cyd.locator('[data-testid=card][data-card="M"]').click()
    await bob.locator("[data-testid=seat].is-voted >> nth=2").wait_for()
    window.keys("m")
    await bob.locator("body.is-revealed").wait_for()
    second = {name: await seat_card(bob, name) for name in ("Ada", "Bob", "Cyd", "Dee")}
    sizes_note = await bob.get_by_test_id("result-count").inner_text()
    shots += await shoot(ada, "revealed-sizes")

    # The facilitator exports the session: the downloads a click gives.
    async with ada.expect_download() as csv_download:
        await ada.get_by_test_id("export-csv").click()
    async with ada.expect_download() as md_download:
        await ada.get_by_test_id("export-md").click()
    rows = list(csv.reader(io.StringIO(await downloaded(csv_download))))
    markdown = await downloaded(md_download)

    assert first == {"Ada": "5", "Bob": "8", "Cyd": "5", "Dee": "13"}
    assert second == {"Ada": "M", "Bob": "L", "Cyd": "M", "Dee": "M"}
    assert sizes_note == "4 cards, no numbers"
    assert rows[0][-4:] == ["Ada", "Bob", "Cyd", "Dee"]
    assert [row[1] for row in rows[1:]] == ["Log in with SSO", "Search by tag"]
    assert rows[1][-4:] == ["5", "8", "5", "13"]
    assert rows[2][-4:] == ["M", "L", "M", "M"]
    assert "| Search by tag |" in markdown
    assert not_blank(shots) == {}
