"""Run commands: runs (the runs kept in this twin home)."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from twin.cli.common import check_outputs, handle_errors, human, write_reports
from twin.cli.options import Json, KeepIfGiven, Lab, Quiet, check_keep
from twin.errors import UsageError
from twin.files import write_output
from twin.lab.directory import home
from twin.lab.runstore import prune
from twin.policy.syntax import LAB_NAME
from twin.verify.runs import run_list

OUTCOME = {0: "pass", 1: "FAIL", 3: "no verdict"}


@handle_errors
def runs_cmd(
    lab: Lab = None,
    json_path: Json = None,
    keep: KeepIfGiven = None,
    quiet: Quiet = False,
) -> None:
    """List the runs kept in this twin home, oldest first (`twin report --run ID` renders one).

    Every `twin test` and `twin rehearse` keeps its run in <twin home>/twin-runs/<id>/: results,
    the firewall's log records, health and crafted-packet checks, the ruleset and the policy.
    --lab lists that lab's runs only (a lab that is down too); --keep N first removes each
    lab's runs but the newest N."""
    if lab is not None and not LAB_NAME.fullmatch(lab):
        raise UsageError(f"--lab {lab!r} is not a lab name (1-20 of a-z 0-9)")
    check_keep(keep, 0)
    check_outputs(json=json_path)
    shown = human(json_path)
    if keep is not None:
        for name in sorted({r["lab"] for r in run_list(lab)}):
            gone = prune(home(), name, keep)
            if gone:
                shown.print(f"lab {name}: removed {len(gone)} runs (kept the newest {keep})")
    found = run_list(lab)
    text = json.dumps(found, indent=1) + "\n"
    if not write_reports(("json", json_path, lambda p: write_output(p, text))):
        raise typer.Exit(3)
    if not found:
        whose = f" of lab {lab}" if lab else ""
        shown.print(f"no run{whose} kept in {home()}", markup=False)
        return
    if quiet:
        for r in found:
            shown.print(r["id"], markup=False)
        return
    table = Table(title=f"runs kept in {home()}/twin-runs (times in UTC)")
    for col in ("id", "kind", "started (UTC)", "probes", "outcome", "policy"):
        table.add_column(col)
    for r in found:
        outcome = OUTCOME.get(int(r.get("exit_code", 3)), "?")
        if r.get("failures"):
            outcome += f" ({r['failures']} differ)"
        elif r.get("inconclusive"):
            outcome += f" ({r['inconclusive']} inconclusive)"
        table.add_row(
            r["id"], r.get("kind", "test"), r.get("started_utc", ""), str(r.get("probes", "")),
            outcome, r.get("policy_file", ""),
        )  # fmt: skip
    shown.print(table)
