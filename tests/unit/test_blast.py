"""Blast radius against a brute-force oracle built on `Plan.decide`, on random policies.

The oracle asks `Plan.decide` for every host pair at every boundary point of every rule's
ports (both ends of each range and their neighbours, 1, 65535, icmp): between two such points
no rule changes its mind, so these points decide every flow. From them it builds the host
graph and walks it breadth first — slow and obvious — and the fast engine (`reach`, `blast`:
groups, first match over interval sets, Tarjan) must agree host by host, hop by hop.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REFERENCE
from twin.analysis.blast import VIA, Blast, check_unreachable, path_line, way_in
from twin.analysis.intervals import ALL_SERVICES, contains, service_key
from twin.analysis.reach import FLAT, Reach
from twin.plan.build import build_plan
from twin.plan.plan import Plan
from twin.policy.load import load_policy
from twin.policy.model import Action, Policy

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ZONES = ("a", "b", "c")
PORTS = st.integers(1, 9)

# --- random policies: three /28 zones of 1-3 hosts; rules name hosts, zones, CIDRs, ranges ----

service = st.one_of(
    st.just("icmp"),
    st.just("tcp"),
    st.just("udp"),
    st.builds(lambda p, q: f"tcp/{min(p, q)}-{max(p, q)}", PORTS, PORTS),
    st.builds(lambda p: f"udp/{p}", PORTS),
    st.builds(lambda p: f"tcp/{p}", st.sampled_from([1, 65535, 5])),
)
zone_ref = st.one_of(st.just(["any"]), st.lists(st.sampled_from(ZONES), min_size=1, max_size=2))
actions = st.sampled_from(["allow", "deny", "reject"])


@st.composite
def policies(draw: st.DrawFn) -> Plan:
    hosts = {z: [f"{z}{i}" for i in range(draw(st.integers(1, 3)))] for z in ZONES}
    names = [h for hs in hosts.values() for h in hs]
    cidrs = st.builds(
        lambda prefix, offset: f"10.0.0.{offset >> (32 - prefix) << (32 - prefix)}/{prefix}",
        st.integers(27, 32),
        st.integers(0, 47),
    )
    address = st.one_of(st.sampled_from(names), st.sampled_from(ZONES), cidrs)
    rules: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 8))):
        rule: dict[str, Any] = {"name": f"r{i}", "from": draw(zone_ref), "to": draw(zone_ref),
                                "action": draw(actions)}  # fmt: skip
        if draw(st.booleans()):
            rule["services"] = draw(st.lists(service, min_size=1, max_size=3))
        for key in ("source", "destination"):
            if draw(st.integers(0, 2)) == 0:
                rule[key] = draw(st.lists(address, min_size=1, max_size=2))
        rules.append(rule)
    data = {
        "name": "prop",
        "defaults": {"interzone": draw(actions), "intrazone": draw(actions)},
        "zones": {
            z: {
                "subnet": f"10.0.0.{16 * i}/28",
                "hosts": hosts[z],
                "segment": draw(st.sampled_from(["isolated", "isolated", "flat"])),
            }
            for i, z in enumerate(ZONES)
        },
        "rules": rules,
    }
    return build_plan(Policy.model_validate(data))


# --- the oracle ---------------------------------------------------------------------------------


def points(plan: Plan) -> list[tuple[str, int]]:
    """Flows that decide every flow: each rule's range ends and their neighbours, icmp."""
    found = {("tcp", 1), ("tcp", 65535), ("udp", 1), ("udp", 65535), ("icmp", 0)}
    for rule in plan.rules:
        for s in rule.services or ():
            if s.proto != "icmp":
                found.update(
                    (s.proto, p) for p in (s.lo - 1, s.lo, s.hi, s.hi + 1) if 0 < p < 65536
                )
    return sorted(found)


def oracle_rule(
    plan: Plan, flat: set[str], src: str, dst: str, service: tuple[str, int]
) -> str | None:
    """The rule that allows a flow (FLAT inside a flat zone), or None when it is blocked."""
    if plan.by_host[src].zone == plan.by_host[dst].zone in flat:
        return FLAT
    rule = plan.decide(src, dst, *service)
    return rule.name if rule.action is Action.allow else None


