"""Every node that enforces the policy, as deployed: the central firewall, and with
`enforcement: host|both` each host's own rules (as an agent programs them). Load each host's
ruleset, read every enforcing node back in one snapshot, and name what changed where.

With enforcement on the hosts a lab's ruleset hash covers every node: the sha256 of each
node's own hash, one line per node ("" for the central node when it only routes). A host whose
table is missing or altered is a broken twin (exit 3), like a firewall that lost its rules: an
agent that was tampered with enforces nothing twin can vouch for.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from twin.firewalls.base import FirewallNode, Snapshot
from twin.firewalls.table import firewall_of
from twin.lab.state import LabState
from twin.plan.agent import enforced_by_hosts, enforced_centrally
from twin.plan.plan import Plan
from twin.runtime.base import Runtime

PARALLEL = 8


def host_node(runtime: Runtime, state: LabState, plan: Plan, host: str) -> FirewallNode:
    """A host enforcing its own rules, as the firewall adapter sees it."""
    run = functools.partial(runtime.exec, state, host)
    return FirewallNode(host, run, runtime.netns(state, host), state.path, host=True)


def load_hosts(runtime: Runtime, state: LabState, plan: Plan) -> None:
    """Load every host's own ruleset (configs/<host>.nft), a few at a time: one `nft -f`
    transaction each."""
    fw = firewall_of(plan.firewall_kind)

    def load(host: str) -> None:
        config = state.files.config(host, fw.suffix).read_text()
        fw.apply(host_node(runtime, state, plan, host), config)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        for done in [pool.submit(load, h.name) for h in plan.hosts]:
            done.result()


def combined(central: Snapshot | None, hosts: dict[str, Snapshot | None], plan: Plan) -> Snapshot:
    """One snapshot of every enforcing node: a hash over theirs, counters added up."""
    nodes = {plan.firewall: central, **hosts}
    counters: dict[str, int] = {}
    for snap in nodes.values():
        for name, packets in (snap.counters if snap else {}).items():
            counters[name] = counters.get(name, 0) + packets
    sha = combined_sha({n: s.sha256 if s else "" for n, s in nodes.items()})
    return Snapshot(sha, counters, central.table if central else None, nodes)


def combined_sha(hashes: dict[str, str]) -> str:
    lines = "".join(f"{node} {sha}\n" for node, sha in hashes.items())
    return hashlib.sha256(lines.encode()).hexdigest()


def hosts_snapshot(runtime: Runtime, state: LabState, plan: Plan) -> dict[str, Snapshot | None]:
    fw = firewall_of(plan.firewall_kind)
    return {h.name: fw.snapshot(host_node(runtime, state, plan, h.name)) for h in plan.hosts}


def remember_hosts(runtime: Runtime, state: LabState, plan: Plan, snap: Snapshot) -> None:
    """Keep each host's fingerprint and every node's hash (the state is saved by the caller)."""
    fw = firewall_of(plan.firewall_kind)
    for node, own in snap.nodes.items():
        if own is not None and node != plan.firewall:
            fw.remember(host_node(runtime, state, plan, node), own)
    state.enforcing = {n: s.sha256 if s else "" for n, s in snap.nodes.items()}


def problems(
    runtime: Runtime, state: LabState, plan: Plan, snap: Snapshot, change: Callable[[], str]
) -> list[str]:
    """What differs, node by node, from what twin loaded (`change()`: the central firewall's
    difference in words)."""
    want = state.enforcing
    fw = firewall_of(plan.firewall_kind)
    out = []
    for node, have in snap.nodes.items():
        expected, sha = want.get(node, ""), have.sha256 if have else ""
        if sha == expected:
            continue
        central = node == plan.firewall
        who = "the firewall" if central else f"host {node}"
        if have is None:
            out.append(
                f"{who} holds no twin ruleset (table inet twin is gone): it enforces nothing"
            )
        elif not expected:
            out.append(
                f"{who} holds a twin table, but the policy is enforced on the hosts alone "
                f"(enforcement: host): {change()}"
            )
        else:
            what = change() if central else fw.describe_change(
                host_node(runtime, state, plan, node), have
            )  # fmt: skip
            out.append(f"{who}'s ruleset is not the one twin loaded (changed by hand?): {what}")
    return out


def described(plan: Plan, sha: str) -> str:
    """What the health check looked at, in words."""
    n = len(plan.hosts)
    if not enforced_by_hosts(plan):
        return f"the firewall holds the ruleset twin loaded (sha256 {sha[:16]}…)"
    who = f"the firewall and its {n} hosts" if enforced_centrally(plan) else f"the {n} hosts"
    routes = "" if enforced_centrally(plan) else "; the firewall routes, no twin table"
    return f"{who} hold the rulesets twin loaded (sha256 of all {sha[:16]}…){routes}"
