"""Every benchmark still runs. `make bench` is not part of CI (it takes many minutes), so a
benchmark broken by a change elsewhere (a CLI option renamed, a function moved) would go unseen
until someone measures: it happened once (`twin diff --json` became `--json PATH`). Here each
`bench/<name>.py` runs once at its smallest size (TWIN_BENCH_SMOKE=1) and must end with exit 0
and print its figures. Nothing about speed is asserted: figures are the benchmarks' job."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, need_root_netns

pytestmark = pytest.mark.integration

FIGURE = re.compile(r"^  \S.*\s-?[\d,]+\.\d{3} ", re.M)  # bench.common.figure's line


def test_every_benchmark_runs_at_its_smallest_size() -> None:
    need_root_netns()
    benches = sorted(
        p.stem
        for p in (ROOT / "bench").glob("*.py")
        if p.stem not in {"run", "common", "floor", "__init__"}
    )
    env = {**os.environ, "TWIN_BENCH_SMOKE": "1"}
    res = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=540,
        check=False,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    sections = dict(re.findall(r"^=== bench/(\w+)\.py\n(.*?)(?=^=== |\Z)", res.stdout, re.M | re.S))
    assert sorted(sections) == benches, out[-3000:]
    silent = [name for name, text in sections.items() if not FIGURE.search(text)]
    assert not silent, f"benchmarks that printed no figure: {silent}\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]
    # each benchmark that brings a lab up counts what it left behind (and exits 1 if anything):
    # a look at the machine's namespaces here would also see another session's `make bench`
    left = re.findall(r"^  \S*\s*leftovers \(must be 0\)\s+([\d.]+)", res.stdout, re.M)
    assert len(left) >= 5 and all(float(n) == 0 for n in left), out[-3000:]
