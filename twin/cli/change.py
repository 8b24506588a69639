"""Change commands: diff (static), rehearse (on the running twin), report (of the last run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from twin import rehearse as rehearsal
from twin.analysis.diff import diff_json, diff_plans
from twin.cli.common import check_outputs, handle_errors, human, out, progress, write_reports
from twin.cli.options import (
    Html,
    Json,
    Junit,
    Keep,
    Lab,
    Quiet,
    Timeout,
    check_keep,
    check_timeout,
)
from twin.errors import UsageError
from twin.files import write_output
from twin.lab.runstore import DEFAULT_KEEP
from twin.plan.build import build_plan
from twin.policy.load import load_policy
from twin.report.change import diff_summary, print_diff, print_evidence, print_rehearsal
from twin.report.console import print_report, summary_line
from twin.report.html import write_html
from twin.report.json import write_json
from twin.report.junit import write_junit
from twin.verify.runs import load_run
from twin.verify.verify import DEFAULT_TIMEOUT


def _json(data: object) -> str:
    return json.dumps(data, indent=1) + "\n"


@handle_errors
def diff(
    old: Annotated[Path, typer.Argument(metavar="OLD", help="The policy as it is.")],
    new: Annotated[Path, typer.Argument(metavar="NEW", help="The policy as it would be.")],
    json_path: Json = None,
    quiet: Quiet = False,
) -> None:
    """What a change would do, exactly, before anything is deployed (no lab needed).

    Exit 1 when the change breaks an intent line (of either file), or leaves an old line that
    names a zone or host the new file lacks unverifiable, else 0."""
    check_outputs(json=json_path)
    with progress(f"comparing {old} and {new}"):
        old_plan, new_plan = build_plan(load_policy(old)), build_plan(load_policy(new))
        result = diff_plans(old_plan, new_plan)
        data = diff_json(result, new_plan, str(old), str(new))
    wrote = write_reports(("json", json_path, lambda p: write_output(p, _json(data))))
    shown = human(json_path)
    if quiet:
        shown.print(diff_summary(data), markup=False)
    else:
        print_diff(shown, data)
    raise typer.Exit(result.exit_code if wrote else 3)


@handle_errors
def rehearse(
    candidate: Annotated[
        Path | None,
        typer.Argument(
            metavar="CANDIDATE",
            help="The candidate policy (same zones and hosts).",
            show_default=False,
        ),
    ] = None,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Restore the baseline ruleset, the same way.")
    ] = False,
    lab: Lab = None,
    json_path: Json = None,
    junit: Junit = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    quiet: Quiet = False,
    keep: Keep = DEFAULT_KEEP,
) -> None:
    """Try a candidate policy on the running twin: atomic swap, full matrix, before → after.

    The candidate's ruleset replaces the loaded one in one nft transaction, conntrack is
    flushed, every probe runs again; each probe whose verdict changed is shown with the intent
    it breaks and the rules the firewall logged, checked against the exact static diff.
    --rollback restores the baseline the same way (--json then writes the run's results).
    Exit 1 when the candidate breaks intent."""
    check_timeout(timeout)
    check_keep(keep, 1)
    if rollback == (candidate is not None):
        raise UsageError("give a CANDIDATE policy file, or --rollback (not both)")
    check_outputs(json=json_path, junit=junit)
    shown = human(json_path, junit)
    if rollback:
        with progress("loading the baseline back and probing every flow"):
            lab_, run = rehearsal.roll_back(lab, timeout, keep)
        wrote = write_reports(
            ("json", json_path, lambda p: write_json(run, p)),
            ("junit", junit, lambda p: write_junit(lab_.plan, run, p)),
        )
        shown.print(f"baseline restored on lab {lab_.state.lab}: {summary_line(run)}")
        raise typer.Exit(run.exit_code if wrote else 3)
    assert candidate is not None
    with progress(f"rehearsing {candidate}: swap, then every flow again"):
        done = rehearsal.rehearse(candidate, lab, timeout, keep)
    data = done.to_json()
    wrote = write_reports(
        ("json", json_path, lambda p: write_output(p, _json(data))),
        ("junit", junit, lambda p: write_junit(done.plan, done.after, p)),
    )
    if not quiet:
        print_report(shown, done.plan, done.after)
        print_rehearsal(shown, data)
    else:
        shown.print(summary_line(done.after), markup=False)
    raise typer.Exit(done.exit_code if wrote else 3)


@handle_errors
def report(
    lab: Lab = None,
    run_id: Annotated[
        str | None,
        typer.Option("--run", metavar="ID", help="A run kept in the run store (`twin runs`)."),
    ] = None,
    html: Html = None,
    json_path: Json = None,
    junit: Junit = None,
    quiet: Quiet = False,
) -> None:
    """Render the last run of a lab (twin test or twin rehearse) again: HTML, JSON, JUnit.

    The run is `--run ID`, else the newest run of the lab (of any lab without --lab); runs
    outlive `twin down`, `twin runs` lists them. Without a report path, the run is printed as
    `twin test` printed it."""
    check_outputs(html=html, json=json_path, junit=junit)
    saved = load_run(lab, run_id)
    wrote = write_reports(
        ("html", html, lambda p: write_html(saved, p)),
        ("json", json_path, lambda p: write_json(saved.run, p)),
        ("junit", junit, lambda p: write_junit(saved.plan, saved.run, p)),
    )
    shown = human(html, json_path, junit)
    if html and wrote and str(html) != "-":
        shown.print(f"HTML report: {html}", markup=False)
    if quiet:
        shown.print(summary_line(saved.run), markup=False)
    elif not (html or json_path or junit):
        print_report(out, saved.plan, saved.run)
        print_evidence(out, saved.evidence.to_json())
    if not wrote:
        raise typer.Exit(3)
    raise typer.Exit(saved.run.exit_code or (0 if saved.evidence.ok else 1))
