"""runs: every run kept in the run store (`<twin home>/twin-runs/<id>/`), read back by
`twin report` and listed by `twin runs`.

A run folder holds what an auditor needs to re-check the run without the lab: the results
(`run.json`: flows, verdicts, rules, provenance, times in UTC, the host), the firewall's own
log records of the run as received (`nflog.jsonl.gz`), the health checks before and after, the
crafted-packet results, the rendered ruleset the firewall was loaded with, and the policy file
judged (the bytes whose sha256 the reports name). `twin down` removes the lab, not its runs;
`--keep N` bounds how many runs of a lab are kept.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from traffic.nflog import LogRecord
from twin.errors import EnvironmentProblem, UsageError
from twin.firewalls.table import firewall_of
from twin.lab.directory import LabDir, home, write_atomic
from twin.lab.runstore import DEFAULT_KEEP, RunFiles, find_run, list_runs, new_run, prune
from twin.lab.state import LabState
from twin.plan.build import build_plan
from twin.plan.plan import Plan
from twin.policy.model import Policy, Verdict
from twin.verify.crafted import CraftedResult
from twin.verify.evidence import Evidence, log_evidence
from twin.verify.swept import SweptRange
from twin.verify.verdicts import Observed
from twin.verify.verify import Result, Verification

NOT_KEPT = ("results", "sweeps", "snapshot", "crafted", "records", "policy_bytes")  # see below


@dataclass
class SavedRun:
    lab: str
    time: float
    kind: str  # test | rehearsal | rollback
    plan: Plan
    run: Verification
    evidence: Evidence
    rehearsal: dict[str, Any] = field(default_factory=dict)  # Rehearsal.to_json()
    folder: Path | None = None  # the run folder it was read from


def utc(when: float) -> str:
    """`2025-01-30T14:25:01Z`: every time twin writes into a report is UTC, and says so."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def keep_run(
    state: LabState,
    plan: Plan,
    run: Verification,
    *,
    kind: str = "test",
    rehearsal: dict[str, Any] | None = None,
    keep: int = DEFAULT_KEEP,
) -> RunFiles:
    """Write the run's folder in the run store of the lab's twin home, then remove the lab's
    oldest runs beyond `keep`. Sets `run.run_id` and `run.log_file`."""
    files = begin_run(state, plan, run)
    finish_run(files, state, plan, run, kind=kind, rehearsal=rehearsal, keep=keep)
    return files


def begin_run(state: LabState, plan: Plan, run: Verification) -> RunFiles:
    """The run's folder, with the firewall's log records (no `meta.json` yet: not listed, and
    never pruned, until `finish_run`)."""
    files = new_run(state.path.parent, plan.lab, run.started or time.time())
    run.run_id, run.log_file = files.id, str(files.nflog)
    os.close(os.open(files.nflog, _NEW, 0o644))
    log_records(files, run.records)
    return files


