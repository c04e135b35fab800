"""What starting the app costs: aiohttp (~150 ms to import) only where
something serves, so `--list` and `--version` start without it."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


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
