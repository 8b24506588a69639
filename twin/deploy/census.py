"""Everything netfilter holds in the twin's namespaces, beside twin's own table.

twin's table is read in full and compared with what twin loaded (`twin.firewalls.tamper`); but a
packet meets every base chain of every table at its hook, whatever the table's family or name
(`table ip evil` at prerouting, a netdev ingress chain, a bridge table, `iptables -I FORWARD`
through iptables-nft or iptables-legacy). So each node's netfilter is also counted: each
nftables table (family, name), its base chains, the x_tables tables in use, and the nftables
generation, which the kernel moves with every change to any table of the namespace — a change
made and undone between two health checks shows there. A table twin did not load, in the
firewall or in a host (a host's own drop makes flows fail for a reason that is not the policy),
is an unhealthy twin: no verdict on it stands.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from traffic.netns import Namespaces, in_thread
from traffic.nftdump import Census, read_census
from twin.firewalls.tamper import foreign
from twin.lab.directory import LabDir
from twin.lab.state import LabState
from twin.plan.agent import enforced_by_hosts
from twin.plan.plan import Plan
from twin.runtime.base import Runtime

SHOWN = 3  # foreign tables named per node; the rest are counted
OURS = frozenset({("inet", "twin")})  # `table inet twin`, the only table twin loads anywhere


@dataclass(frozen=True)
class Counted:
    problems: list[str]
    warnings: list[str]
    generations: dict[str, int]  # node → nftables generation when counted


def watched(plan: Plan, whole_firewall: bool) -> dict[str, frozenset[tuple[str, str]]]:
    """The nodes whose netfilter twin answers for → the tables twin loads there. The firewall's,
    unless its kind keeps tables of its own (VyOS); every host's (none in central mode)."""
    hosts = OURS if enforced_by_hosts(plan) else frozenset()
    out = {plan.firewall: OURS} if whole_firewall else {}
    return {**out, **{h.name: hosts for h in plan.hosts}}


def take(
    runtime: Runtime, state: LabState, nodes: dict[str, frozenset[tuple[str, str]]]
) -> dict[str, Census]:
    """Each node's census, read in one thread that enters each namespace in turn."""
    paths = {node: runtime.netns(state, node) for node in nodes}
    out: dict[str, Census] = {}

    def work() -> None:
        ns = Namespaces()
        try:
            for node, ours in nodes.items():
                ns.enter(paths[node])
                out[node] = read_census(ours)
        finally:
            ns.close()

    in_thread(work, "twin-census")
    return out


def remember(runtime: Runtime, state: LabState, plan: Plan, whole_firewall: bool) -> None:
    """Each node's nftables generation now that twin has loaded what it loads."""
    counted = take(runtime, state, watched(plan, whole_firewall))
    gens = {node: c.generation for node, c in counted.items()}
    path = LabDir(state.path).loaded_generations
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(gens))
    tmp.replace(path)


def loaded(state: LabState) -> dict[str, int]:
    try:
        data = json.loads(LabDir(state.path).loaded_generations.read_text())
    except (OSError, ValueError):
        return {}
    return (
        {str(k): v for k, v in data.items() if isinstance(v, int)} if isinstance(data, dict) else {}
    )


def judge(
    runtime: Runtime,
    state: LabState,
    plan: Plan,
    *,
    whole: bool,
    ruleset_ok: bool,
    since: dict[str, int] | None = None,
) -> Counted:
    """Tables twin did not load (problems), and nftables generations that moved although the
    rulesets read as twin loaded them (`ruleset_ok`): since `since` (the health check before a
    run) a problem — the run's verdicts met an unknown ruleset; since twin loaded them only a
    warning — what is enforced now is what twin loaded."""
    nodes = watched(plan, whole)
    counted = take(runtime, state, nodes)
    problems, warnings = [], []
    for node, census in counted.items():
        who = "the firewall" if node == plan.firewall else f"host {node}"
        tables = foreign(census, nodes[node])
        if tables:
            more = f"; and {len(tables) - SHOWN} more" if len(tables) > SHOWN else ""
            problems.append(
                f"{who} holds netfilter tables twin did not load (added by hand?): "
                + "; ".join(tables[:SHOWN]) + more
            )  # fmt: skip
    gens = {node: c.generation for node, c in counted.items()}
    if not problems and ruleset_ok:
        was = loaded(state)
        for node, gen in gens.items():
            who = "the firewall" if node == plan.firewall else f"host {node}"
            if since is not None and since.get(node, gen) != gen:
                problems.append(
                    f"{who}'s nftables ruleset was changed while flows were probed (generation "
                    f"{since[node]} → {gen}): what the probes met is unknown"
                )
            elif node in was and was[node] != gen:
                warnings.append(
                    f"{who}'s nftables ruleset was changed since twin loaded it (generation "
                    f"{was[node]} → {gen}), and changed back: it reads as twin loaded it"
                )
    return Counted(problems, warnings, gens)
