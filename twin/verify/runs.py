"""runs: the last run of a lab, read back from `<lab dir>/runs/last.json` (written by verify).

`twin report` renders it again in any format without sending a packet; a rehearsal stores its
before → after delta and static diff in the same file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from twin.errors import EnvironmentProblem, UsageError
from twin.lab.directory import LabDir
from twin.lab.registry import find_entry
from twin.plan.build import build_plan
from twin.plan.plan import Plan
from twin.policy.model import Policy
from twin.verify.crafted import CraftedResult
from twin.verify.evidence import Evidence, log_evidence
from twin.verify.verify import Result, Verification


@dataclass
class SavedRun:
    lab: str
    time: float
    kind: str  # test | rehearsal | rollback
    plan: Plan
    run: Verification
    evidence: Evidence
    rehearsal: dict[str, Any] = field(default_factory=dict)  # Rehearsal.to_json()


def load_run(lab: str | None = None, lab_dir: Path | None = None) -> SavedRun:
    """The last run of the named lab (or of the only lab up, or of a lab directory)."""
    if lab_dir is None:
        lab_dir = Path(find_entry(lab).dir)
    path = LabDir(lab_dir).last_run
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: no run yet; run `twin test` or `twin rehearse` first") from None
    except (OSError, ValueError) as exc:
        raise EnvironmentProblem(f"{path}: cannot read the last run ({exc})") from None
    return parse_run(data)


def parse_run(data: dict[str, Any]) -> SavedRun:
    plan = build_plan(Policy.model_validate(data["policy"]))
    known = {f.name for f in fields(Verification)} - {"snapshot"}  # the firewall's state: not kept
    raw = {k: v for k, v in data["run"].items() if k in known}
    raw["results"] = [Result(**r) for r in raw["results"]]
    raw["crafted"] = [CraftedResult(**c) for c in raw.get("crafted", [])]
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
