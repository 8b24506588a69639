"""After a runtime made the nodes and links: addresses, routes, sysctls, the firewall.

Runtime-independent: everything goes through `Runtime.exec` and `Runtime.netns`, and every
step is checked (containerlab's `exec:` failures would not fail a deploy; ours do).
"""

from __future__ import annotations

import functools
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from traffic import rtnl
from traffic.netns import Namespaces, in_thread, set_sysctls
from traffic.prober import OPEN, Outcome, Probe, Refused, run_probes
from twin.deploy import census
from twin.deploy.enforcement import combined, hosts_snapshot, load_hosts, remember_hosts
from twin.errors import EnvironmentProblem, ProbeRefused
from twin.firewalls.base import FirewallNode, Snapshot, check
from twin.firewalls.table import firewall_of
from twin.lab.state import LabState
from twin.plan.agent import enforced_by_hosts
from twin.plan.plan import Plan
from twin.runtime.base import Runtime

PARALLEL = 8  # node commands in flight at once


def configure(runtime: Runtime, state: LabState, plan: Plan) -> None:
    configs = state.files.configs
    # containerlab's `exec:` already ran the same setup files (up checks the result afterwards)
    setup_done = state.node_setup_by_deploy
    fw = firewall_of(plan.firewall_kind)
    nodes = [n for n in plan.nodes if not (fw.own_init and n == plan.firewall)]  # sets its own

    batches = {} if setup_done else {n: (configs / f"{n}.ip").read_text() for n in nodes}
    # a host's usual lines go over rtnetlink from this process; a file with anything else (the
    # firewall's bridges, a user's template) is run by `ip -batch` in the node
    direct = {n: cmds for n, text in batches.items() if (cmds := rtnl.ip_lines(text)) is not None}

    def setup(node: str) -> None:
        batch = batches[node]
        check(runtime.exec(state, node, ["ip", "-batch", "-"], stdin=batch), node, "ip -batch")

    agents = enforced_by_hosts(plan)  # each host enforces its own rules too
    if plan.dual_stack and batches:  # before the bridges exist: they inherit `default`
        ipv6_on = {f"net.ipv6.conf.{k}.disable_ipv6": "0" for k in ("all", "default")}
        in_thread(lambda: _sysctls(runtime, state, [n for n in nodes if n not in direct], ipv6_on),
                  "twin-configure")  # fmt: skip

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:  # they wait on the kernel
        # the ruleset names interfaces, it does not need them: it loads (and is read back)
        # meanwhile
        config = state.files.config(plan.firewall, fw.suffix).read_text()
        loading = (
            None
            if fw.own_init
            else pool.submit(load_firewall, runtime, state, plan, config, remember=not agents)
        )
        hosts = pool.submit(load_hosts, runtime, state, plan) if agents else None
        for future in [pool.submit(setup, n) for n in batches if n not in direct]:
            future.result()
        in_thread(lambda: _each_node(runtime, state, plan, nodes, direct), "twin-configure")
        for job in (loading, hosts):
            if job is not None:
                job.result()
    if fw.own_init:  # once its init has booted
        load_firewall(runtime, state, plan, config, remember=not agents)
    if agents:
        remember_loaded(runtime, state, plan)


def _sysctls(runtime: Runtime, state: LabState, nodes: list[str], values: dict[str, str]) -> None:
    """The same sysctls in each of `nodes` (Docker starts a container with IPv6 off)."""
    ns = Namespaces()
    try:
        for node in nodes:
            ns.enter(runtime.netns(state, node))
            set_sysctls(values)
    except OSError as exc:
        raise EnvironmentProblem(f"{exc.strerror or exc}") from None
    finally:
        ns.close()


def _each_node(
    runtime: Runtime, state: LabState, plan: Plan, nodes: list[str], direct: dict[str, Any]
) -> None:
    """One thread enters every node in turn: a host's sysctls, then its lines over rtnetlink
    (before its link is up: no duplicate address detection, no router solicitation); the
    firewall's sysctls (they name the bridges its `ip -batch` made)."""
    configs = state.files.configs
    paths = {n: runtime.netns(state, n) for n in nodes}
    ns = Namespaces()
    try:
        for node in nodes:
            try:
                ns.enter(paths[node])
                set_sysctls(read_sysctls(configs / f"{node}.sysctl"))
                if node in direct:
                    rtnl.apply(direct[node])
            except OSError as exc:
                raise EnvironmentProblem(f"node {node}: {exc.strerror}") from None
    finally:
        ns.close()