def oracle_graph(plan: Plan, flat: set[str], via: str) -> dict[str, set[str]]:
    mask = VIA[via]
    graph: dict[str, set[str]] = {h.name: set() for h in plan.hosts}
    pts = [(p, n) for p, n in points(plan) if contains(mask, service_key(p, n))]
    for a, b in itertools.permutations([h.name for h in plan.hosts], 2):
        if any(oracle_rule(plan, flat, a, b, (p, n)) for p, n in pts):
            graph[a].add(b)
    return graph


def bfs(graph: dict[str, set[str]], sources: list[str]) -> dict[str, int]:
    dist = dict.fromkeys(sources, 0)
    queue = deque(sources)
    while queue:
        h = queue.popleft()
        for n in sorted(graph[h]):
            if n not in dist:
                dist[n] = dist[h] + 1
                queue.append(n)
    return dist


def check_path(plan: Plan, flat: set[str], path: tuple, start: set[str], end: str) -> None:
    """Every hop is a flow the policy allows, by the rule the hop names; the hops chain."""
    assert path[0].src in start and path[-1].dst == end
    for hop, nxt in itertools.pairwise(path):
        assert hop.dst == nxt.src
    for hop in path:
        assert hop.rule == oracle_rule(plan, flat, hop.src, hop.dst, (hop.proto, hop.port))
        assert (hop.src_zone, hop.dst_zone) == (
            plan.by_host[hop.src].zone,
            plan.by_host[hop.dst].zone,
        )


# --- properties ---------------------------------------------------------------------------------


@SETTINGS
@given(policies(), st.sets(st.sampled_from(ZONES), max_size=1))
def test_every_host_pair_allows_exactly_what_decide_allows(plan: Plan, flat: set[str]) -> None:
    reach = Reach(plan, flat)
    for a, b in itertools.permutations([h.name for h in plan.hosts], 2):
        pieces = reach.pieces(a, b)
        for proto, port in points(plan):
            key = service_key(proto, port)
            got = next((p.rule for p in pieces if contains(p.services, key)), None)
            assert got == oracle_rule(plan, flat, a, b, (proto, port)), (a, b, proto, port)


@SETTINGS
@given(policies(), st.sets(st.sampled_from(ZONES), max_size=1), st.sampled_from(sorted(VIA)))
def test_fixed_points_and_paths_match_a_breadth_first_walk_of_decide(
    plan: Plan, flat: set[str], via: str
) -> None:
    graph = oracle_graph(plan, flat, via)
    blast = Blast(Reach(plan, flat), via)
    closures = blast.closures()
    for i, host in enumerate(plan.hosts):
        dist = bfs(graph, [host.name])
        walk = blast.walk([i])
        assert {plan.hosts[h].name: d for h, d in walk.dist.items()} == dist
        assert {plan.hosts[h].name for h in range(len(plan.hosts)) if closures[i] >> h & 1} == (
            set(dist)
        )
        assert {plan.hosts[h].name for h in range(len(plan.hosts)) if blast.direct(i) >> h & 1} == (
            graph[host.name]
        )
        for h, d in walk.dist.items():
            path = blast.path(walk, h)
            assert len(path) == d
            if path:
                check_path(plan, flat, path, {host.name}, plan.hosts[h].name)


@SETTINGS
@given(policies(), st.sampled_from(ZONES), st.sampled_from(ZONES))
def test_shortest_paths_towards_a_zone_match_the_oracle(
    plan: Plan, start: str, target: str
) -> None:
    graph = oracle_graph(plan, set(), "any")
    reach = Reach(plan)
    blast = Blast(reach)
    targets = reach.members[target]
    dist, step = blast.toward(targets)
    names = {plan.hosts[t].name for t in targets}
    for h in reach.members[start]:
        name = plan.hosts[h].name
        walked = bfs(graph, [name])
        best = min((walked[t] for t in names if t in walked), default=None)
        assert dist.get(h) == best
        if best:
            check_path(plan, set(), blast.follow(step, h), {name}, blast.follow(step, h)[-1].dst)
            assert blast.follow(step, h)[-1].dst in names


