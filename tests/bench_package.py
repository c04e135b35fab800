"""Benchmark of the packaged app: size, launch to listening, launch to window.

Not a test: it prints figures for README. Run it after a build::

    .venv/bin/pyinstaller --noconfirm build.spec
    .venv/bin/python tests/bench_package.py                # dist/planning-poker
    .venv/bin/python tests/bench_package.py --build        # build first, timed
    .venv/bin/python tests/bench_package.py --app dist/planning-poker-dir

Everything runs in this machine's namespace with --no-discovery and on
127.0.0.1 only, so no mDNS leaves the machine. The window part starts its own
Xvfb (Debian package xvfb). Each figure is the median of --runs launches,
with the fastest and slowest beside it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import ROOT, pick_free_port, stop_process, xvfb_server  # noqa: E402

PYINSTALLER = Path(sys.executable).with_name("pyinstaller")


def tree_size(path: Path) -> int:
    """Bytes in a file, or in every file below a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(
        p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()
    )


def launch_to_listening(app: Path, work: Path) -> tuple[float, int]:
    """Seconds from exec to a TCP connect succeeding; bytes unpacked to TMPDIR."""
    port = pick_free_port()
    tmp = work / "tmp"
    tmp.mkdir(exist_ok=True)
    argv = [str(app), "--headless", "--no-discovery", "--bind", "127.0.0.1",
            "--port", str(port), "--data-dir", str(work / "data")]  # fmt: skip
    began = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=work,
        env=dict(os.environ, TMPDIR=str(tmp)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.monotonic() - began < 60:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    took = time.monotonic() - began
                    return took, tree_size(tmp)
            if proc.poll() is not None:
                raise SystemExit(f"{app} exited with {proc.returncode}")
            time.sleep(0.01)
        raise SystemExit(f"{app} did not listen within 60 s")
    finally:
        stop_process(proc, 10)


def launch_to_window(app: Path, work: Path, display: str) -> float:
    """Seconds from exec to the lobby page loaded in the window (logged)."""
    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    log = data / "logs" / "poker.log"
    env = dict(os.environ, DISPLAY=display, QTWEBENGINE_CHROMIUM_FLAGS="--no-sandbox")
    argv = [str(app), "--no-discovery", "--data-dir", str(data)]
    began = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while time.monotonic() - began < 90:
            try:
                if "Page loaded:" in log.read_text(errors="replace"):
                    return time.monotonic() - began
            except FileNotFoundError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"{app} (window) exited with {proc.returncode}")
            time.sleep(0.02)
        raise SystemExit(f"{app} opened no window within 90 s")
    finally:
        stop_process(proc, 10)


def spread(values: list[float]) -> str:
    """Median (min-max) in seconds."""
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    """Build (optionally), then measure and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", type=Path, default=ROOT / "dist" / "planning-poker")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--build", action="store_true", help="build first, timed")
    parser.add_argument("--no-window", action="store_true")
    args = parser.parse_args()

    rows: list[tuple[str, str]] = []
    if args.build:
        began = time.monotonic()
        subprocess.run(
            [str(PYINSTALLER), "--noconfirm", "build.spec"], cwd=ROOT, check=True
        )
        rows.append(("build time", f"{time.monotonic() - began:.0f} s"))
    app = args.app.resolve()
    if app.is_dir():
        app = app / "planning-poker"  # a folder build (make build-dir)
    if not os.access(app, os.X_OK):
        raise SystemExit(f"{app} is missing: build it first (make build)")
    bundle = args.app.resolve()
    rows.append(("size", f"{tree_size(bundle) / 1e6:.0f} MB"))

    with tempfile.TemporaryDirectory(prefix="bench-package-") as tmp:
        work = Path(tmp)
        listening, unpacked = [], 0
        for _ in range(args.runs):
            took, unpacked = launch_to_listening(app, work)
            listening.append(took)
        rows.append(("launch to listening (--headless)", spread(listening)))
        rows.append(("unpacked per launch", f"{unpacked / 1e6:.0f} MB"))
        if not args.no_window:
            with xvfb_server(work / "xvfb.log") as display:
                window = [
                    launch_to_window(app, work, display) for _ in range(args.runs)
                ]
            rows.append(("launch to usable window", spread(window)))

    print(f"| {app.relative_to(ROOT) if app.is_relative_to(ROOT) else app} | |")
    print("|---|---|")
    for what, figure in rows:
        print(f"| {what} | {figure} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
