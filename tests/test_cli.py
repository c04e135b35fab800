"""The command line: what a user sees when they start the app."""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import poker
from conftest import POKER, ROOT, Host, Netns, Proc
from poker import __version__


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


def test_a_host_raises_its_open_files_limit_to_hold_every_socket(
    tmp_path: Path,
) -> None:

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with subprocess.Popen(
        [sys.executable, str(POKER), "--headless", "--no-discovery", "--bind",
         "127.0.0.1", "--port", "0", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=ROOT,
        # Linux's usual start: 1,024 open files; lower still, to be sure.
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)),
    ) as started:  # fmt: skip
        try:
            assert started.stdout is not None
            assert "Hosting" in started.stdout.readline()
            limits = Path(f"/proc/{started.pid}/limits").read_text()
        finally:
            started.terminate()
            started.wait(timeout=10)

    soft = re.search(r"^Max open files\s+(\d+)", limits, re.MULTILINE)
    assert soft is not None
    assert int(soft.group(1)) >= min(hard, poker.MAX_SOCKETS + 256)


def test_a_second_host_on_the_same_data_folder_is_refused(
    headless_host: Callable[..., Host], tmp_path: Path
) -> None:
    first = headless_host("Sprint 42", data_dir=tmp_path)

    done = run_poker(
        "--headless", "--no-discovery", "--bind", "127.0.0.1", "--port", "0",
        "--title", "Sprint 43", "--data-dir", str(tmp_path),
    )  # fmt: skip

    assert done.returncode == 2
    assert done.stderr == (
        f"Another Planning Poker is already hosting the games in {tmp_path}. "
        "Stop it, or give this one a folder of its own with --data-dir.\n"
    )
    assert first.proc.poll() is None  # the first host serves on


@pytest.mark.parametrize(
    ("bind", "sentence"),
    [
        # a name: its lookup fails inside the namespace, which has no DNS
        (
            "nonsense",
            "--bind 'nonsense' is not an IP address. Leave --bind out to listen "
            "on all of this machine's addresses.",
        ),
        # an address, but one the namespace (loopback only) does not have
        (
            "203.0.113.9",
            "203.0.113.9 is not one of this machine's addresses. Leave --bind out "
            "to listen on all of them.",
        ),
    ],
)
def test_a_bind_address_the_machine_lacks_is_refused_in_one_sentence(
    netns: Netns, poker: Callable[..., Proc], tmp_path: Path, bind: str, sentence: str
) -> None:
    args = ("--headless", "--no-discovery", "--data-dir", str(tmp_path / "data"))

    host = poker(*args, "--bind", bind, netns=netns)
    code = host.wait(10)

    assert code == 2
    assert Path(host.stderr_path).read_text() == sentence + "\n"


@pytest.mark.parametrize(
    "port",
    [
        "99999",  # past 65535: bind() would raise OverflowError, a "bug"
        "-1",  # below 0: the same
        "eighty",  # not a number at all
    ],
)
def test_a_port_out_of_range_is_refused_in_one_sentence(
    tmp_path: Path, port: str
) -> None:
    done = run_poker(
        "--headless", "--no-discovery", "--port", port, "--data-dir", str(tmp_path)
    )

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"poker.py: error: argument --port: the port must be 0-65535, not {port!r}; "
        "leave --port out to take a free one."
    )
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    "seconds",
    [
        "-5",  # before it began
        "0",  # no time at all
        "nan",  # float() reads it; it compares false with everything
        "soon",  # not a number
    ],
)
def test_a_watch_of_no_sensible_length_is_refused_in_one_sentence(
    netns: Netns, seconds: str
) -> None:
    # Refused while the arguments are read; in a namespace all the same, so
    # that a regression could not multicast on this machine's network.
    listing = netns.run(
        [sys.executable, str(POKER), "--list", "--watch", seconds],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    _, stderr = listing.communicate(timeout=30)

    assert listing.returncode == 2
    assert stderr.splitlines()[-1] == (
        f"poker.py: error: argument --watch: --watch takes seconds above 0, "
        f"not {seconds!r}."
    )


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("x" * 41, "The host name is too long (at most 40 characters)."),  # too long
        ("\x1b[2J", None),  # a terminal escape: made a space, then the rest kept
        ("   ", "The host name cannot be empty."),  # nothing but blanks
    ],
)
def test_a_host_name_is_one_short_line(
    tmp_path: Path, name: str, says: str | None
) -> None:
    done = run_poker(
        "--headless", "--no-discovery", "--bind", "127.0.0.1", "--port", "0",
        "--host-name", name, "--version", "--data-dir", str(tmp_path),
    )  # fmt: skip

    if says is None:
        assert done.returncode == 0
    else:
        assert done.returncode == 2
        assert done.stderr.splitlines()[-1] == (
            f"poker.py: error: argument --host-name: {says}"
        )


