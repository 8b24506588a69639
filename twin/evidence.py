"""Evidence profiles (orchestration): a segmentation test run end to end into a sealed pack.

`pci`: the zones holding cardholder data (`--cde`) against every other zone, both ways, on
every TCP and UDP port and ICMP (PCI DSS v4.0 11.4.5 / 11.4.6 ask that segmentation controls
isolate the cardholder-data environment from every out-of-scope system). The twin is brought
up if it is not (and down again afterwards); the run is kept in the run store like any other
and exported as an evidence pack (`twin.report.pack`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from twin import pipeline
from twin.errors import UsageError, did_you_mean
from twin.lab.registry import entries, find_entry
from twin.lab.runstore import DEFAULT_KEEP
from twin.plan.sweep import plan_sweep
from twin.report.pack import Scope, write_pack
from twin.verify.runs import SavedRun, load_run
from twin.verify.verify import DEFAULT_TIMEOUT

PCI = "PCI DSS v4.0 requirements 11.4.5 and 11.4.6: segmentation controls"


@dataclass(frozen=True)
class Pack:
    saved: SavedRun
    folder: Path
    manifest_sha256: str
    seconds: float  # the whole evidence run, up and down included
    brought_up: bool
    left: list[str]  # what `down` could not remove of a twin this run brought up


def check_out(out: Path) -> None:
    """`-o/--output DIR`: a new directory (its parent must exist) or an empty one; never a file,
    never a folder that holds something (a pack is sealed whole)."""
    if out.is_symlink():
        raise UsageError(f"--output {out}: is a symbolic link; name a real directory")
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"--output {out}: is not a directory")
        if any(out.iterdir()):
            raise UsageError(
                f"--output {out}: is not empty; an evidence pack needs a folder of its own"
            )
    elif not out.parent.is_dir():
        raise UsageError(f"--output {out}: {out.parent} does not exist (twin creates one folder)")


def pci(
    file: Path,
    cde: list[str],
    out: Path,
    *,
    runtime: str = "auto",
    ports: str = "all",
    matrix: str = "zones",
    timeout: float = DEFAULT_TIMEOUT,
    keep: int = DEFAULT_KEEP,
) -> Pack:
    started_wall, started = time.time(), time.monotonic()
    check_out(out)
    plan = pipeline.prepare(file).plan
    unknown = [z for z in cde if z not in plan.by_zone]
    if unknown or not cde:
        zones = [z.name for z in plan.zones]
        near = did_you_mean(unknown[0], zones) if unknown else ""
        raise UsageError(
            f"--cde {unknown[0] if unknown else ''!r}: not a zone of {file} "
            f"({near}{', '.join(zones)})"
        )
    others = [z.name for z in plan.zones if z.name not in cde]
    if not others:
        raise UsageError("--cde names every zone: nothing is out of scope to sweep from")
    brought_up = plan.lab not in {e.lab for e in entries()}
    if brought_up:
        pipeline.up(file, runtime)
    left: list[str] = []
    try:
        lab = pipeline.open_to_test(plan.lab, file)
        targets = plan_sweep(lab.plan, ports, others, cde, matrix)
        targets += plan_sweep(lab.plan, ports, cde, others, matrix)
        run = pipeline.test(lab, timeout, "auto", keep, targets)
    finally:
        if brought_up:
            left = pipeline.down(find_entry(plan.lab))
    saved = load_run(run_id=run.run_id)
    out.mkdir(exist_ok=True)
    what = "TCP 1-65535, UDP 1-65535, ICMP" if ports == "all" else ports
    scope = Scope(PCI, tuple(cde), tuple(others), what, started_wall, time.time())
    sha = write_pack(saved, out, scope)
    return Pack(saved, out, sha, time.monotonic() - started, brought_up, left)
