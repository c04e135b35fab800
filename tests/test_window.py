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


def painted_screenshot(display: str, name: str, within: float = 15.0) -> Path:
    """A screenshot once the window shows more than a blank fill, or the
    last one tried: the web view paints a few frames after "Page loaded",
    later still on a busy machine."""
    deadline = time.monotonic() + within
    while True:
        shot = screenshot(display, name)
        if colour_count(shot) > 50 or time.monotonic() > deadline:
            return shot
        time.sleep(0.5)


class App:
    """The desktop app running in a namespace, and its lobby API."""

    def __init__(self, proc: Proc, netns: Netns, data_dir: Path) -> None:
        self.proc = proc
        self.netns = netns
        self.data_dir = data_dir

    @property
    def lobby_port(self) -> int:
        """The loopback port the lobby is served on, from the log."""
        found = re.findall(
            r"Window opening on http://127\.0\.0\.1:(\d+)/", log_text(self.data_dir)
        )
        assert found, "the app never said where its lobby is"
        return int(found[-1])  # the latest start's

    def call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call the lobby API from inside the app's namespace."""
        argv = [sys.executable, "-c", LOBBY_CALL, str(self.lobby_port), LOBBY_KEY, path]
        if body is not None:
            argv.append(json.dumps(body))
        return json.loads(self.netns.check_output(argv))


@pytest.fixture
def desktop_app(
    poker: Callable[..., Proc], xvfb_display: str, tmp_path: Path
) -> Callable[..., App]:
    """Start `desktop_app(netns, **env)`: the window app, once its lobby page
    loaded; each start in one test uses the same data folder."""
    need(shutil.which("import"), "ImageMagick is not installed (Debian: imagemagick)")

    def start(netns: Netns, **extra_env: str) -> App:
        data_dir = tmp_path / "app"
        env = dict(
            os.environ,
            DISPLAY=xvfb_display,
            POKER_LOBBY_KEY=LOBBY_KEY,
            QTWEBENGINE_CHROMIUM_FLAGS="--no-sandbox",
            **extra_env,
        )
        # The same data folder may be started again: count the new loads.
        loads = log_text(data_dir).count("Page loaded:")
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
            lambda: log_text(data_dir).count("Page loaded:") > loads,
            60,
            "the lobby page to load",
        )
        return App(proc, netns, data_dir)

    return start


def test_window_opens_with_the_lobby_and_lists_a_game_on_the_network(
    netns_pair: NetnsPair,
    headless_host: Callable[..., Any],
    desktop_app: Callable[..., App],
    xvfb_display: str,
) -> None:
    headless_host("Sprint 42", "--host-name", "teamhost", netns=netns_pair.b)

    app = desktop_app(netns_pair.a)
    games = wait_for(
        lambda: app.call("/api/local/state")["games"], 15, "the lobby to list the game"
    )
    time.sleep(1.5)  # let the lobby's once-a-second poll draw the game
    shot = painted_screenshot(xvfb_display, "window-lobby")

    assert re.search(r"Page loaded: .*Lobby", log_text(app.data_dir)), log_text(
        app.data_dir
    )
    assert [(g["title"], g["host"]) for g in games] == [("Sprint 42", "teamhost")]
    assert games[0]["url"].startswith(f"http://{netns_pair.b.address}:")
    assert colour_count(shot) > 50, f"the screenshot {shot} looks blank"


def test_closing_the_window_ends_the_game_for_everyone(
    netns_pair: NetnsPair,
    desktop_app: Callable[..., App],
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


# Runs inside a namespace: N players join, then each votes and takes the vote
# back about 14 times a second (under the rate limit), so the host broadcasts
# all the time. Prints "ready" once all are seated and voting, then, when
# every socket has closed, one JSON line per player and "done".
SWARM = """
import asyncio, json, sys, time, aiohttp, yarl
url = yarl.URL(sys.argv[1]).with_scheme("ws").with_path("/ws")
count = int(sys.argv[2])
async def player(session, n, seated, results):
    ws = await session.ws_connect(url)
    await ws.send_json({"type": "join", "name": f"P{n}"})
    result = {"goodbye": None}
    async def vote(cards):
        i = 0
        try:
            while not ws.closed:
                card = cards[i % len(cards)] if i % 2 == 0 else None
                await ws.send_json({"type": "vote", "card": card})
                i += 1
                await asyncio.sleep(0.07)
        except Exception:
            pass  # the host closed the socket
    task = None
    while True:
        msg = await ws.receive()
        if msg.type == aiohttp.WSMsgType.TEXT:
            data = json.loads(msg.data)
            if data["type"] == "state" and task is None:
                task = asyncio.create_task(vote(data["game"]["deck"]["cards"]))
                seated.release()
            elif data["type"] == "goodbye":
                result["goodbye"] = data["reason"]
        elif msg.type == aiohttp.WSMsgType.CLOSE:
            result.update(code=msg.data, message=msg.extra)
            break
        else:
            result.update(code=ws.close_code, message=f"ended by {msg.type!r}")
            break
    result["at"] = time.time()
    if task:
        task.cancel()
    results.append(result)
async def main():
    seated = asyncio.Semaphore(0)
    results = []
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(player(session, n, seated, results))
                 for n in range(count)]
        for _ in range(count):
            await seated.acquire()
        await asyncio.sleep(0.5)  # broadcasts flowing to everyone
        print("ready", flush=True)
        await asyncio.gather(*tasks)
    for result in results:
        print(json.dumps(result), flush=True)
    print("done", flush=True)
asyncio.run(asyncio.wait_for(main(), 90))
"""


def window_id(display: str) -> str:
    """The X window id of the app's main window."""
    found = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", "^Planning Poker$"],
        capture_output=True,
        text=True,
        timeout=10,
        env=dict(os.environ, DISPLAY=display),
    ).stdout.split()
    assert found, "no visible window named Planning Poker"
    return found[0]


