"""Lab commands that build and probe: validate, render, up, test (status and down: `labs`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from twin import pipeline
from twin.analysis.blast import check_unreachable, path_line
from twin.analysis.reach import Reach
from twin.cli.common import check_outputs, err, handle_errors, human, out, progress, write_reports
from twin.cli.options import (
    MATRIX,
    RUNTIMES,
    Json,
    Junit,
    Keep,
    Lab,
    Matrix,
    Policy,
    PolicyOrLab,
    Quiet,
    Runtime,
    Templates,
    Timeout,
    check_keep,
    check_timeout,
    choose,
)
from twin.errors import UsageError
from twin.lab.directory import write_atomic
from twin.lab.runstore import DEFAULT_KEEP
from twin.plan.flows import plan_flows, static_violations
from twin.plan.sweep import plan_sweep
from twin.policy.load import policy_warnings
from twin.report.console import print_report, summary_line
from twin.report.json import write_json
from twin.report.junit import write_junit
from twin.verify.verify import DEFAULT_TIMEOUT

CONFIG_VIA = ("exec", "ssh")


@handle_errors
def validate(file: Policy) -> None:
    """Check a policy file; also check, statically, that its rules satisfy its own intent."""
    prep = pipeline.prepare(file)
    p = prep.policy
    flows = plan_flows(prep.plan)
    bad = static_violations(flows)
    hosts = sum(len(z.hosts) for z in p.zones.values())
    out.print(
        f"{file}: valid — lab {p.name}, {len(p.zones)} zones, {hosts} hosts, "
        f"{len(p.rules)} rules, {len(p.expect)} intent lines, {len(flows)} flows to probe"
    )
    for warning in policy_warnings(prep.source, str(file), p):
        out.print(f"[yellow]warning:[/] {escape(str(warning))}")
    for name, fs in bad.items():
        f = fs[0]
        out.print(
            f"[red]✗[/] intent {name}: the policy {f.predicted}s "
            f"{f.flow.src} → {f.flow.dst} {f.flow.proto}/{f.flow.port} (rule {f.rule.name})"
            + (f" and {len(fs) - 1} more flows" if len(fs) > 1 else "")
        )
    paths = [e for e in p.expect if not e.flow]  # unreachable lines: every path, any length
    broken = [c for c in check_unreachable(Reach(prep.plan)) if not c.holds] if paths else []
    for c in broken:
        out.print(f"[red]✗[/] intent {c.name}: {c.text} — a path: " + path_line(c.path or ()))
    if bad or broken:
        raise typer.Exit(1)
    out.print(f"intent: the rules satisfy all {len(p.expect)} lines (static check)")


@handle_errors
def render(
    file: Policy,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", metavar="DIR", help="Directory (default twin-render/<lab>)."
        ),
    ] = None,
    templates: Templates = None,
) -> None:
    """Render the containerlab topology, firewall config and node setup; deploy nothing."""
    prep = pipeline.prepare(file, templates)
    if output is not None and not output.parent.is_dir():  # -o names one directory, no more
        raise UsageError(
            f"-o {output}: {output.parent} is not a directory (twin creates no parents)"
        )
    target = output or Path("twin-render") / prep.plan.lab
    for rel, text in prep.files.items():
        write_atomic(target / rel, text)
    out.print(
        f"rendered {len(prep.files)} files into {target}/ (topology: {target}/topology.clab.yml)"
    )


@handle_errors
def up(
    file: Policy,
    lab: Lab = None,
    runtime: Runtime = "auto",
    templates: Templates = None,
    tune_host: Annotated[
        bool,
        typer.Option(
            "--tune-host", help="Raise machine-wide kernel limits a big twin needs (and say so)."
        ),
    ] = False,
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            metavar="IMAGE",
            envvar="TWIN_FIREWALL_IMAGE",
            help="Firewall image (e.g. your VyOS build for `firewall: {kind: vyos}`).",
        ),
    ] = None,
    config_via: Annotated[
        str,
        typer.Option(
            "--config-via",
            metavar="exec|ssh",
            help="ssh: load the firewall's configuration again over SSH (netmiko).",
        ),
    ] = "exec",
) -> None:
    """Build the twin: nodes, links, addresses, firewall, responders.

    --lab names it otherwise than the policy does (e.g. one lab per CI job on a shared runner);
    the other commands then take the same --lab."""
    choose("--runtime", runtime, RUNTIMES)
    choose("--config-via", config_via, CONFIG_VIA)
    started = time.monotonic()
    with progress(f"bringing {file} up") as stage:
        state = pipeline.up(file, runtime, templates, tune_host, image, lab=lab, stage=stage)
        if config_via == "ssh":
            from twin.vendors.sshpush import push_lab  # noqa: PLC0415 - netmiko: only for ssh

            stage(f"lab {state.lab}: loading the firewall over ssh")
            pushed = push_lab(state.lab)
    if config_via == "ssh":
        out.print(f"firewall config pushed over ssh ({pushed.device_type}, {pushed.seconds:.2f} s)")
    if state.host_tuning:
        err.print(f"note: {state.host_tuning}", markup=False)
    nodes = sum(len(v) for v in state.resources.values())
    out.print(
        f"lab {state.lab} is up on {state.runtime} in {time.monotonic() - started:.2f} s "
        f"({nodes} resources; files in {state.dir}). Next: twin test"
    )


@handle_errors
def test_cmd(
    file: PolicyOrLab = None,
    lab: Lab = None,
    json_path: Json = None,
    junit: Junit = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    quiet: Quiet = False,
    matrix: Matrix = "auto",
    keep: Keep = DEFAULT_KEEP,
    ports: Annotated[
        str | None,
        typer.Option(
            "--ports",
            metavar="all|top1000|LIST",
            help="Also sweep ports: all (TCP and UDP 1-65535, ICMP), top1000, or 22,80,8000-8100.",
        ),
    ] = None,
    from_zones: Annotated[
        list[str] | None,
        typer.Option(
            "--from", metavar="ZONE", help="Sweep from these zones (repeat or comma-separate; all)."
        ),
    ] = None,
    to_zones: Annotated[
        list[str] | None,
        typer.Option(
            "--to", metavar="ZONE", help="Sweep to these zones (repeat or comma-separate; all)."
        ),
    ] = None,
) -> None:
    """Send every flow for real and judge it against the policy and the intent.

    With FILE, FILE's intent is judged; its zones, hosts and rules must be what the lab enforces
    now (else exit 2: `twin rehearse FILE`, or `twin down` then `twin up FILE`). With --ports,
    every port of each zone pair (--from × --to; one host pair each, every host pair with
    --matrix full) is swept too, and reported in ranges per rule."""
    choose("--matrix", matrix, MATRIX)
    check_timeout(timeout)
    check_keep(keep, 1)
    if (from_zones or to_zones) and ports is None:
        raise UsageError("--from and --to choose the zones of a sweep: give --ports too")
    check_outputs(json=json_path, junit=junit)
    lab_ = pipeline.open_to_test(lab, file)
    targets = (
        plan_sweep(lab_.plan, ports, zones(from_zones), zones(to_zones), matrix)
        if ports is not None
        else []
    )
    with progress(f"lab {lab_.state.lab}: probing every flow" + (", sweeping" if targets else "")):
        run = pipeline.test(lab_, timeout, matrix, keep, targets)
    wrote = write_reports(
        ("json", json_path, lambda p: write_json(run, p)),
        ("junit", junit, lambda p: write_junit(lab_.plan, run, p)),
    )
    shown = human(json_path, junit)
    if quiet:
        shown.print(summary_line(run), markup=False)
    else:
        print_report(shown, lab_.plan, run)
    for problem in run.health:
        err.print(f"error: the twin is not healthy, results cannot be trusted: {problem}")
    raise typer.Exit(run.exit_code if wrote else 3)


def zones(given: list[str] | None) -> list[str]:
    """`--from a --from b,c` → [a, b, c]."""
    return [z.strip() for part in given or [] for z in part.split(",") if z.strip()]