def firewall_node(runtime: Runtime, state: LabState, plan: Plan) -> FirewallNode:
    """The firewall node as its adapter sees it."""
    run = functools.partial(runtime.exec, state, plan.firewall)
    return FirewallNode(plan.firewall, run, runtime.netns(state, plan.firewall), state.path)


def load_firewall(
    runtime: Runtime, state: LabState, plan: Plan, config: str, *, remember: bool = True
) -> None:
    """Load the firewall's configuration (nftables: one `nft -f` transaction) and remember it
    (`remember=False`: the caller does, once the hosts' own rules are in too)."""
    firewall_of(plan.firewall_kind).apply(firewall_node(runtime, state, plan), config)
    if remember:
        remember_loaded(runtime, state, plan)


def remember_loaded(runtime: Runtime, state: LabState, plan: Plan) -> None:
    """The ruleset as the kernel holds it now is the one twin loaded: its hash in the state, its
    fingerprint in the lab directory (to name what changed, should it change)."""
    fw, node = firewall_of(plan.firewall_kind), firewall_node(runtime, state, plan)
    central = fw.snapshot(node)
    snap = central
    if enforced_by_hosts(plan):  # every host's own table too: one hash over all of them
        snap = combined(central, hosts_snapshot(runtime, state, plan), plan)
        remember_hosts(runtime, state, plan, snap)
    state.ruleset_sha256 = snap.sha256 if snap else ""
    if central is not None:
        fw.remember(node, central)
    census.remember(runtime, state, plan, fw.whole_netfilter)
    state.save()


def ruleset_change(runtime: Runtime, state: LabState, plan: Plan, snap: Snapshot) -> str:
    """What differs between the ruleset twin loaded and `snap`, in words."""
    node = firewall_node(runtime, state, plan)
    return firewall_of(plan.firewall_kind).describe_change(node, snap)


def firewall_snapshot(runtime: Runtime, state: LabState, plan: Plan) -> Snapshot | None:
    """The firewall's ruleset read back (hash, counters); None when it is not there. With
    enforcement on the hosts, every enforcing node's, in one snapshot (never None)."""
    central = firewall_of(plan.firewall_kind).snapshot(firewall_node(runtime, state, plan))
    if not enforced_by_hosts(plan):
        return central
    return combined(central, hosts_snapshot(runtime, state, plan), plan)


def read_sysctls(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            key, _, value = text.partition("=")
            out[key.strip()] = value.strip()
    return out


def send_probes(probes: list[Probe], subnets: list[str], timeout: float) -> list[Outcome]:
    """Send `probes` from inside the twin (traffic.prober), the prober's safety refusal as a
    TwinError."""
    try:
        return run_probes(probes, subnets, timeout=timeout)
    except Refused as exc:
        raise ProbeRefused(str(exc)) from None


def wait_ready(runtime: Runtime, state: LabState, plan: Plan, timeout: float = 5.0) -> None:
    """Every host answers ping from its gateway path: links up, addresses and routes in place.

    Each host pings its own gateway (the firewall's address in its zone), in each family it
    has (icmpv6 over IPv6: neighbour discovery through the firewall included). New veths can
    drop packets for up to ~1 s, so this retries until `timeout`.
    """
    waiting = {
        (h.name, family): Probe(
            runtime.netns(state, h.name), str(h.addr(family)),
            str(h.gateway if family == 4 else h.gateway6), "icmp" if family == 4 else "icmpv6",
        )
        for h in plan.hosts
        for family in h.families
    }  # fmt: skip
    deadline = time.monotonic() + timeout
    while waiting:
        keys = list(waiting)
        probes = [waiting[k] for k in keys]
        outcomes = send_probes(probes, plan.lab_subnets, 0.2)
        for key, out in zip(keys, outcomes, strict=True):
            if out.verdict == OPEN:
                del waiting[key]
        if waiting and time.monotonic() > deadline:
            names = ", ".join(sorted({f"{h} (IPv{f})" if plan.dual_stack else h
                                      for h, f in waiting}))  # fmt: skip
            raise EnvironmentProblem(
                f"hosts never reached their gateway within {timeout:.0f} s: {names}"
            )