def x_geometry(display: str, wid: str) -> tuple[int, int, int, int]:
    """Where X has the window: x, y, width, height."""
    out = subprocess.run(
        ["xwininfo", "-display", display, "-id", wid],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    value = {
        key: int(re.search(rf"{key}:\s+(-?\d+)", out).group(1))  # type: ignore[union-attr]
        for key in ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height")
    }
    return tuple(value.values())  # type: ignore[return-value]


def test_the_window_remembers_its_size_and_place(
    netns: Netns, desktop_app: Callable[..., App], xvfb_display: str
) -> None:
    need(shutil.which("xdotool"), "xdotool is not installed (Debian: xdotool)")
    first = desktop_app(netns)
    wid = window_id(xvfb_display)
    env = dict(os.environ, DISPLAY=xvfb_display)
    for command in (["windowsize", wid, "900", "640"], ["windowmove", wid, "70", "50"]):
        subprocess.run(["xdotool", *command], check=True, timeout=10, env=env)
    wait_for(
        lambda: x_geometry(xvfb_display, wid) == (70, 50, 900, 640),
        5,
        "X to move and resize the window",
    )
    # Qt learns of the move from X events on its own loop, and a busy
    # machine may close the window before it has read them: the app has no
    # way to say it has, so give it a moment.
    time.sleep(1.5)

    first.proc.proc.terminate()
    first.proc.wait(10)
    saved = json.loads((first.data_dir / "settings.json").read_text())["window"]
    desktop_app(netns)
    reopened = x_geometry(xvfb_display, window_id(xvfb_display))

    assert saved == {"width": 900, "height": 640, "x": 70, "y": 50}
    assert reopened == (70, 50, 900, 640)


def test_a_second_launch_brings_the_first_window_to_the_front(
    netns: Netns,
    desktop_app: Callable[..., App],
    poker: Callable[..., Proc],
    xvfb_display: str,
) -> None:
    first = desktop_app(netns)

    second = poker(
        "--data-dir",
        str(first.data_dir),
        netns=netns,
        env={"DISPLAY": xvfb_display},
        name="second-launch",
    )
    code = second.wait(20)
    said = second.stderr_path.read_text()

    assert code == 0
    assert said == (
        "Planning Poker is already open on this computer; its window was brought "
        "to the front.\n"
    )
    assert "A second launch asked for this window" in log_text(first.data_dir)
    assert first.proc.proc.poll() is None, "the first window closed"


def test_a_crash_in_the_window_writes_a_report_and_the_window_says_where(
    netns: Netns, desktop_app: Callable[..., App], xvfb_display: str
) -> None:
    app = desktop_app(netns, POKER_DEBUG_CRASH="window")

    wait_for(
        lambda: "Page loaded: Planning Poker stopped" in log_text(app.data_dir),
        20,
        "the window to show the crash page",
    )
    shot = screenshot(xvfb_display, "window-crash")
    reports = list((app.data_dir / "logs").glob("crash-*.txt"))
    report = reports[0].read_text()

    assert len(reports) == 1
    assert "Planning Poker stopped because of a bug" in report
    assert "Planning Poker 1.0.0; Python 3." in report
    assert "PyQt6 6." in report
    assert re.search(r"System:\s+Linux", report)
    assert "Traceback (most recent call last)" in report
    assert "RuntimeError: crash forced by POKER_DEBUG_CRASH=window" in report
    assert f"report written to {reports[0]}" in log_text(app.data_dir)
    assert colour_count(shot) > 20, f"the screenshot {shot} looks blank"


@pytest.mark.timeout(900)
def test_closing_during_broadcasts_stops_the_host_cleanly_20_times_in_a_row(
    netns_pair: NetnsPair,
    desktop_app: Callable[..., App],
    spawn: Callable[..., Proc],
) -> None:
    slowest = 0.0
    for attempt in range(20):
        app = desktop_app(netns_pair.a)
        app.call("/api/local/host", {"title": f"Round {attempt}", "deck": "tshirt"})
        join_url = app.call("/api/local/state")["hosting"]["joinUrl"]
        swarm = spawn(
            [sys.executable, "-c", SWARM, join_url, "10"],
            netns=netns_pair.b,
            name=f"swarm-{attempt}",
        )
        swarm.expect(r"^ready$", 30)

        began = time.time()
        app.proc.proc.terminate()  # what closing the window does
        swarm.expect(r"^done$", 10)
        code = app.proc.wait(10)
        exited = time.time() - began
        results = [json.loads(line) for line in swarm.stdout_lines()[1:-1]]
        # Asked from outside: inside, `ip netns pids` would list itself.
        left = subprocess.run(
            ["ip", "netns", "pids", netns_pair.a.name],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
        listening = netns_pair.a.check_output(["ss", "-ltnH"])
        slowest = max(slowest, exited)

        context = f"attempt {attempt + 1}: {results}"
        assert code == 0, context
        assert len(results) == 10, context
        for result in results:
            assert result["goodbye"] == "The host closed the game.", context
            assert result["code"] == 1001, context
            assert result["message"] == "The host closed the game.", context
            assert result["at"] - began < 3.0, context
        assert exited < 3.0, f"{context}: the app exited after {exited:.2f} s"
        assert left.split() == [], f"{context}: processes left: {left}"
        assert listening.strip() == "", f"{context}: ports left: {listening}"
        assert log_text(app.data_dir).count("Database closed") == attempt + 1
    print(f"slowest close: {slowest:.2f} s")
