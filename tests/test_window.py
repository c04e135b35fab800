"""The desktop app in a real Qt window under Xvfb, inside network namespaces.

The window browses mDNS for its lobby, so it always runs inside a namespace
of ours; a second namespace plays the teammate's computer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT, Netns, NetnsPair, Proc, need

pytestmark = pytest.mark.timeout(180)

ARTIFACTS = ROOT / "test-artifacts"
LOBBY_KEY = "test-lobby-key-not-secret"

# Runs inside a namespace: calls the app's lobby API, prints the JSON answer.
LOBBY_CALL = """
import json, sys, urllib.request
port, key, path = sys.argv[1:4]
body = sys.argv[4].encode() if len(sys.argv) > 4 else None
request = urllib.request.Request(
    f"http://127.0.0.1:{port}{path}", data=body, headers={"X-Poker-Key": key,
    "Content-Type": "application/json"}, method="POST" if body else "GET")
print(urllib.request.urlopen(request, timeout=5).read().decode())
"""

# Runs inside a namespace: one player joins, prints every message type it
# receives (and the goodbye reason), then the close code, and exits.
PLAYER = """
import asyncio, json, sys, aiohttp, yarl
async def main():
    page = yarl.URL(sys.argv[1])
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(page.with_scheme("ws").with_path("/ws"))
        await ws.send_json({"type": "join", "name": sys.argv[2]})
        async for message in ws:
            data = json.loads(message.data)
            print(data["type"], data.get("reason", ""), flush=True)
        print("closed", ws.close_code, flush=True)
asyncio.run(asyncio.wait_for(main(), 60))
"""


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something true, or fail saying what."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}", pytrace=False)


def log_text(data_dir: Path) -> str:
    """What the app logged so far."""
    try:
        return (data_dir / "logs" / "poker.log").read_text(errors="replace")
    except FileNotFoundError:
        return ""


def screenshot(display: str, name: str) -> Path:
    """Capture the whole virtual screen into the artifacts folder."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    subprocess.run(
        ["import", "-display", display, "-window", "root", str(path)],
        check=True,
        timeout=30,
    )
    return path


