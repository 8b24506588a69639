"""Run commands: runs (the runs kept in this twin home)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from twin.cli.common import check_outputs, handle_errors, out, write_reports
from twin.errors import UsageError
from twin.files import write_output
from twin.lab.directory import home
from twin.lab.runstore import prune
from twin.policy.model import LAB_NAME
from twin.verify.runs import run_list

OUTCOME = {0: "pass", 1: "FAIL", 3: "no verdict"}


def register(app: typer.Typer) -> None:
    app.command("runs")(runs_cmd)


@handle_errors
def runs_cmd(
    lab: Annotated[str | None, typer.Option("--lab", help="Only this lab's runs.")] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the list as JSON (- for standard output).")
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option(help="First remove each lab's oldest runs beyond the newest N."),
    ] = None,
) -> None:
    """List the runs kept in this twin home, oldest first (`twin report --run ID` renders one).

    Every `twin test` and `twin rehearse` keeps its run in <twin home>/twin-runs/<id>/: results,
    the firewall's log records, health and crafted-packet checks, the ruleset and the policy."""
    if lab is not None and not LAB_NAME.fullmatch(lab):
        raise UsageError(f"--lab {lab!r} is not a lab name (1-20 of a-z 0-9)")
    if keep is not None and keep < 0:
        raise UsageError("--keep must be 0 or more")
    to_stdout = json_path is not None and str(json_path) == "-"
    if json_path is not None and not to_stdout:
        check_outputs(json=json_path)
    if keep is not None:
        for name in sorted({r["lab"] for r in run_list(lab)}):
            gone = prune(home(), name, keep)
            if gone and not to_stdout:
                out.print(f"lab {name}: removed {len(gone)} runs (kept the newest {keep})")
    found = run_list(lab)
    if json_path is not None:
        text = json.dumps(found, indent=1) + "\n"
        if to_stdout:
            typer.echo(text, nl=False)
            return
        if not write_reports(("json", json_path, lambda p: write_output(p, text))):
            raise typer.Exit(3)
    if not found:
        whose = f" of lab {lab}" if lab else ""
        out.print(f"no run{whose} kept in {home()}")
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
    out.print(table)