@SETTINGS
@given(
    policies(),
    st.sampled_from(ZONES),
    st.sampled_from(ZONES),
    st.sampled_from([None, "tcp/5", "icmp"]),
)
def test_way_in_exists_exactly_when_the_oracle_finds_a_last_hop(
    plan: Plan, start: str, target: str, last: str | None
) -> None:
    reach = Reach(plan)
    blast = Blast(reach)
    graph = oracle_graph(plan, set(), "any")
    srcs = [h.name for h in plan.hosts if h.zone == start]
    dsts = {h.name for h in plan.hosts if h.zone == target}
    dist = bfs(graph, srcs)
    want = (("tcp", 5),) if last == "tcp/5" else (("icmp", 0),) if last == "icmp" else None
    lengths = [
        dist[a] + 1
        for a in dist
        for b in dsts
        if a != b
        and (
            b in graph[a]
            if want is None
            else any(oracle_rule(plan, set(), a, b, (p, n)) for p, n in want)
        )
    ]
    ranges = (
        ALL_SERVICES
        if want is None
        else (((5, 5),) if last == "tcp/5" else ((service_key("icmp", 0),) * 2,))
    )
    path = way_in(blast, reach.members[start], reach.members[target], ranges)
    if not lengths:
        assert path is None
    else:
        assert path is not None and len(path) == min(lengths)
        check_path(plan, set(), path, set(srcs), path[-1].dst)
        assert path[-1].dst in dsts
        if want is not None:
            assert (path[-1].proto, path[-1].port) in want


# --- the reference --------------------------------------------------------------------------


def reference() -> tuple[Plan, Reach]:
    plan = build_plan(load_policy(REFERENCE))
    return plan, Reach(plan)


def test_reference_web1_reaches_app_then_db_and_never_finance() -> None:
    plan, reach = reference()
    blast = Blast(reach)
    walk = blast.walk(reach.hosts_of("web1"))
    reached = {plan.hosts[h].name: d for h, d in walk.dist.items()}
    assert reached == {"web1": 0, "web2": 1, "app1": 1, "app2": 1, "db1": 2, "db2": 2}
    path = blast.path(walk, reach.index["db1"])
    assert path_line(path) == "web1 → app1 tcp/8080 (web-to-app) → db1 tcp/5432 (app-to-db)"
    assert [(h.proto, h.port) for h in path] == [("tcp", 8080), ("tcp", 5432)]
    assert [c.holds for c in check_unreachable(reach)] == [True, True]
    assert [j.name for j in blast.jewels] == ["db", "finance"]


def test_reference_finance_hosts_cannot_reach_each_other() -> None:
    """no-lateral-to-finance (any → finance, reject) also covers finance → finance."""
    _, reach = reference()
    assert reach.pieces("fin1", "fin2") == ()
    assert [p.rule for p in reach.pieces("jump1", "fin1")] == ["mgmt-ssh"]


def test_icmp_counts_only_with_via_any() -> None:
    data = {
        "name": "icmp",
        "defaults": {"interzone": "deny", "intrazone": "deny"},
        "zones": {"a": {"subnet": "10.0.0.0/28", "hosts": ["a1"]},
                  "b": {"subnet": "10.0.0.16/28", "hosts": ["b1"]}},
        "rules": [{"name": "ping", "from": "a", "to": "b", "services": ["icmp"],
                   "action": "allow"}],
    }  # fmt: skip
    reach = Reach(build_plan(Policy.model_validate(data)))
    assert set(Blast(reach, "any").walk([0]).dist) == {0, 1}
    assert set(Blast(reach, "ports").walk([0]).dist) == {0}
    hop = Blast(reach, "any").path(Blast(reach, "any").walk([0]), 1)[0]
    assert (hop.proto, hop.port, hop.service, hop.rule) == ("icmp", 0, "icmp", "ping")


def test_a_flat_zone_bypasses_the_intrazone_rules() -> None:
    plan, _ = reference()
    flat = Reach(plan, flat={"finance"})
    assert [p.rule for p in flat.pieces("fin1", "fin2")] == [FLAT]
    assert flat.pieces("fin1", "fin2")[0].services == ALL_SERVICES
    assert [p.rule for p in flat.pieces("jump1", "fin1")] == ["mgmt-ssh"]  # the firewall, still