def test_a_data_folder_that_cannot_be_made_is_refused_in_one_sentence() -> None:
    # /dev/null is a file: nothing can be created below it, not even the
    # logs folder a crash report would go to.
    done = run_poker("--headless", "--no-discovery", "--data-dir", "/dev/null/x")

    assert done.returncode == 2
    assert done.stderr == (
        "The folder /dev/null/x cannot be created or used (Not a directory). "
        "Choose another with --data-dir.\n"
    )


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


def wait_for_text(path: Path, text: str, timeout: float = 10.0) -> None:
    """Wait until the file at *path* contains *text*; fail the test if not."""
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} never said {text!r}", pytrace=False)
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_list_watch_stops_cleanly_on_sigterm_or_ctrl_c(
    netns: Netns, poker: Callable[..., Proc], sig: signal.Signals
) -> None:
    watch = poker("--list", "--watch", "60", "--verbose", netns=netns)
    wait_for_text(Path(watch.stderr_path), "Watching for games")

    watch.proc.send_signal(sig)
    code = watch.wait(5)

    assert code == 0
    assert "Traceback" not in Path(watch.stderr_path).read_text()


@pytest.mark.parametrize(
    "new_game_option",
    [
        ["--title", "Sprint 43"],  # would have been dropped without a word
        ["--deck", "tshirt"],  # the same
    ],
)
def test_resume_refuses_a_title_or_deck_in_one_sentence(
    tmp_path: Path, new_game_option: list[str]
) -> None:
    args = ("--headless", "--no-discovery", "--data-dir", str(tmp_path))

    done = run_poker(*args, "--resume", *new_game_option)

    assert done.returncode == 2
    assert done.stderr == (
        "--resume continues a stored game as it was; leave out --title and "
        "--deck, or start a new game without --resume.\n"
    )


# --- logs and crash reports ---------------------------------------------------


def user_env(home: Path) -> dict[str, str]:
    """An environment whose user folders all lie inside *home*."""
    env = dict(os.environ, HOME=str(home))
    for name in ("DATA", "STATE", "CONFIG", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(home / name.lower())
    return env


def test_a_crash_at_start_writes_a_report_and_the_terminal_says_where(
    tmp_path: Path,
) -> None:
    env = user_env(tmp_path) | {"POKER_DEBUG_CRASH": "start"}
    log_dir = tmp_path / "state" / "planning-poker" / "log"

    done = run_poker("--headless", "--no-discovery", env=env)
    reports = list(log_dir.glob("crash-*.txt"))

    assert done.returncode == 1
    assert len(reports) == 1
    assert done.stderr == (
        f"Planning Poker stopped because of a bug. A report is in {reports[0]}; "
        "please send it to whoever gave you the app.\n"
    )
    report = reports[0].read_text()
    assert f"Versions: Planning Poker {__version__}; Python 3." in report
    assert re.search(r"System:\s+Linux-", report)
    assert "RuntimeError: crash forced by POKER_DEBUG_CRASH=start" in report


def test_logs_go_to_the_users_log_folder_and_verbose_prints_them(
    tmp_path: Path,
) -> None:
    env = user_env(tmp_path) | {"POKER_DEBUG_CRASH": "start"}
    log_file = tmp_path / "state" / "planning-poker" / "log" / "poker.log"

    quiet = run_poker("--headless", "--no-discovery", env=env)
    verbose = run_poker("--headless", "--no-discovery", "--verbose", env=env)

    assert "report written to" in log_file.read_text()
    assert "report written to" not in quiet.stderr
    assert "INFO poker: Crash (RuntimeError(" in verbose.stderr
    assert "DEBUG poker: Planning Poker 1.0.0, logging to" in verbose.stderr


def test_a_crash_whose_report_cannot_be_written_says_so(tmp_path: Path) -> None:
    env = user_env(tmp_path) | {"POKER_DEBUG_CRASH": "start"}
    (tmp_path / "state").write_text("a file where the log folder would go")

    done = run_poker("--headless", "--no-discovery", env=env)

    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "Planning Poker stopped because of a bug, and its report could not be "
        "written to the log folder. Run it again with --debug to see the error, "
        "and send that to whoever gave you the app."
    )
