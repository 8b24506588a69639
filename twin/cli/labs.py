"""The labs on this machine: status, down. Light on purpose (no policy model, no plan unless a
FILE or one lab's nodes are asked for): both start in a fraction of a second (bench/startup.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from twin.cli.common import err, handle_errors, out
from twin.cli.options import Lab, PolicyOrLab, Quiet
from twin.deploy import teardown
from twin.errors import EnvironmentProblem, NotUp, did_you_mean
from twin.lab.registry import Entry, entries
from twin.lab.state import load_state
from twin.runtime.dockercli import DaemonHung
from twin.runtime.registry import get_runtime

# ruff: noqa: PLC0415 - the policy model and the plan are imported only when a FILE is given

NEEDS_ROOT = "needs root (it looks into network namespaces and containers)"


def _lab_of(file: Path) -> str:
    from twin.policy.load import load_policy

    return load_policy(file).name


@handle_errors
def status(file: PolicyOrLab = None, lab: Lab = None, quiet: Quiet = False) -> None:
    """List the labs that are up, or the nodes of one lab.

    -q prints the names only (labs, or nodes), one a line."""
    if file is None and lab is None:
        _labs(entries(), quiet)
        return
    from twin.deploy.running import open_lab

    lab_ = open_lab(lab, file)
    nodes = lab_.runtime.status(lab_.state)
    if quiet:
        for name in nodes:
            out.print(name, markup=False)
        return
    table = Table(title=f"lab {lab_.state.lab} ({lab_.state.runtime}, {lab_.state.status})")
    for col in ("node", "state", "role", "address"):
        table.add_column(col)
    for name, st in nodes.items():
        h = lab_.plan.by_host.get(name)
        where = f"{', '.join(map(str, h.addresses))} ({h.zone})" if h else ""
        table.add_row(name, st, "host" if h else "firewall", where)
    out.print(table)


def _labs(up: list[Entry], quiet: bool) -> None:
    if quiet:
        for e in up:
            out.print(e.lab, markup=False)
        return
    if not up:
        out.print("no lab is up")
        return
    root = os.geteuid() == 0
    table = Table(title="twin labs")
    for col in ("lab", "runtime", "status", "nodes", "directory"):
        table.add_column(col)
    for e in up:
        try:
            state = load_state(Path(e.dir))
            if not root:  # the nodes cannot be looked at: say so once, below
                table.add_row(e.lab, state.runtime, state.status, "?", e.dir)
                continue
            nodes = get_runtime(state.runtime).status(state)
            running = sum(1 for v in nodes.values() if v == "running")
            table.add_row(
                e.lab, state.runtime, state.status, f"{running}/{len(nodes)} running", e.dir
            )
        except DaemonHung:
            raise  # no other docker lab can answer either: one line, exit 3
        except Exception as exc:  # noqa: BLE001 - a broken lab is listed, not fatal
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
            table.add_row(e.lab, e.runtime, "broken", why, e.dir)
    out.print(table)
    if not root:
        err.print(f"note: the nodes are not shown: twin status {NEEDS_ROOT}", markup=False)


@handle_errors
def down(
    file: PolicyOrLab = None,
    lab: Lab = None,
    all_labs: Annotated[
        bool,
        typer.Option(
            "--all", help="Remove every twin lab on this machine (not on a shared CI runner)."
        ),
    ] = False,
) -> None:
    """Remove a lab completely: nodes, links, processes, files (only what is provably its).

    A lab that is not up is no error (exit 0, with a note): teardown can be repeated."""
    if file is not None and lab is None:
        lab = _lab_of(file)
    try:
        todo = teardown.targets(lab, all_labs)
    except NotUp as exc:  # `twin down` alone, and no lab is up
        err.print(f"note: {exc}; nothing to remove", markup=False)
        raise typer.Exit(0) from None
    if todo and os.geteuid() != 0:
        raise EnvironmentProblem(
            f"twin down {NEEDS_ROOT.replace('looks into', 'removes')}; run it as root"
        )
    failed = False
    for target in todo:
        done = teardown.remove_lab(target.lab, target.dir, target.runtime)
        if target.must_exist and not done.found:
            names = [e.lab for e in entries()]
            err.print(
                f"note: lab {target.lab!r} is not up; nothing to remove ("
                + did_you_mean(target.lab, names)
                + f"labs up: {', '.join(names) or 'none'})",
                markup=False,
            )
            continue
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