def log_records(files: RunFiles, records: list[LogRecord]) -> None:
    """Append records to the run's log file, one gzip member per call (a sweep's records come
    in batches while it runs; `zcat` reads the members as one file). A record is one JSON
    object, written by a template (json.dumps took ~7 us a record: 10 s for a PCI sweep)."""
    names: dict[str, str] = {}
    lines = []
    for r in records:
        prefix = names.get(r.prefix)
        if prefix is None:
            prefix = names[r.prefix] = json.dumps(r.prefix)
        lines.append(
            f'{{"prefix": {prefix}, "src": "{r.src}", "dst": "{r.dst}", "proto": "{r.proto}", '
            f'"sport": {r.sport}, "dport": {r.dport}, "time": {r.time!r}, "flags": "{r.flags}"}}\n'
        )
    fd = os.open(files.nflog, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as f:
        f.write("".join(lines).encode())


def read_records(path: Path) -> list[LogRecord]:
    """The records of a run's log file."""
    with gzip.open(path, "rt") as f:
        return [LogRecord(**json.loads(line)) for line in f if line.strip()]


def drop_run(files: RunFiles) -> None:
    """Remove a run folder `begin_run` made when its run came to nothing (the twin vanished)."""
    if not files.meta.exists() and not files.path.is_symlink():
        shutil.rmtree(files.path, ignore_errors=True)


def finish_run(
    files: RunFiles,
    state: LabState,
    plan: Plan,
    run: Verification,
    *,
    kind: str = "test",
    rehearsal: dict[str, Any] | None = None,
    keep: int = DEFAULT_KEEP,
) -> None:
    """Everything else of the run, `meta.json` last (from then on it is listed), then prune."""
    write_atomic(files.health, json.dumps(run.health_checks, indent=1) + "\n")
    write_atomic(files.crafted, json.dumps([vars(c) for c in run.crafted], indent=1) + "\n")
    if run.policy_bytes:
        write_atomic(files.policy, run.policy_bytes)
    suffix = firewall_of(plan.firewall_kind).suffix
    loaded = LabDir(state.path).config(plan.firewall, suffix)
    with contextlib.suppress(FileNotFoundError):  # the lab went during the run: it says so
        write_atomic(files.ruleset(suffix), loaded.read_bytes())
    body = {
        "id": files.id,
        "lab": plan.lab,
        "kind": kind,
        "time": run.started,
        "started_utc": utc(run.started),
        "ended_utc": utc(run.ended),
        "ruleset_sha256": state.ruleset_sha256,
        "policy": plan.policy.model_dump(mode="json", by_alias=True),
        "run": {
            **{k: v for k, v in vars(run).items() if k not in NOT_KEPT},
            "results": [vars(r) for r in run.results],  # flat dataclasses: no deep copy
            "sweeps": [vars(r) for r in run.sweeps],
            "crafted": [vars(c) for c in run.crafted],
        },
        "rehearsal": rehearsal or {},
    }
    write_atomic(files.run, json.dumps(body, indent=1 if len(run.results) < 10_000 else None))
    write_atomic(files.meta, json.dumps(_meta(files, kind, run), indent=1) + "\n")
    prune(state.path.parent, plan.lab, keep)


_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _meta(files: RunFiles, kind: str, run: Verification) -> dict[str, Any]:
    """What `twin runs` lists, without reading the results."""
    return {
        "id": files.id,
        "lab": files.lab,
        "kind": kind,
        "started_utc": utc(run.started),
        "ended_utc": utc(run.ended),
        "exit_code": run.exit_code,
        "probes": len(run.results) + run.sweep_probes,
        "failures": len(run.failures) + len(run.sweep_failures),
        "inconclusive": len(run.inconclusive) + len(run.sweep_inconclusive),
        "policy_file": run.source.get("policy_file", ""),
        "policy_sha256": run.source.get("policy_sha256", ""),
    }


def run_list(lab: str | None = None) -> list[dict[str, Any]]:
    """The runs kept in this twin home (of `lab`), oldest first, as `twin runs` shows them."""
    out = []
    for files in list_runs(home(), lab):
        try:
            data = json.loads(files.meta.read_text())
        except (OSError, ValueError):
            continue
        out.append({**data, "folder": str(files.path)})
    return out


def load_run(lab: str | None = None, run_id: str | None = None) -> SavedRun:
    """Run `run_id`, else the newest run of `lab`, else the newest run kept."""
    if run_id is not None:
        files = find_run(home(), run_id)
    else:
        runs = list_runs(home(), lab)
        if not runs:
            whose = f" of lab {lab}" if lab else ""
            raise UsageError(
                f"no run{whose} kept in {home()}; run `twin test` or `twin rehearse` first"
            )
        files = runs[-1]
    try:
        data = json.loads(files.run.read_text())
    except (OSError, ValueError) as exc:
        raise EnvironmentProblem(f"{files.run}: cannot read the run ({exc})") from None
    saved = parse_run(data)
    saved.folder = files.path
    saved.run.log_file = str(files.nflog) if files.nflog.exists() else ""
    return saved


def parse_run(data: dict[str, Any]) -> SavedRun:
    plan = build_plan(Policy.model_validate(data["policy"]))
    known = {f.name for f in fields(Verification)} - set(NOT_KEPT)
    raw = {k: v for k, v in data["run"].items() if k in known}
    raw["results"] = [
        Result(
            **r
            | {
                "expected": Verdict(r["expected"]),
                "observed": Observed(r["observed"]),
                "predicted": Verdict(r["predicted"]),
            }
        )
        for r in data["run"]["results"]
    ]
    raw["crafted"] = [CraftedResult(**c) for c in data["run"].get("crafted", [])]
    raw["sweeps"] = [SweptRange(**s) for s in data["run"].get("sweeps", [])]
    run = Verification(**raw)
    return SavedRun(
        lab=data["lab"],
        time=float(data["time"]),
        kind=str(data.get("kind", "test")),
        plan=plan,
        run=run,
        evidence=log_evidence(plan, run),
        rehearsal=data.get("rehearsal") or {},
    )
