"""Change commands: diff (static), rehearse (on the running twin), report (of the last run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from twin import rehearse as rehearsal
from twin.analysis.diff import diff_json, diff_plans
from twin.cli.common import check_outputs, err, handle_errors, out, write_reports
from twin.lab.runstore import DEFAULT_KEEP
from twin.plan.build import build_plan
from twin.policy.load import load_policy
from twin.report.change import print_diff, print_evidence, print_rehearsal
from twin.report.console import print_report, summary_line
from twin.report.html import write_html
from twin.report.json import write_json
from twin.report.junit import write_junit
from twin.verify.runs import load_run

LabOpt = Annotated[
    str | None, typer.Option("--lab", help="Lab name (default: the lab that is up).")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
KeepOpt = Annotated[
    int, typer.Option(help="Runs of this lab kept in the run store (`twin runs`); older go.")
]


def register(app: typer.Typer) -> None:
    app.command()(diff)
    app.command()(rehearse)
    app.command()(report)


@handle_errors
def diff(
    old: Annotated[Path, typer.Argument(help="The policy as it is.")],
    new: Annotated[Path, typer.Argument(help="The policy as it would be.")],
    as_json: JsonFlag = False,
) -> None:
    """What a change would do, exactly, before anything is deployed (no lab needed).

    Exit 1 when the change breaks an intent line (of either file), or leaves an old line that
    names a zone or host the new file lacks unverifiable, else 0."""
    old_plan, new_plan = build_plan(load_policy(old)), build_plan(load_policy(new))
    result = diff_plans(old_plan, new_plan)
    data = diff_json(result, new_plan, str(old), str(new))
    if as_json:
        typer.echo(json.dumps(data, indent=1))
    else:
        print_diff(out, data)
    raise typer.Exit(result.exit_code)


@handle_errors
def rehearse(
    candidate: Annotated[
        Path | None, typer.Argument(help="The candidate policy (same zones and hosts).")
    ] = None,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Restore the baseline ruleset, the same way.")
    ] = False,
    lab: LabOpt = None,
    as_json: JsonFlag = False,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML of the run.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per probe answer (< 1).")] = 0.3,
    keep: KeepOpt = DEFAULT_KEEP,
) -> None:
    """Try a candidate policy on the running twin: atomic swap, full matrix, before → after.

    The candidate's ruleset replaces the loaded one in one nft transaction, conntrack is
    flushed, every probe runs again; each probe whose verdict changed is shown with the intent
    it breaks and the rules the firewall logged, checked against the exact static diff.
    --rollback restores the baseline the same way. Exit 1 when the candidate breaks intent."""
    if not 0 < timeout < 1:
        err.print("error: --timeout must be between 0 and 1 s (TCP resends a SYN at 1 s)")
        raise typer.Exit(2)
    if rollback == (candidate is not None):
        err.print("error: give a CANDIDATE policy file, or --rollback (not both)")
        raise typer.Exit(2)
    if keep < 1:
        err.print("error: --keep must be 1 or more (this run is kept)")
        raise typer.Exit(2)
    check_outputs(junit=junit)
    if rollback:
        lab_, run = rehearsal.roll_back(lab, timeout, keep)
        wrote = write_reports(("junit", junit, lambda p: write_junit(lab_.plan, run, p)))
        out.print(f"baseline restored on lab {lab_.state.lab}: {summary_line(run)}")
        raise typer.Exit(run.exit_code if wrote else 3)
    assert candidate is not None
    done = rehearsal.rehearse(candidate, lab, timeout, keep)
    wrote = write_reports(("junit", junit, lambda p: write_junit(done.plan, done.after, p)))
    data = done.to_json()
    if as_json:
        typer.echo(json.dumps(data, indent=1))
    else:
        print_report(out, done.plan, done.after)
        print_rehearsal(out, data)
    raise typer.Exit(done.exit_code if wrote else 3)


@handle_errors
def report(
    lab: LabOpt = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="A run kept in the run store (`twin runs`).")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Write the self-contained HTML report.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results as JSON.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML.")] = None,
) -> None:
    """Render a kept run again (HTML, JSON, JUnit): `--run ID`, else the newest run of the lab
    (of any lab without --lab). Runs outlive `twin down`; `twin runs` lists them."""
    check_outputs(html=html, json=json_path, junit=junit)
    saved = load_run(lab, run_id)
    wrote = write_reports(
        ("html", html, lambda p: write_html(saved, p)),
        ("json", json_path, lambda p: write_json(saved.run, p)),
        ("junit", junit, lambda p: write_junit(saved.plan, saved.run, p)),
    )
    if html and wrote:
        out.print(f"HTML report: {html}")
    if not (html or json_path or junit):
        print_report(out, saved.plan, saved.run)
        print_evidence(out, saved.evidence.to_json())
    if not wrote:
        raise typer.Exit(3)
    raise typer.Exit(saved.run.exit_code or (0 if saved.evidence.ok else 1))
