"""A lab that is up, opened again: its state, its runtime, and its plan rebuilt from the copy of
the policy it was deployed from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from twin.lab.registry import find_entry
from twin.lab.state import LabState, load_state
from twin.plan.build import build_plan
from twin.plan.plan import Plan
from twin.policy.load import load_policy
from twin.runtime.base import Runtime
from twin.runtime.registry import get_runtime


@dataclass(frozen=True)
class Lab:
    """A lab that is up: its state, its runtime, and its plan rebuilt from the deployed copy."""

    state: LabState
    runtime: Runtime
    plan: Plan
    policy_file: str = ""  # the file whose intent `test` judges ("": the lab's own copy)
    policy_source: bytes = field(default=b"", repr=False)  # that file as read (and hashed)


def open_lab(lab: str | None = None, file: str | Path | None = None) -> Lab:
    if file is not None:
        lab = load_policy(file).name
    entry = find_entry(lab)
    state = load_state(Path(entry.dir))
    runtime = get_runtime(state.runtime)
    plan = build_plan(load_policy(state.files.policy))
    return Lab(state, runtime, plan)
