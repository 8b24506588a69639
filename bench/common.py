"""Shared by the benchmarks: a clock, a figure printer, an isolated lab home."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# TWIN_BENCH_SMOKE=1: every benchmark runs once at its smallest size (tests/integration/
# test_bench_smoke.py), so a benchmark that no longer runs is caught by the test suite.
SMOKE = os.environ.get("TWIN_BENCH_SMOKE") == "1"


def sized(full: Any, smoke: Any) -> Any:
    """`full` for a benchmark run, `smoke` for the smoke run."""
    return smoke if SMOKE else full


REFERENCE = Path(__file__).resolve().parent.parent / "topologies" / "zero-trust-6zone.yml"
DUALSTACK = REFERENCE.with_name("zero-trust-6zone-dualstack.yml")


def reference_copy(
    tmp: str, lab: str, file: str = "policy.yml", base: Path = REFERENCE
) -> tuple[Path, dict[str, Any]]:
    """The six-zone reference (or `base`) renamed `lab`, written into `tmp`; also returns its
    data."""
    data: dict[str, Any] = yaml.safe_load(base.read_text())
    data["name"] = lab
    path = Path(tmp) / file
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, data


@contextmanager
def isolated_home(prefix: str) -> Iterator[str]:
    """A throwaway TWIN_HOME/TWIN_RUN_DIR so a bench never touches the user's labs."""
    with tempfile.TemporaryDirectory(prefix=f"twin-bench-{prefix}-") as tmp:
        os.environ["TWIN_HOME"] = f"{tmp}/home"
        os.environ["TWIN_RUN_DIR"] = f"{tmp}/run"
        yield tmp


def backlog_drops() -> int:
    """Packets the kernel dropped from its per-CPU input backlogs since boot (every veth hop of
    a twin goes through them): a probe lost there would be judged on a packet never sent."""
    rows = Path("/proc/net/softnet_stat").read_text().split("\n")
    return sum(int(row.split()[1], 16) for row in rows if row.strip())


class Clock:
    def __init__(self) -> None:
        self.t = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        took, self.t = now - self.t, now
        return took


def figure(name: str, value: float, unit: str = "s", floor: float | None = None,
           target: str = "") -> None:  # fmt: skip
    """One line: name, value, the floor measured in the same run, the target."""
    text = f"  {name:<48} {value:>10.3f} {unit:<8}"
    if floor is not None:
        text += f" floor {floor:>8.3f} {unit:<8}"
    if target:
        text += f" target {target}"
    print(text, flush=True)


@dataclass
class Measured:
    """A lab brought up, tested twice (the first run warms neighbour caches and conntrack), and
    taken down: each step timed; `left` is what down reported or the machine still holds."""

    up: float = 0.0
    first: Any = None
    run: Any = None
    test: float = 0.0
    down: float = 0.0
    left: list[str] = field(default_factory=list)

    @property
    def bad(self) -> int:
        """Flows of either run that failed or could not be judged (must be 0)."""
        runs = [r for r in (self.first, self.run) if r is not None]
        return sum(len(r.failures) + len(r.inconclusive) for r in runs)


@contextmanager
def measured_lab(policy: Path, lab: str, runtime: str = "netns", **test: Any) -> Iterator[Any]:
    """Yields (the open lab, its Measured) once it is up and tested; the body may use the lab
    further; down (timed) and the leftover count follow, whatever happens."""
    from twin import pipeline
    from twin.lab.registry import find_entry

    measured, clock = Measured(), Clock()
    pipeline.up(policy, runtime)
    measured.up = clock.lap()
    try:
        opened = pipeline.open_lab(lab)
        measured.first = pipeline.test(opened, **test)
        clock.lap()
        measured.run = pipeline.test(opened, **test)
        measured.test = clock.lap()
        yield opened, measured
    finally:
        clock.lap()
        measured.left = pipeline.down(find_entry(lab))
        measured.down = clock.lap()
        measured.left += leftovers(lab, runtime)


def leftovers(lab: str, runtime: str = "netns") -> list[str]:
    """The lab's namespaces (and containers, on docker) still on the machine."""
    names = subprocess.run(["ip", "netns"], capture_output=True, text=True).stdout.split()
    if runtime == "docker":
        names += subprocess.run(
            ["docker", "ps", "-a", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.split()
    return [n for n in names if n.startswith(f"clab-{lab}-")]
