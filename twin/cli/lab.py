"""Lab commands: validate, render, up, test, status, down."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from twin import pipeline
from twin.analysis.blast import check_unreachable, path_line
from twin.analysis.reach import Reach
from twin.cli.common import check_outputs, err, handle_errors, out, write_reports
from twin.deploy import teardown
from twin.errors import UsageError
from twin.lab.directory import write_atomic
from twin.lab.registry import entries
from twin.lab.runstore import DEFAULT_KEEP
from twin.lab.state import load_state
from twin.plan.flows import plan_flows, static_violations
from twin.plan.sweep import plan_sweep
from twin.policy.load import policy_warnings
from twin.report.console import print_report, summary_line
from twin.report.json import write_json
from twin.report.junit import write_junit
from twin.runtime.dockercli import DaemonHung
from twin.runtime.registry import get_runtime
from twin.vendors.sshpush import push_lab
from twin.verify.verify import DEFAULT_TIMEOUT

FileArg = Annotated[Path | None, typer.Argument(help="Policy file (default: the lab that is up).")]
LabOpt = Annotated[str | None, typer.Option("--lab", help="Lab name (instead of FILE).")]
KeepOpt = Annotated[
    int, typer.Option(help="Runs of this lab kept in the run store (`twin runs`); older go.")
]


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(render)
    app.command()(up)
    app.command("test")(test_cmd)
    app.command()(status)
    app.command()(down)


@handle_errors
def validate(file: Annotated[Path, typer.Argument(help="Policy file.")]) -> None:
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
        out.print(f"[yellow]warning:[/] {escape(str(warning))}", highlight=False)
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
    file: Annotated[Path, typer.Argument(help="Policy file.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Directory (default twin-render/<lab>).")
    ] = None,
    templates: Annotated[
        Path | None, typer.Option(help="Template folder overriding the packaged one.")
    ] = None,
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
    file: Annotated[Path, typer.Argument(help="Policy file.")],
    runtime: Annotated[str, typer.Option(help="auto | netns | docker | containerlab")] = "auto",
    templates: Annotated[
        Path | None, typer.Option(help="Template folder overriding the packaged one.")
    ] = None,
    tune_host: Annotated[
        bool,
        typer.Option(help="Raise machine-wide kernel limits a big twin needs (and say so)."),
    ] = False,
    image: Annotated[
        str | None,
        typer.Option(
            envvar="TWIN_FIREWALL_IMAGE",
            help="Firewall image (e.g. your VyOS build for `firewall: {kind: vyos}`).",
        ),
    ] = None,
    config_via: Annotated[
        str, typer.Option(help="exec | ssh: ssh re-loads the firewall over SSH with netmiko.")
    ] = "exec",
) -> None:
    """Build the twin: nodes, links, addresses, firewall, responders."""
    started = time.monotonic()
    state = pipeline.up(file, runtime, templates, tune_host, image)
    if config_via == "ssh":
        pushed = push_lab(state.lab)
        out.print(f"firewall config pushed over ssh ({pushed.device_type}, {pushed.seconds:.2f} s)")
    if "host_tuning" in state.extra:
        err.print(f"note: {state.extra['host_tuning']}")
    nodes = sum(len(v) for v in state.resources.values())
    out.print(
        f"lab {state.lab} is up on {state.runtime} in {time.monotonic() - started:.2f} s "
        f"({nodes} resources; files in {state.dir}). Next: twin test"
    )


@handle_errors
def test_cmd(
    file: FileArg = None,
    lab: LabOpt = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results as JSON.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML (for CI).")] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for each probe's answer (< 1).")
    ] = DEFAULT_TIMEOUT,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary line.")] = False,
    matrix: Annotated[
        str, typer.Option(help="full: every host pair; zones: one host pair per zone pair; auto.")
    ] = "auto",
    keep: KeepOpt = DEFAULT_KEEP,
    ports: Annotated[
        str | None,
        typer.Option(
            help="Also sweep ports: all (TCP and UDP 1-65535, ICMP), top1000, or 22,80,8000-8100."
        ),
    ] = None,
    from_zones: Annotated[
        list[str] | None,
        typer.Option("--from", help="Sweep from these zones (repeat or comma-separate; all)."),
    ] = None,
    to_zones: Annotated[
        list[str] | None,
        typer.Option("--to", help="Sweep to these zones (repeat or comma-separate; all)."),
    ] = None,
) -> None:
    """Send every flow for real and judge it against the policy and the intent.

    With FILE, FILE's intent is judged; its zones, hosts and rules must be what the lab enforces
    now (else exit 2: `twin rehearse FILE`, or `twin down` then `twin up FILE`). With --ports,
    every port of each zone pair (--from × --to; one host pair each, every host pair with
    --matrix full) is swept too, and reported in ranges per rule."""
    if matrix not in ("auto", "full", "zones"):
        err.print("error: --matrix must be auto, full or zones")
        raise typer.Exit(2)
    if not 0 < timeout < 1:
        err.print("error: --timeout must be between 0 and 1 s (TCP resends a SYN at 1 s)")
        raise typer.Exit(2)
    if keep < 1:
        err.print("error: --keep must be 1 or more (this run is kept)")
        raise typer.Exit(2)
    if (from_zones or to_zones) and ports is None:
        err.print("error: --from and --to choose the zones of a sweep: give --ports too")
        raise typer.Exit(2)
    check_outputs(json=json_path, junit=junit)
    lab_ = pipeline.open_to_test(lab, file)
    targets = (
        plan_sweep(lab_.plan, ports, zones(from_zones), zones(to_zones), matrix)
        if ports is not None
        else []
    )
    run = pipeline.test(lab_, timeout, matrix, keep, targets)
    wrote = write_reports(
        ("json", json_path, lambda p: write_json(run, p)),
        ("junit", junit, lambda p: write_junit(lab_.plan, run, p)),
    )
    if quiet:
        out.print(summary_line(run))
    else:
        print_report(out, lab_.plan, run)
    for problem in run.health:
        err.print(f"error: the twin is not healthy, results cannot be trusted: {problem}")
    raise typer.Exit(run.exit_code if wrote else 3)


def zones(given: list[str] | None) -> list[str]:
    """`--from a --from b,c` → [a, b, c]."""
    return [z.strip() for part in given or [] for z in part.split(",") if z.strip()]


@handle_errors
def status(file: FileArg = None, lab: LabOpt = None) -> None:
    """List the labs that are up, or the nodes of one lab."""
    if file is None and lab is None:
        table = Table(title="twin labs")
        for col in ("lab", "runtime", "status", "nodes", "directory"):
            table.add_column(col)
        for e in entries():
            try:
                state = load_state(Path(e.dir))
                nodes = get_runtime(state.runtime).status(state)
                running = sum(1 for v in nodes.values() if v == "running")
                table.add_row(
                    e.lab, state.runtime, state.status, f"{running}/{len(nodes)} running", e.dir
                )
            except DaemonHung:
                raise  # no other docker lab can answer either: one line, exit 3
            except Exception as exc:  # noqa: BLE001 - a broken lab is listed, not fatal
                table.add_row(e.lab, e.runtime, "broken", str(exc), e.dir)
        out.print(table if table.row_count else "no lab is up")
        return
    lab_ = pipeline.open_lab(lab, file)
    table = Table(title=f"lab {lab_.state.lab} ({lab_.state.runtime}, {lab_.state.status})")
    for col in ("node", "state", "role", "address"):
        table.add_column(col)
    nodes = lab_.runtime.status(lab_.state)
    for name, st in nodes.items():
        h = lab_.plan.by_host.get(name)
        table.add_row(name, st, "host" if h else "firewall", f"{h.address} ({h.zone})" if h else "")
    out.print(table)


@handle_errors
def down(
    file: FileArg = None,
    lab: LabOpt = None,
    all_labs: Annotated[
        bool, typer.Option("--all", help="Remove every twin lab on this machine.")
    ] = False,
) -> None:
    """Remove a lab completely: nodes, links, processes, files (only what is provably its)."""
    if file is not None:
        lab = pipeline.load_policy(file).name
    todo = teardown.targets(lab, all_labs)
    failed = False
    for target in todo:
        done = teardown.remove_lab(target.lab, target.dir, target.runtime)
        if target.must_exist and not done.found:
            names = ", ".join(e.lab for e in entries()) or "none"
            raise UsageError(f"lab {target.lab!r} is not up (labs up: {names})")
        if done.left:
            failed = True
            err.print(f"error: lab {target.lab}: could not remove {', '.join(done.left)}")
            continue
        out.print(f"lab {target.lab} is down{target.note if done.found else ''}")
        if done.kept:
            err.print(f"note: lab {target.lab}: kept {done.kept}", markup=False)
    if not todo:
        out.print("no lab is up")
    raise typer.Exit(3 if failed else 0)
