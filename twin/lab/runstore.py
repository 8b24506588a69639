"""The run store: every run of `twin test` / `twin rehearse` kept in a folder of its own, in the
twin home beside the lab directories (`<home>/twin-runs/<id>/`), so `twin down` keeps it.

A run id sorts by time and names its lab: `20250130T142501.237Z-zt6` (UTC, milliseconds; a lab
name has no '-', so the id splits at the last one). `twin-runs` holds a '-' too: no lab
directory can be called that. Pruning trusts no file, like teardown: it removes only a real
directory (a link is never followed) directly in the store, named like a run id of that lab,
whose `meta.json` names that id — anything else in the store is left alone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from twin.errors import TwinError, UsageError
from twin.files import read_regular

STORE = "twin-runs"
RUN_ID = re.compile(r"\A(\d{8}T\d{6}\.\d{3}Z)-([a-z0-9]{1,20})\Z")
DEFAULT_KEEP = 50  # runs kept per lab
OWN_FILE_LIMIT = 1 << 16  # a meta.json is a few hundred bytes


@dataclass(frozen=True)
class RunFiles:
    """A run folder and the files twin writes in it."""

    path: Path

    META = "meta.json"  # id, lab, kind, times, outcome: what `twin runs` lists
    RUN = "run.json"  # the run as `twin report --run ID` reads it: results, health, provenance
    NFLOG = "nflog.jsonl.gz"  # the firewall's log records of the run, a JSON object a line
    HEALTH = "health.json"  # the twin's health, checked before and after the run
    CRAFTED = "crafted.json"  # stray ACKs and spoofed SYNs, and the rule that dropped each
    POLICY = "policy.yml"  # the policy file judged, as read (its sha256 is in run.json)
    RULESET = "ruleset"  # + the firewall's suffix: the rendered ruleset it was loaded with

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def lab(self) -> str:
        return self.path.name.rpartition("-")[2]

    @property
    def meta(self) -> Path:
        return self.path / self.META

    @property
    def run(self) -> Path:
        return self.path / self.RUN

    @property
    def nflog(self) -> Path:
        return self.path / self.NFLOG

    @property
    def health(self) -> Path:
        return self.path / self.HEALTH

    @property
    def crafted(self) -> Path:
        return self.path / self.CRAFTED

    @property
    def policy(self) -> Path:
        return self.path / self.POLICY

    def ruleset(self, suffix: str) -> Path:
        return self.path / f"{self.RULESET}{suffix}"


def store(home: Path) -> Path:
    return home / STORE


def run_id(lab: str, when: float) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(when))
    return f"{stamp}.{int(when * 1000) % 1000:03d}Z-{lab}"


def new_run(home: Path, lab: str, when: float) -> RunFiles:
    """A fresh folder for a run of `lab` started at `when` (a later millisecond if taken)."""
    where = store(home)
    if where.is_symlink():
        raise UsageError(f"{where} is a symbolic link: twin keeps runs in a real directory")
    where.mkdir(exist_ok=True)
    for step in range(1000):
        path = where / run_id(lab, when + step / 1000)
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return RunFiles(path)
    raise UsageError(f"{where}: no free run id for lab {lab} near {when}")


def own_run(path: Path, lab: str | None = None) -> bool:
    """Is `path` one of twin's run folders (of `lab`): a real directory, named like a run id,
    holding a regular `meta.json` that names that id?"""
    found = RUN_ID.fullmatch(path.name)
    if found is None or (lab is not None and found.group(2) != lab):
        return False
    try:
        if not stat.S_ISDIR(path.lstat().st_mode):
            return False
        data = json.loads(read_regular(path / RunFiles.META, OWN_FILE_LIMIT))
    except (OSError, ValueError, TwinError):
        return False
    return isinstance(data, dict) and data.get("id") == path.name


def list_runs(home: Path, lab: str | None = None) -> list[RunFiles]:
    """Twin's run folders in the store, oldest first (ids sort by time)."""
    where = store(home)
    if where.is_symlink() or not where.is_dir():
        return []
    names = sorted(
        (e.name for e in os.scandir(where) if RUN_ID.fullmatch(e.name)),
        key=lambda n: (n.rpartition("-")[0], n),
    )
    return [RunFiles(where / n) for n in names if own_run(where / n, lab)]


def find_run(home: Path, ident: str) -> RunFiles:
    if not RUN_ID.fullmatch(ident):
        raise UsageError(
            f"{ident!r} is not a run id (like 20250130T142501.237Z-zt6; `twin runs` lists them)"
        )
    path = store(home) / ident
    if not own_run(path):
        raise UsageError(f"no run {ident} in {store(home)} (`twin runs` lists the runs kept)")
    return RunFiles(path)


def prune(home: Path, lab: str, keep: int) -> list[str]:
    """Remove the oldest runs of `lab` beyond the newest `keep`; returns the ids removed."""
    runs = list_runs(home, lab)
    removed = []
    for old in runs[: max(0, len(runs) - keep)]:
        if own_run(old.path, lab):  # checked again right before: nothing trusted
            shutil.rmtree(old.path, ignore_errors=True)  # rmtree never follows a link inside
            removed.append(old.id)
    return removed
