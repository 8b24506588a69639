"""The `unreachable` intent lines of a run: no path of any length, even through hosts an
attacker takes over on the way. Checked exactly (twin.analysis.blast) on the plan the run
judged: its rules are the ones the lab enforces, and the run probes every flow they decide,
so a path the analysis finds is made of flows the twin allowed (or the run fails on them)."""

from __future__ import annotations

from typing import Any

from twin.analysis.blast import check_unreachable, path_line
from twin.analysis.reach import Reach
from twin.plan.plan import Plan


def check_paths(plan: Plan) -> list[dict[str, Any]]:
    """Each `unreachable` line: {"name", "text", "holds", "path"} (a way in when broken)."""
    if all(e.flow for e in plan.policy.expect):
        return []  # no line to check: no graph to build (it costs seconds at scale)
    return [
        {"name": c.name, "text": c.text, "holds": c.holds, "path": path_line(c.path or ())}
        if not c.holds
        else {"name": c.name, "text": c.text, "holds": True, "path": ""}
        for c in check_unreachable(Reach(plan))
    ]
