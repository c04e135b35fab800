"""Start-up without a window: saved window geometry, one window per user, the
WebView2 check, log rotation and the crash page.

The window itself is tested in test_window.py, what the terminal says in
test_cli.py; these need no display.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import poker
from conftest import ROOT

# --- saved size and place ------------------------------------------------------

SCREEN = [(0, 0, 1920, 1080)]


@pytest.mark.parametrize(
    ("saved", "expected"),
    [
        # nothing saved yet: the default size, centred by the toolkit
        (None, {"width": 1100, "height": 760, "x": None, "y": None}),
        # what the window saved last time comes back as it was
        (
            {"width": 900, "height": 640, "x": 70, "y": 50},
            {"width": 900, "height": 640, "x": 70, "y": 50},
        ),
        # too small to use, or larger than any screen: clamped
        (
            {"width": 10, "height": 99999},
            {"width": 360, "height": 4320, "x": None, "y": None},
        ),
        # on a screen that is gone: the size stays, the place goes
        (
            {"width": 800, "height": 600, "x": 3000, "y": 40},
            {"width": 800, "height": 600, "x": None, "y": None},
        ),
        # a file edited by hand: wrong types are ignored
        (
            {"width": "wide", "height": True, "x": 5, "y": None},
            {"width": 1100, "height": 760, "x": None, "y": None},
        ),
        # not even a dict
        ([1, 2], {"width": 1100, "height": 760, "x": None, "y": None}),
    ],
)
def test_saved_geometry_is_restored_and_made_safe(
    saved: object, expected: dict[str, int | None]
) -> None:
    assert poker.window_geometry(saved, SCREEN) == expected


def test_saved_place_is_kept_when_the_screens_are_unknown() -> None:
    saved = {"width": 800, "height": 600, "x": 3000, "y": 40}

    assert poker.window_geometry(saved, None)["x"] == 3000


# --- one window per user -------------------------------------------------------


def test_a_second_lock_on_the_same_data_folder_is_refused(tmp_path: Path) -> None:
    first, second = poker.WindowLock(tmp_path), poker.WindowLock(tmp_path)

    got_first = first.acquire()
    got_second = second.acquire()
    first.close()
    got_after_close = second.acquire()
    second.close()

    assert (got_first, got_second, got_after_close) == (True, False, True)


def test_a_second_launch_asks_the_first_to_raise_its_window(tmp_path: Path) -> None:
    first = poker.WindowLock(tmp_path)
    first.acquire()
    first.listen()
    raised: list[bool] = []
    first.on_raise = lambda: raised.append(True)

    answered = poker.WindowLock(tmp_path).ask_first(timeout=5)
    first.close()

    assert answered
    assert raised == [True]
    assert not (tmp_path / "window.json").exists()


def test_a_raise_before_the_window_exists_waits_for_it(tmp_path: Path) -> None:
    lock = poker.WindowLock(tmp_path)
    raised: list[bool] = []

    lock.bring_to_front()
    lock.on_raise = lambda: raised.append(True)
    if lock.raise_pending:
        lock.bring_to_front()

    assert raised == [True]


def test_a_wrong_token_raises_nothing(tmp_path: Path) -> None:
    first = poker.WindowLock(tmp_path)
    first.acquire()
    first.listen()
    raised: list[bool] = []
    first.on_raise = lambda: raised.append(True)
    (tmp_path / "window.json").write_text(
        (tmp_path / "window.json").read_text().replace('"token": "', '"token": "x')
    )

    answered = poker.WindowLock(tmp_path).ask_first(timeout=1)
    first.close()

    assert not answered
    assert raised == []


# --- Windows: the WebView2 runtime ----------------------------------------------
#
# Windows cannot run here: the registry read is replaced by a list of the
# versions it would return; the sentence is what the user would see.


@pytest.mark.parametrize(
    "versions",
    [
        [],  # never installed
        ["0.0.0.0"],  # uninstalled: EdgeUpdate leaves the key with "0.0.0.0"
        ["85.0.564.44"],  # older than pywebview's edgechromium backend needs
        ["not a version"],
    ],
)
def test_a_missing_webview2_is_told_in_one_sentence(versions: list[str]) -> None:
    with pytest.raises(poker.WebView2Missing) as refused:
        poker.check_webview2(lambda: versions)

    message = str(refused.value)
    assert message.startswith("Planning Poker needs Microsoft Edge WebView2")
    assert poker.WEBVIEW2_DOWNLOAD in message
    assert message.endswith("again.")
    assert "\n" not in message


@pytest.mark.parametrize(
    "versions", [["120.0.2210.91"], ["0.0.0.0", "86.0.622.0"], ["86.0.622.0"]]
)
def test_an_installed_webview2_passes(versions: list[str]) -> None:
    poker.check_webview2(lambda: versions)


def test_a_missing_webview2_is_a_window_error_main_reports() -> None:
    assert issubclass(poker.WebView2Missing, poker.PokerError)


# --- logs and crash reports -----------------------------------------------------


def test_the_log_file_is_rotated(tmp_path: Path) -> None:
    import logging

    poker.setup_logging(False, tmp_path)
    root = logging.getLogger("poker")
    try:
        handler = next(
            h
            for h in root.handlers
            if isinstance(h, logging.handlers.RotatingFileHandler)
        )

        assert (handler.maxBytes, handler.backupCount) == (1_000_000, 3)
        assert Path(handler.baseFilename) == tmp_path / "poker.log"
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
            h.close()


def test_the_crash_page_names_the_report_and_escapes_it() -> None:
    page = poker.crash_page(Path("/home/a<b>/crash-1.txt"))

    assert "/home/a&lt;b&gt;/crash-1.txt" in page
    assert "<title>Planning Poker stopped</title>" in page


# --- start-up cost ---------------------------------------------------------------


def test_importing_the_app_leaves_aiohttp_out() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys, poker; print('aiohttp' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=True,
    )

    assert done.stdout.strip() == "False"
