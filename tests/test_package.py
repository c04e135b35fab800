"""The packaged Linux app, as a teammate gets it, started from anywhere: the
one file (dist/planning-poker) and the folder build that README recommends
(dist/planning-poker-dir/planning-poker); every test runs against both.

The first test that needs a build makes it with PyInstaller (about a minute
here) unless one newer than every file it is made from is already there;
.ci/run builds both beforehand. Each run starts in a
folder of its own, never the checkout, so the assets must come from the
bundle.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ROOT, NetnsPair, Proc, need
from test_window import LOBBY_KEY, colour_count, log_text, painted_screenshot, wait_for

pytestmark = pytest.mark.timeout(900)

#: The two Linux builds: what to run, and how to build it.
BUILDS = {
    "onefile": (ROOT / "dist" / "planning-poker", {}),
    "folder": (
        ROOT / "dist" / "planning-poker-dir" / "planning-poker",
        {"POKER_ONEDIR": "1"},
    ),
}
PYINSTALLER = Path(sys.executable).with_name("pyinstaller")
#: What the build is made from: a newer one of these makes it stale.
SOURCES = [ROOT / "poker.py", ROOT / "build.spec", *sorted((ROOT / "assets").iterdir())]

# Runs inside a namespace: one player joins, prints the types of the first
# two messages, and leaves.
JOIN = """
import asyncio, json, sys, aiohttp, yarl
async def main():
    url = yarl.URL(sys.argv[1]).with_scheme("ws").with_path("/ws")
    async with aiohttp.ClientSession() as session:
        page = await (await session.get(sys.argv[1])).text()
        print("page", "<title>" in page, flush=True)
        ws = await session.ws_connect(url)
        await ws.send_json({"type": "join", "name": "Grace"})
        for _ in range(2):
            print(json.loads((await ws.receive()).data)["type"], flush=True)
        await ws.close()
asyncio.run(asyncio.wait_for(main(), 20))
"""


@pytest.fixture(scope="session", params=sorted(BUILDS))
def packaged_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The one-file app or the folder build's program, built now if missing
    or older than its sources."""
    need(sys.platform.startswith("linux"), "the packaged test builds the Linux app")
    need(PYINSTALLER.exists(), f"{PYINSTALLER} is missing (requirements-dev.txt)")
    app, build_env = BUILDS[request.param]
    newest = max(path.stat().st_mtime for path in SOURCES)
    if app.exists() and app.stat().st_mtime > newest:
        return app
    log = tmp_path_factory.mktemp("build") / "pyinstaller.log"
    with log.open("w") as out:
        done = subprocess.run(
            [str(PYINSTALLER), "--noconfirm", "build.spec"],
            cwd=ROOT,
            env=os.environ | build_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=840,
            check=False,
        )
    if done.returncode != 0 or not app.exists():
        pytest.fail(
            f"pyinstaller build.spec failed:\n{log.read_text()[-4000:]}", pytrace=False
        )
    return app


@pytest.fixture
def elsewhere(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A working folder away from the checkout, and an environment whose
    user folders and unpacking folder lie inside it."""
    folder = tmp_path / "elsewhere"
    env = dict(os.environ, HOME=str(folder / "home"), TMPDIR=str(folder / "tmp"))
    for name in ("DATA", "STATE", "CONFIG", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(folder / "home" / name.lower())
    (folder / "tmp").mkdir(parents=True)
    return folder, env


def packaged(app: Path, folder: Path, *args: str) -> list[str]:
    """argv that starts the packaged app with *folder* as its working folder
    (`env -C` execs it, so the PID is the app's)."""
    return ["env", "-C", str(folder), str(app), *args]


def test_the_packaged_app_prints_its_version_from_any_folder(
    packaged_app: Path, elsewhere: tuple[Path, dict[str, str]]
) -> None:
    folder, env = elsewhere

    done = subprocess.run(
        packaged(packaged_app, folder, "--version"),
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"planning-poker \d+\.\d+\.\d+\n", done.stdout)
    assert list((folder / "tmp").iterdir()) == [], "the unpacked files stayed"


def test_a_packaged_host_is_found_and_joined_from_another_computer(
    packaged_app: Path,
    elsewhere: tuple[Path, dict[str, str]],
    netns_pair: NetnsPair,
    spawn: Callable[..., Proc],
) -> None:
    folder, env = elsewhere
    host = spawn(
        packaged(packaged_app, folder, "--headless", "--title", "Packaged 1",
                 "--host-name", "boxhost", "--data-dir", str(folder / "host")),
        netns=netns_pair.b,
        env=env,
        name="packaged-host",
    )  # fmt: skip
    url = host.expect(r"http://[^ ]+/", 60).match.group(0)

    listing = spawn(
        packaged(packaged_app, folder, "--list", "--data-dir", str(folder / "list")),
        netns=netns_pair.a,
        env=env,
        name="packaged-list",
    )
    found = listing.expect(r"^Packaged 1\tboxhost\t", 60)
    player = spawn(
        [sys.executable, "-c", JOIN, found.text.split("\t")[2]],
        netns=netns_pair.a,
        name="player",
    )
    player.wait(30)

    assert url.startswith(f"http://{netns_pair.b.address}:")
    assert found.text.split("\t")[2].startswith(url)
    assert player.stdout_lines() == ["page True", "welcome", "state"]


def test_the_packaged_window_opens_with_the_lobby(
    packaged_app: Path,
    elsewhere: tuple[Path, dict[str, str]],
    netns_pair: NetnsPair,
    spawn: Callable[..., Proc],
    xvfb_display: str,
) -> None:
    need(os.path.exists("/usr/bin/import"), "ImageMagick is missing (imagemagick)")
    folder, env = elsewhere
    data_dir = folder / "app"
    env |= {"DISPLAY": xvfb_display, "POKER_LOBBY_KEY": LOBBY_KEY}
    spawn(
        packaged(packaged_app, folder, "--data-dir", str(data_dir)),
        netns=netns_pair.a,
        env=env,
        name="packaged-window",
    )

    wait_for(lambda: "Page loaded:" in log_text(data_dir), 90, "the lobby to load")
    shot = painted_screenshot(xvfb_display, "packaged-window-lobby")

    assert re.search(r"Page loaded: .*Lobby", log_text(data_dir))
    assert colour_count(shot) > 50, f"the screenshot {shot} looks blank"
