"""After a runtime made the nodes and links: addresses, routes, sysctls, the firewall.

Runtime-independent: everything goes through `Runtime.exec` and `Runtime.netns`, and every
step is checked (containerlab's `exec:` failures would not fail a deploy; ours do).
"""

from __future__ import annotations

import functools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traffic import rtnl
from traffic.netns import Namespaces, in_thread, set_sysctls
from traffic.nftdump import Missing, Table, read_table
from traffic.prober import OPEN, Probe, run_probes
from twin.errors import EnvironmentProblem
from twin.firewalls import tamper
from twin.firewalls.vyos import apply_vyos
from twin.lab.state import LabState
from twin.plan.plan import Plan
from twin.policy.model import FirewallKind
from twin.proc import ExecResult
from twin.runtime.base import Runtime

PARALLEL = 8  # node commands in flight at once


def configure(runtime: Runtime, state: LabState, plan: Plan) -> None:
    configs = state.files.configs
    # containerlab's `exec:` already ran the same setup files (up checks the result afterwards)
    setup_done = bool(state.extra.get("node_setup_by_deploy"))
    vyos = plan.firewall_kind is FirewallKind.vyos
    nodes = [n for n in plan.nodes if not (vyos and n == plan.firewall)]  # VyOS sets its own

    batches = {} if setup_done else {n: (configs / f"{n}.ip").read_text() for n in nodes}
    # a host's usual lines go over rtnetlink from this process; a file with anything else (the
    # firewall's bridges, a user's template) is run by `ip -batch` in the node
    direct = {n: cmds for n, text in batches.items() if (cmds := rtnl.ip_lines(text)) is not None}

    def setup(node: str) -> None:
        batch = batches[node]
        _check(runtime.exec(state, node, ["ip", "-batch", "-"], stdin=batch), node, "ip -batch")

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:  # they wait on the kernel
        # the ruleset names interfaces, it does not need them: it loads (and is read back)
        # meanwhile
        ruleset = None if vyos else (configs / f"{plan.firewall}.nft").read_text()
        nft = pool.submit(load_firewall, runtime, state, plan, ruleset) if ruleset else None
        for future in [pool.submit(setup, n) for n in batches if n not in direct]:
            future.result()
        in_thread(lambda: _each_node(runtime, state, plan, nodes, direct), "twin-configure")
        if nft is not None:
            nft.result()
    if vyos:
        run = functools.partial(runtime.exec, state, plan.firewall)
        apply_vyos(run, plan, (configs / f"{plan.firewall}.vyos").read_text())


def _each_node(
    runtime: Runtime, state: LabState, plan: Plan, nodes: list[str], direct: dict[str, Any]
) -> None:
    """One thread enters every node in turn: a host's lines over rtnetlink, then sysctls."""
    configs = state.files.configs
    paths = {n: runtime.netns(state, n) for n in nodes}
    ns = Namespaces()
    try:
        for node in nodes:
            try:
                ns.enter(paths[node])
                if node in direct:
                    rtnl.apply(direct[node])
                set_sysctls(read_sysctls(configs / f"{node}.sysctl"))
            except OSError as exc:
                raise EnvironmentProblem(f"node {node}: {exc.strerror}") from None
    finally:
        ns.close()


def load_firewall(runtime: Runtime, state: LabState, plan: Plan, ruleset: str) -> None:
    """Load an nftables ruleset atomically (one `nft -f` transaction) and remember it."""
    nft_load(runtime, state, plan, ruleset)
    remember_loaded(runtime, state, plan)


def nft_load(runtime: Runtime, state: LabState, plan: Plan, ruleset: str) -> None:
    _check(
        runtime.exec(state, plan.firewall, ["nft", "-f", "-"], stdin=ruleset),
        plan.firewall,
        "nft -f",
    )


def remember_loaded(runtime: Runtime, state: LabState, plan: Plan) -> None:
    """The table as the kernel holds it now is the one twin loaded: its hash in the state, its
    fingerprint in the lab directory (to name what changed, should it change)."""
    snap = firewall_snapshot(runtime, state, plan)
    state.ruleset_sha256 = snap.sha256 if snap else ""
    if snap is not None and snap.table is not None:
        tamper.save_loaded(state.path, tamper.fingerprint(snap.table))
    state.save()


def ruleset_change(runtime: Runtime, state: LabState, plan: Plan, snap: Snapshot) -> str:
    """What differs between the table twin loaded and `snap`, in words."""
    if snap.table is None:
        return "the table could not be read"
    listed: dict[str, dict[int, str]] = {}

    def rule_text(chain: str, handle: int) -> str:
        if chain not in listed:
            res = runtime.exec(
                state, plan.firewall, ["nft", "-a", "-s", "list", "chain", "inet", "twin", chain]
            )
            listed[chain] = {}
            for line in res.stdout.splitlines() if res.ok else []:
                text, sep, number = line.strip().rpartition(" # handle ")
                if sep and number.isdigit():
                    listed[chain][int(number)] = text
        return listed[chain].get(handle, "?")

    loaded = tamper.read_loaded(state.path)
    return tamper.describe(loaded, snap.table, rule_text)


@dataclass(frozen=True)
class Snapshot:
    """The firewall's table as the kernel holds it: a hash of what it does, and its counters."""

    sha256: str
    counters: dict[str, int]  # rule name (nft comment) → packets, summed over its nft rules
    table: Table | None = field(default=None, compare=False, repr=False)


def firewall_snapshot(runtime: Runtime, state: LabState, plan: Plan) -> Snapshot | None:
    """twin's table read over netlink from inside the firewall (milliseconds where `nft -j list`
    takes seconds at 10,000 rules); None when it is not there at all."""
    path = runtime.netns(state, plan.firewall)
    try:
        table = in_thread(lambda: read_table("twin", path), "twin-nft")
    except Missing:
        return None
    except OSError as exc:
        raise EnvironmentProblem(f"reading the firewall's ruleset: {exc.strerror or exc}") from None
    counters: dict[str, int] = {}
    for rule in table.rules:
        if rule.comment:
            counters[rule.comment] = counters.get(rule.comment, 0) + rule.packets
    return Snapshot(tamper.table_sha256(table), counters, table)


def read_sysctls(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            key, _, value = text.partition("=")
            out[key.strip()] = value.strip()
    return out


def _check(res: ExecResult, node: str, what: str) -> None:
    if not res.ok:
        detail = (res.stderr or res.stdout).strip().splitlines()
        raise EnvironmentProblem(
            f"{what} failed on node {node}: {detail[-1] if detail else res.returncode}"
        )


def wait_ready(runtime: Runtime, state: LabState, plan: Plan, timeout: float = 5.0) -> None:
    """Every host answers ping from its gateway path: links up, addresses and routes in place.

    Each host pings its own gateway (the firewall's address in its zone). New veths can drop
    packets for up to ~1 s, so this retries until `timeout`.
    """
    subnets = [str(z.subnet) for z in plan.zones]
    waiting = {h.name: h for h in plan.hosts}
    deadline = time.monotonic() + timeout
    while waiting:
        probes = [
            Probe(runtime.netns(state, h.name), str(h.address), str(h.gateway), "icmp")
            for h in waiting.values()
        ]
        for probe, out in zip(probes, run_probes(probes, subnets, timeout=0.2), strict=True):
            if out.verdict == OPEN:
                waiting.pop(next(n for n, h in waiting.items() if str(h.address) == probe.src))
        if waiting and time.monotonic() > deadline:
            names = ", ".join(sorted(waiting))
            raise EnvironmentProblem(
                f"hosts never reached their gateway within {timeout:.0f} s: {names}"
            )