def colour_count(path: Path) -> int:
    """How many distinct colours a picture holds (a blank one has one)."""
    out = subprocess.run(
        ["identify", "-format", "%k", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return int(out.stdout.strip())


class App:
    """The desktop app running in a namespace, and its lobby API."""

    def __init__(self, proc: Proc, netns: Netns, data_dir: Path) -> None:
        self.proc = proc
        self.netns = netns
        self.data_dir = data_dir

    @property
    def lobby_port(self) -> int:
        """The loopback port the lobby is served on, from the log."""
        found = re.search(
            r"Window opening on http://127\.0\.0\.1:(\d+)/", log_text(self.data_dir)
        )
        assert found, "the app never said where its lobby is"
        return int(found.group(1))

    def call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call the lobby API from inside the app's namespace."""
        argv = [sys.executable, "-c", LOBBY_CALL, str(self.lobby_port), LOBBY_KEY, path]
        if body is not None:
            argv.append(json.dumps(body))
        return json.loads(self.netns.check_output(argv))


@pytest.fixture
def desktop_app(
    poker: Callable[..., Proc], xvfb_display: str, tmp_path: Path
) -> Callable[[Netns], App]:
    """Start `desktop_app(netns)`: the window app, once its lobby page loaded."""
    need(shutil.which("import"), "ImageMagick is not installed (Debian: imagemagick)")

    def start(netns: Netns) -> App:
        data_dir = tmp_path / "app"
        env = dict(
            os.environ,
            DISPLAY=xvfb_display,
            POKER_LOBBY_KEY=LOBBY_KEY,
            QTWEBENGINE_CHROMIUM_FLAGS="--no-sandbox",
        )
        proc = poker(
            "--data-dir",
            str(data_dir),
            "--host-name",
            "deskhost",
            netns=netns,
            env=env,
            name="window",
        )
        wait_for(
            lambda: "Page loaded:" in log_text(data_dir), 60, "the lobby page to load"
        )
        return App(proc, netns, data_dir)

    return start


def test_window_opens_with_the_lobby_and_lists_a_game_on_the_network(
    netns_pair: NetnsPair,
    headless_host: Callable[..., Any],
    desktop_app: Callable[[Netns], App],
    xvfb_display: str,
) -> None:
    headless_host("Sprint 42", "--host-name", "teamhost", netns=netns_pair.b)

    app = desktop_app(netns_pair.a)
    games = wait_for(
        lambda: app.call("/api/local/state")["games"], 15, "the lobby to list the game"
    )
    time.sleep(1.5)  # let the lobby's once-a-second poll draw the game
    shot = screenshot(xvfb_display, "window-lobby")

    assert re.search(r"Page loaded: .*Lobby", log_text(app.data_dir)), log_text(
        app.data_dir
    )
    assert [(g["title"], g["host"]) for g in games] == [("Sprint 42", "teamhost")]
    assert games[0]["url"].startswith(f"http://{netns_pair.b.address}:")
    assert colour_count(shot) > 50, f"the screenshot {shot} looks blank"


def test_closing_the_window_ends_the_game_for_everyone(
    netns_pair: NetnsPair,
    desktop_app: Callable[[Netns], App],
    poker: Callable[..., Proc],
    spawn: Callable[..., Proc],
) -> None:
    app = desktop_app(netns_pair.a)
    app.call("/api/local/name", {"name": "Ada"})
    hosted = app.call("/api/local/host", {"title": "Release 7", "deck": "tshirt"})
    join_url = app.call("/api/local/state")["hosting"]["joinUrl"]
    player = spawn(
        [sys.executable, "-c", PLAYER, join_url, "Grace"],
        netns=netns_pair.b,
        name="player",
    )
    player.expect(r"^state", 15)
    listing = poker("--list", netns=netns_pair.b, name="list-before")
    listing.expect(r"^Release 7\tdeskhost\thttp://", 5)

    began = time.monotonic()
    app.proc.proc.terminate()  # what closing the window does, without a mouse
    goodbye = player.expect(r"^goodbye", 5)
    closed = player.expect(r"^closed", 5)
    code = app.proc.wait(10)
    took = time.monotonic() - began
    after = poker("--list", netns=netns_pair.b, name="list-after")
    after.wait(10)

    assert hosted["url"].startswith("http://127.0.0.1:")
    assert "#name=Ada" in hosted["url"]
    assert goodbye.text == "goodbye The host closed the game."
    assert closed.text == "closed 1001"
    assert code == 0
    assert took < 3.5, f"closing took {took:.1f} s"
    assert "Release 7" not in "\n".join(after.stdout_lines())


# Run in a fresh interpreter: imports the window's Qt platform module the way
# the app does, then plays a page calling pywebview's bridge.
BRIDGE_CHECK = """
import json, poker, webview
poker.close_js_bridge()
import webview.platforms.qt as qt, webview.util as util
window = webview.create_window("t", html="<p>x</p>")
moved = []
window.move = lambda *a: moved.append(a)
for name, param in [("pywebviewMoveWindow", [5, 5]),
                    ("pywebviewStateUpdate", {"key": "pwned", "value": 1}),
                    ("anything", None)]:
    qt.js_bridge_call(window, name, param, "1")
print(json.dumps({
    "closed": qt.js_bridge_call is util.js_bridge_call is poker.refuse_bridge_call,
    "moved": moved,
    "state": "pwned" in dict(window.state),
    "api": window._js_api,
    "functions": list(window._functions),
}))
"""


def test_no_page_in_the_window_can_call_python(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")

    done = subprocess.run(
        [sys.executable, "-c", BRIDGE_CHECK],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {
        "closed": True,
        "moved": [],
        "state": False,
        "api": None,
        "functions": [],
    }
