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

from tests.conftest import ROOT, need_root_netns, netns_list

pytestmark = pytest.mark.integration

FIGURE = re.compile(r"^  \S.*\s-?[\d,]+\.\d{3} ", re.M)  # bench.common.figure's line
# the benchmarks' lab names (bench/*.py): other labs on the machine are not theirs to leave
BENCH_LAB = re.compile(
    r"clab-(bwalk|bench|benchd|benchv|bench4v|benchdv|evid|hm[ch]|bre|scale|sweep)\d"
)


def test_every_benchmark_runs_at_its_smallest_size() -> None:
    need_root_netns()
    benches = sorted(
        p.stem
        for p in (ROOT / "bench").glob("*.py")
        if p.stem not in {"run", "common", "floor", "__init__"}
    )
    before = netns_list()
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
    left = sorted(n for n in netns_list() - before if BENCH_LAB.match(n))
    assert not left, f"namespaces left behind: {left}"
