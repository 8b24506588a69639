"""Assume-breach commands: blast (what a compromised host can reach), graph (the zone graph),
compare (the policy against a flat baseline)."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from twin import pipeline
from twin.analysis.blast import VIA, Blast
from twin.analysis.compare import BASELINES
from twin.analysis.reach import Reach
from twin.analysis.walkplan import walk_plan
from twin.cli.common import handle_errors, out
from twin.errors import UsageError
from twin.files import write_output
from twin.plan.build import build_plan
from twin.policy.load import load_policy
from twin.report.blast import blast_data, print_blast
from twin.report.compare import compare_data, print_compare
from twin.report.graph import zone_svg
from twin.report.walk import live_data, print_live

FileArg = Annotated[Path, typer.Argument(help="Policy file.")]
FromOpt = Annotated[
    str | None,
    typer.Option("--from", help="Foothold: a host, or a zone (all its hosts compromised)."),
]
ViaOpt = Annotated[
    str,
    typer.Option(
        help="What reaching a host means: any (every allowed tcp/udp port or icmp) or ports "
        "(tcp/udp ports only)."
    ),
]


def register(app: typer.Typer) -> None:
    app.command()(blast)
    app.command()(graph)
    app.command()(compare)


def _reach(file: Path, via: str, foothold: str | None) -> Reach:
    if via not in VIA:
        raise UsageError(f"--via must be one of {', '.join(VIA)}, not {via!r}")
    reach = Reach(build_plan(load_policy(file)))
    if foothold is not None and not reach.hosts_of(foothold):
        zones = ", ".join(reach.members)
        raise UsageError(
            f"--from {foothold!r}: no such zone or host in {file} (zones: {zones}; or a host name)"
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


def _write(path: Path, text: str) -> None:
    """`-` is stdout; else an atomic write, a failure being one line (exit 2)."""
    if str(path) == "-":
        sys.stdout.write(text)
        return
    try:
        write_output(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


@handle_errors
def blast(
    file: FileArg,
    foothold: FromOpt = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the analysis as JSON (- for stdout).")
    ] = None,
    via: ViaOpt = "any",
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Walk every path for real on the running twin of FILE (hop 2 sent from the "
            "host hop 1 reached, …), and probe flows toward hosts out of reach.",
        ),
    ] = False,
    lab: Annotated[str | None, typer.Option(help="With --live: the lab (default FILE's).")] = None,
) -> None:
    """Assume breach: what each compromised host or zone can reach, hop after hop, exactly.

    Every host reached on an allowed service becomes a new foothold, to a fixed point; the
    shortest path to each crown jewel (`sensitive: true`) is shown hop by hop with the rule
    that allows each hop. Exit 1 when an `unreachable` intent line does not hold, or (--live)
    when the running twin refuses a path or lets through a flow toward a host out of reach;
    3 when the twin cannot be judged."""
    opened = pipeline.open_to_test(lab, file) if live else None
    with _no_gc():
        reach = _reach(file, via, foothold)
        blast_ = Blast(reach, via)
        data = blast_data(blast_, str(file), foothold)
    code = 0 if data["ok"] else 1
    if opened is not None:
        walks = walk_plan(blast_, foothold)
        data["live"] = live_data(walks, pipeline.walk(opened, walks))
        code = max(code, data["live"]["exit_code"]) if code != 1 else 1
    if json_path is not None:
        _write(json_path, json.dumps(data, indent=1) + "\n")
    if json_path is None or str(json_path) != "-":
        print_blast(out, data)
        if "live" in data:
            print_live(out, data["live"])
    raise typer.Exit(code)


@handle_errors
def graph(
    file: FileArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="SVG file (- for stdout).")],
    foothold: FromOpt = None,
    via: ViaOpt = "any",
) -> None:
    """The zone graph as SVG: zones, allowed services between them, crown jewels, and the
    attack paths from a foothold (default: the first zone that is not a crown jewel)."""
    with _no_gc():
        reach = _reach(file, via, foothold)
        drawn = zone_svg(Blast(reach, via), foothold)
    _write(output, drawn.svg)
    if str(output) != "-":
        out.print(
            f"{output}: {drawn.zones} zones, {drawn.edges} zone-to-zone edges, "
            + (f"attack paths from {drawn.foothold}" if drawn.foothold else "no foothold"),
            markup=False,
        )


@handle_errors
def compare(
    file: FileArg,
    baseline: Annotated[
        str,
        typer.Option(
            help="flat: one flat network (no firewall between hosts); flat-zones: every zone "
            "flat, the firewall between zones."
        ),
    ] = "flat",
    foothold: FromOpt = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the comparison as JSON (- for stdout).")
    ] = None,
    via: ViaOpt = "any",
) -> None:
    """Flat vs microsegmented: what the policy takes away from a flat baseline, exactly.

    Host pairs that can talk, reachable host-services, and per foothold zone the hosts reached
    at the fixed point and the hops to each crown jewel: baseline → policy."""
    if baseline not in BASELINES:
        raise UsageError(f"--baseline must be one of {', '.join(BASELINES)}, not {baseline!r}")
    with _no_gc():
        reach = _reach(file, via, foothold)
        data = compare_data(reach, str(file), baseline, via, foothold)
    if json_path is not None:
        _write(json_path, json.dumps(data, indent=1) + "\n")
    if json_path is None or str(json_path) != "-":
        print_compare(out, data)
