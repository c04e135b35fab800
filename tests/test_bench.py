"""The benchmark script still runs against the app as it is now.

Not a timed test: no figure is checked, only that every metric asked for
was measured. A host limit once refused the script's players and nobody
noticed until the figures were due.
"""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_the_benchmark_measures_the_host_in_its_quick_form() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "bench.py"), "--quick", "--only",
         "P1,P2,P3,P10"],
        capture_output=True, text=True, timeout=100, cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| P")]
    assert {row.split()[1] for row in rows} == {"P1", "P2", "P3", "P10"}
