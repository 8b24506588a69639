"""The JSON report of a run: what was judged, the outcome, one object per flow."""

from __future__ import annotations

import json
from pathlib import Path

from twin.files import write_output
from twin.report.console import summary_line
from twin.verify.bypass import V6_BYPASS, is_bypass
from twin.verify.runs import utc
from twin.verify.verify import Verification


def run_json(run: Verification) -> dict[str, object]:
    """The JSON report: what was judged (policy file and sha256, ruleset sha256, baseline or
    rehearsal candidate), the outcome, and one object per flow."""
    return {
        "lab": run.lab,
        "run_id": run.run_id,
        **run.source,
        "twin_version": run.host.get("twin", ""),
        "host": {k: v for k, v in run.host.items() if k != "twin"},
        "started": utc(run.started) if run.started else "",
        "ended": utc(run.ended) if run.ended else "",
        "time_zone": "UTC",
        "exit_code": run.exit_code,
        "summary": summary_line(run),
        "failures": len(run.failures),
        "inconclusive": len(run.inconclusive),
        "reprobed": run.reprobed,
        "unreachable": run.paths,  # the `unreachable` intent lines, checked on the rules probed
        "health": run.health,
        "findings": {V6_BYPASS: run.forgot_v6} if run.forgot_v6 else {},
        "bypass": [vars(c) for c in run.crafted if is_bypass(c)],
        "results": run.to_json(),
        "sweep": {
            "probes": run.sweep_probes,
            "seconds": round(run.sweep_seconds, 3),
            "failures": len(run.sweep_failures),
            "inconclusive": len(run.sweep_inconclusive),
            "ranges": [vars(r) for r in run.sweeps],
        },
    }


def write_json(run: Verification, path: Path) -> None:
    write_output(path, json.dumps(run_json(run), indent=1) + "\n")
