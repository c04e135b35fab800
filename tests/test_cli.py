"""The command line: what a user sees when they start the app."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import POKER, ROOT, Netns, Proc


def run_poker(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run poker.py to its end in this namespace (never with discovery)."""
    assert "--no-discovery" in args or "--version" in args
    return subprocess.run(
        [sys.executable, str(POKER), *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_version_prints_the_version() -> None:
    done = run_poker("--version")

    assert done.returncode == 0
    assert re.fullmatch(r"poker\.py \d+\.\d+\.\d+\n", done.stdout)


def test_without_a_display_the_app_says_so_in_one_sentence(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")
    }

    done = run_poker("--no-discovery", "--data-dir", str(tmp_path), env=env)

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert "No display found" in done.stderr
    assert "--headless" in done.stderr


def test_headless_prints_one_line_with_the_join_url_and_stops_on_sigterm(
    headless_host: Callable[..., Any],
) -> None:
    host = headless_host("Sprint 42")

    code = host.stop()

    assert re.fullmatch(
        rf'Hosting "Sprint 42" at http://[\d.]+:{host.port}/ \(Ctrl\+C stops\)',
        host.stdout_lines()[0],
    )
    assert host.stdout_lines()[1:] == []
    assert code == 0


def test_a_busy_port_is_reported_in_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]

        done = run_poker(
            "--headless",
            "--no-discovery",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
        )

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"Port {port} is busy" in done.stderr


def test_resume_with_nothing_stored_says_how_to_start(tmp_path: Path) -> None:
    done = run_poker(
        "--headless", "--no-discovery", "--resume", "--data-dir", str(tmp_path)
    )

    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "There is no stored game to resume. Start one with --title."
    )


def test_list_on_an_empty_network_says_so_within_3_seconds(
    netns: Netns, poker: Callable[..., Proc]
) -> None:
    began = time.monotonic()

    listing = poker("--list", netns=netns)
    code = listing.wait(10)
    took = time.monotonic() - began

    assert code == 0
    assert listing.stdout_lines() == []
    assert "No game found on this network" in Path(listing.stderr_path).read_text()
    assert took < 3.0, f"--list took {took:.2f} s"
