"""Assume-breach commands: blast (what a compromised host can reach), graph (the zone graph),
compare (the policy against a flat baseline)."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from twin import pipeline
from twin.analysis.blast import VIA, Blast
from twin.analysis.compare import BASELINES
from twin.analysis.reach import Reach
from twin.analysis.walkplan import WalkPlan, walk_plan
from twin.cli.common import check_outputs, handle_errors, human, progress, write_reports
from twin.cli.options import Foothold, Json, Lab, Policy, Quiet, Via, choose
from twin.errors import UsageError, did_you_mean
from twin.files import write_output
from twin.plan.build import build_plan
from twin.plan.plan import Plan
from twin.policy.load import load_policy
from twin.report.blast import blast_data, print_blast
from twin.report.compare import compare_data, print_compare
from twin.report.graph import zone_svg
from twin.report.walk import live_data, print_live


def _reach(file: Path, via: str, foothold: str | None) -> Reach:
    choose("--via", via, tuple(VIA))
    reach = Reach(build_plan(load_policy(file)))
    if foothold is not None and not reach.hosts_of(foothold):
        names = [*reach.members, *reach.plan.by_host]
        zones = ", ".join(reach.members)
        raise UsageError(
            f"--from {foothold!r}: no such zone or host in {file} ({did_you_mean(foothold, names)}"
            f"zones: {zones}; or a host name)"
        )
    return reach


@contextmanager
def _no_gc() -> Iterator[None]:
    """Loading and analysing a big policy allocate millions of small objects and free few: the
    cyclic collector's passes over them took ~40% of the 10,000-rule analysis (bench/blast.py),
    reclaiming nothing. The command is short-lived; collection resumes after it."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@handle_errors
def blast(
    file: Policy,
    foothold: Foothold = None,
    json_path: Json = None,
    via: Via = "any",
    quiet: Quiet = False,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Walk every path for real on the running twin of FILE (hop 2 sent from the "
            "host hop 1 reached, …), and probe flows toward hosts out of reach.",
        ),
    ] = False,
    lab: Lab = None,
) -> None:
    """Assume breach: what each compromised host or zone can reach, hop after hop, exactly.

    Every host reached on an allowed service becomes a new foothold, to a fixed point; the
    shortest path to each crown jewel (`sensitive: true`) is shown hop by hop with the rule
    that allows each hop. Exit 1 when an `unreachable` intent line does not hold, or (--live)
    when the running twin refuses a path or lets through a flow toward a host out of reach;
    3 when the twin cannot be judged. --lab (with --live): the lab, default FILE's."""
    check_outputs(json=json_path)
    opened = pipeline.open_to_test(lab, file) if live else None
    with _no_gc(), progress(f"assume breach: {file}"):
        reach = _reach(file, via, foothold)
        blast_ = Blast(reach, via)
        data = blast_data(blast_, str(file), foothold)
    code = 0 if data["ok"] else 1
    if opened is not None:
        walks = walk_plan(blast_, foothold)
        with progress(f"lab {opened.state.lab}: walking every path"):
            data["live"] = live_data(walks, pipeline.walk(opened, walks))
        code = max(code, data["live"]["exit_code"]) if code != 1 else 1
    text = json.dumps(data, indent=1) + "\n"
    wrote = write_reports(("json", json_path, lambda p: write_output(p, text)))
    shown = human(json_path)
    if quiet:
        held = sum(1 for i in data["intent"] if i["holds"])
        shown.print(
            f"blast radius of {file}: {held}/{len(data['intent'])} unreachable intent lines hold"
            + "".join(f"; broken: {i['name']}" for i in data["intent"] if not i["holds"]),
            markup=False,
        )
    else:
        print_blast(shown, data)
        if "live" in data:
            print_live(shown, data["live"])
    raise typer.Exit(3 if not wrote else code)


@handle_errors
def graph(
    file: Policy,
    output: Annotated[
        Path,
        typer.Option(
            "-o", "--output", metavar="PATH", help="SVG file to write (- for standard output)."
        ),
    ],
    foothold: Foothold = None,
    via: Via = "any",
) -> None:
    """The zone graph as SVG: zones, allowed services between them, crown jewels, and the
    attack paths from a foothold.

    The foothold is, unless --from names one, the first zone that is not a crown jewel."""
    check_outputs(output=output)
    with _no_gc(), progress(f"drawing the zone graph of {file}"):
        reach = _reach(file, via, foothold)
        drawn = zone_svg(Blast(reach, via), foothold)
    if not write_reports(("output", output, lambda p: write_output(p, drawn.svg))):
        raise typer.Exit(3)
    if str(output) != "-":
        human(output).print(
            f"{output}: {drawn.zones} zones, {drawn.edges} zone-to-zone edges, "
            + (f"attack paths from {drawn.foothold}" if drawn.foothold else "no foothold"),
            markup=False,
        )


@handle_errors
def compare(
    file: Policy,
    baseline: Annotated[
        str,
        typer.Option(
            "--baseline",
            metavar="flat|flat-zones",
            help="flat: one flat network (no firewall between hosts); flat-zones: every zone "
            "flat, the firewall between zones.",
        ),
    ] = "flat",
    foothold: Foothold = None,
    json_path: Json = None,
    via: Via = "any",
    quiet: Quiet = False,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Also walk both for real: the running twin of FILE, and the baseline deployed "
            "beside it (lab <name>b, taken down after).",
        ),
    ] = False,
    lab: Lab = None,
) -> None:
    """Flat vs microsegmented: what the policy takes away from a flat baseline, exactly.

    Host pairs that can talk, reachable host-services, and per foothold zone the hosts reached
    at the fixed point and the hops to each crown jewel: baseline → policy. --live walks every
    path of both on real twins (as `twin blast --live`); exit 1 when a walk differs from the
    analysis, 3 when a twin cannot be judged. --lab (with --live): the lab, default FILE's."""
    choose("--baseline", baseline, tuple(BASELINES))
    check_outputs(json=json_path)
    opened = pipeline.open_to_test(lab, file) if live else None
    with _no_gc(), progress(f"comparing {file} with the {baseline} baseline"):
        reach = _reach(file, via, foothold)
        data = compare_data(reach, str(file), baseline, via, foothold)
    code = 0
    if opened is not None:

        def walks(plan: Plan) -> WalkPlan:
            return walk_plan(Blast(Reach(plan), via), foothold)

        planned = walks(opened.plan)
        with progress(f"lab {opened.state.lab}: walking every path"):
            mine = live_data(planned, pipeline.walk(opened, planned))
        with progress(f"the {baseline} baseline: up, walked, down"):
            theirs = live_data(*pipeline.walk_baseline(opened, baseline, walks))
        data["live"] = {"policy": mine, "baseline": theirs}
        codes = (mine["exit_code"], theirs["exit_code"])
        code = 1 if 1 in codes else max(codes)
    text = json.dumps(data, indent=1) + "\n"
    if not write_reports(("json", json_path, lambda p: write_output(p, text))):
        raise typer.Exit(3)
    shown = human(json_path)
    if quiet:
        totals = data["totals"]
        shown.print(
            f"{file} against the {baseline} baseline: host pairs that can talk "
            f"{totals['host_pairs']['baseline']} → {totals['host_pairs']['policy']}, reachable "
            f"host-services {totals['host_services']['baseline']} → "
            f"{totals['host_services']['policy']}",
            markup=False,
        )
    else:
        print_compare(shown, data)
    raise typer.Exit(code)
