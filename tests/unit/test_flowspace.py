"""The exact flow-space engine against the plan's own first match, on random policies and flows."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.diff import generate_policy
from tests.conftest import REFERENCE
from twin.analysis.flowspace import NO_ZONE, FlowSpace, compare
from twin.analysis.intervals import (
    ALL_SERVICES,
    V6_BASE,
    addr_key,
    intersect,
    normalize,
    service_label,
    size,
    subtract,
    union,
)
from twin.analysis.rulecheck import check_rules
from twin.plan.build import build_plan
from twin.plan.plan import Plan, RulePlan
from twin.policy.load import load_policy
from twin.policy.model import Action, Policy

BASE = int(ipaddress.IPv4Address("10.0.0.0"))
BASE6 = int(ipaddress.IPv6Address("fd00::"))
ZONES = ("a", "b", "c")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- random policies: /27 zones side by side (and /120 ones in IPv6), rule CIDRs of either
# family that straddle them, small ports --------------------------------------------------


def _cidr(prefix: int, offset: int) -> str:
    host_bits = 32 - prefix
    return f"{ipaddress.IPv4Address(BASE + (offset >> host_bits << host_bits))}/{prefix}"


def _cidr6(prefix: int, offset: int) -> str:
    host_bits = 128 - prefix
    return f"{ipaddress.IPv6Address(BASE6 + (offset >> host_bits << host_bits))}/{prefix}"


cidrs = st.builds(_cidr, st.integers(24, 32), st.integers(0, 127))
cidrs6 = st.builds(_cidr6, st.integers(118, 128), st.integers(0, 1023))
ports = st.integers(1, 12)
service = st.one_of(
    st.just("icmp"),
    st.just("tcp"),
    st.builds(lambda p, q: f"tcp/{min(p, q)}-{max(p, q)}", ports, ports),
    st.builds(lambda p: f"udp/{p}", ports),
    st.builds(lambda p: f"tcp/{p}", st.sampled_from([1, 65535, 6])),
)
service6 = st.one_of(service, st.just("icmpv6"))
actions = st.sampled_from(["allow", "deny", "reject"])


def zone_refs(names: tuple[str, ...] = ZONES) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just(["any"]), st.lists(st.sampled_from(names), min_size=1, max_size=2))


@st.composite
def rules(
    draw: st.DrawFn, dual: bool = False, names: tuple[str, ...] = ZONES
) -> list[dict[str, Any]]:
    nets = st.one_of(cidrs, cidrs6) if dual else cidrs
    zone_ref = zone_refs(names)
    out = []
    for i in range(draw(st.integers(0, 8))):
        rule: dict[str, Any] = {
            "name": f"r{i}",
            "from": draw(zone_ref),
            "to": draw(zone_ref),
            "action": draw(actions),
        }
        if draw(st.booleans()):
            rule["services"] = draw(st.lists(service6 if dual else service, min_size=1, max_size=3))
        if draw(st.integers(0, 2)) == 0:
            rule["source"] = draw(st.lists(nets, min_size=1, max_size=2))
        if draw(st.integers(0, 2)) == 0:
            rule["destination"] = draw(st.lists(nets, min_size=1, max_size=2))
        out.append(rule)
    return out


# each zone of a dual-stack policy: both families, IPv4 only or IPv6 only
FAMILIES = st.sampled_from([(4, 6), (4, 6), (4,), (6,)])


@st.composite
def policies(draw: st.DrawFn, dual: bool = False) -> Plan:
    zones: dict[str, Any] = {}
    for i, z in enumerate(ZONES):
        fams = draw(FAMILIES) if dual else (4,)
        zone: dict[str, Any] = {
            "hosts": [f"{z}1", f"{z}2"],
            "segment": draw(st.sampled_from(["isolated", "isolated", "flat"])),
        }
        if 4 in fams:
            zone["subnet"] = f"10.0.0.{32 * i}/27"
        if 6 in fams:
            zone["subnet6"] = f"{ipaddress.IPv6Address(BASE6 + 256 * i)}/120"
        zones[z] = zone
    data = {
        "name": "prop",
        "defaults": {"interzone": draw(actions), "intrazone": draw(actions)},
        "zones": zones,
        "rules": draw(rules(dual)),
    }
    return build_plan(Policy.model_validate(data))


def _flow(src: int, dst: int, proto: str, port: int, v6: bool) -> tuple[int, int, str, int]:
    if v6:  # the same offsets in the IPv6 zones (fd00::/120, fd00::100/120, fd00::200/120)
        src, dst = V6_BASE + BASE6 + (src - BASE) * 8, V6_BASE + BASE6 + (dst - BASE) * 8
        proto = "icmpv6" if proto == "icmp" else proto
    return (src, dst, proto, 0 if proto in ("icmp", "icmpv6") else port)


flows = st.builds(
    _flow,
    st.integers(BASE, BASE + 95),
    st.integers(BASE, BASE + 95),
    st.sampled_from(["tcp", "udp", "icmp"]),
    st.one_of(ports, st.sampled_from([1, 65535, 13, 40000])),
    st.just(False),
)  # icmp flows carry port 0, as probes do
flows46 = st.builds(
    _flow,
    st.integers(BASE, BASE + 95),
    st.integers(BASE, BASE + 95),
    st.sampled_from(["tcp", "udp", "icmp"]),
    st.one_of(ports, st.sampled_from([1, 65535, 13, 40000])),
    st.booleans(),
)  # either family; icmp is icmpv6 over IPv6


def _addr(key: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if key >= V6_BASE:
        return ipaddress.IPv6Address(key - V6_BASE)
    return ipaddress.IPv4Address(key)


def first_match(plan: Plan, src: int, dst: int, proto: str, port: int) -> RulePlan | None:
    """Plan.decide's loop, on addresses instead of host names (None: an address in no zone)."""
    s_ip, d_ip = _addr(src), _addr(dst)
    sz = next((z.name for z in plan.zones if any(s_ip in n for n in z.nets)), None)
    dz = next((z.name for z in plan.zones if any(d_ip in n for n in z.nets)), None)
    if sz is None or dz is None:
        return None
    if sz == dz and sz in plan.flat_zones and plan.flat_rule is not None:
        return plan.flat_rule  # hosts of a flat zone never reach the firewall
    return next(r for r in plan.rules if r.applies(sz, dz) and r.matches(s_ip, d_ip, proto, port))


def without(plan: Plan, name: str) -> Plan:
    rules = [r for r in plan.policy.rules if r.name != name]
    return build_plan(plan.policy.model_copy(update={"rules": rules}))


# --- properties -----------------------------------------------------------------------------


@SETTINGS
@given(st.one_of(policies(), policies(dual=True)), st.lists(flows46, min_size=20, max_size=40))
def test_every_flow_lies_in_the_class_of_its_first_match(plan: Plan, sample: list) -> None:
    space = FlowSpace(plan)
    for src, dst, proto, port in sample:
        cls = space.lookup(src, dst, proto, port)
        rule = first_match(plan, src, dst, proto, port)
        assert (cls is None) == (rule is None)
        assert rule is None or (cls is not None and cls.rule == rule.name)


@SETTINGS
@given(st.one_of(policies(), policies(dual=True)), st.data())
def test_host_flows_agree_with_plan_decide(plan: Plan, data: st.DataObject) -> None:
    space = FlowSpace(plan)
    hosts = st.sampled_from(plan.hosts)
    for _ in range(20):
        src, dst = data.draw(hosts), data.draw(hosts)
        common = [f for f in src.families if f in dst.families]
        if not common:
            continue
        family = data.draw(st.sampled_from(common))
        proto = data.draw(st.sampled_from(["tcp", "udp", "icmp" if family == 4 else "icmpv6"]))
        port = 0 if proto.startswith("icmp") else data.draw(st.one_of(ports, st.just(65535)))
        key = (addr_key(src.addr(family)), addr_key(dst.addr(family)))
        cls = space.lookup(*key, proto, port)
        assert cls is not None
        assert cls.rule == plan.decide(src.name, dst.name, proto, port, family).name
        assert space.lookup(*key, "icmpv6" if family == 4 else "icmp", 0) is None


@SETTINGS
@given(st.one_of(policies(), policies(dual=True)))
def test_classes_partition_each_zone_pair_exactly(plan: Plan) -> None:
    space = FlowSpace(plan)
    for s, d in space.pairs():
        classes = space.classes(s, d)
        total = sum(size(a) * size(b) * size(c) for a, b, c in space.domain(s, d))
        assert sum(size(c.sources) * size(c.destinations) * size(c.services) for c in classes) == (
            total
        )
        for i, x in enumerate(classes):  # disjoint, hence a partition
            for y in classes[i + 1 :]:
                assert not (
                    intersect(x.sources, y.sources)
                    and intersect(x.destinations, y.destinations)
                    and intersect(x.services, y.services)
                )


@st.composite
def layouts(draw: st.DrawFn) -> Plan:
    """Zones laid out anew: each /26 of 10.0.0.0/25 one zone, two /27s or left out, and the
    names shuffled — renamed, split, merged, re-addressed or dropped zones between two draws."""
    nets: list[str] = []
    for quarter in (0, 64):
        shape = draw(st.sampled_from(["whole", "halves", "halves", "first", "none"]))
        if shape == "whole":
            nets.append(_cidr(26, quarter))
        elif shape != "none":
            nets += [_cidr(27, quarter), _cidr(27, quarter + 32)][: 2 if shape == "halves" else 1]
    if not nets:
        nets = [_cidr(27, 32)]
    names = draw(st.permutations(("a", "b", "c", "d", "e")))[: len(nets)]
    zones = {n: {"subnet": net, "hosts": [f"{n}1"]} for n, net in zip(names, nets, strict=True)}
    data = {
        "name": "prop",
        "defaults": {"interzone": draw(actions), "intrazone": draw(actions)},
        "zones": zones,
        "rules": draw(rules(names=tuple(names))),
    }
    return build_plan(Policy.model_validate(data))


@SETTINGS
@given(layouts(), layouts(), st.lists(flows, min_size=20, max_size=40))
def test_compare_finds_the_changes_across_renamed_split_and_merged_zones(
    old: Plan, new: Plan, sample: list
) -> None:
    """Flows are compared by address: wherever both policies have a zone for both ends."""
    _compare_finds_the_changes(old, new, sample)


@SETTINGS
@given(policies(), policies(), st.lists(flows, min_size=20, max_size=40))
def test_compare_finds_exactly_the_flows_whose_decision_changes(
    old: Plan, new: Plan, sample: list
) -> None:
    _compare_finds_the_changes(old, new, sample)


@SETTINGS
@given(policies(dual=True), st.data())
def test_compare_finds_the_changes_in_both_families(old: Plan, data: st.DataObject) -> None:
    """Same zones (same families), other rules: changes of each family found exactly."""
    rules_ = data.draw(rules(dual=True))
    new = build_plan(
        Policy.model_validate(
            old.policy.model_dump(by_alias=True, exclude_none=True) | {"rules": rules_}
        )
    )
    _compare_finds_the_changes(old, new, data.draw(st.lists(flows46, min_size=20, max_size=40)))


def _compare_finds_the_changes(old: Plan, new: Plan, sample: list) -> None:
    diff = compare(old, new)
    for src, dst, proto, port in sample:
        a, b = first_match(old, *(src, dst, proto, port)), first_match(new, src, dst, proto, port)
        change = diff.find(src, dst, proto, port)
        if b is None:  # an address in no zone of the new policy: no such flow any more
            assert change is None
            continue
        if a is None:  # an address in no zone of the old policy: blocked, then
            assert (change is not None) == (b.action == Action.allow)
            assert change is None or (change.old_rule, change.new_rule) == (NO_ZONE, b.name)
            continue
        if a.action == b.action:
            assert change is None
        else:
            assert change is not None
            assert (change.old_rule, change.new_rule) == (a.name, b.name)
            assert (change.old_action, change.new_action) == (a.action, b.action)


@SETTINGS
@given(st.one_of(policies(), policies(dual=True)))
def test_shadowed_and_redundant_rules_change_nothing_when_removed(plan: Plan) -> None:
    space = FlowSpace(plan)
    found = check_rules(space)
    flagged = found.names
    for rule in plan.rules:
        if rule.default:
            continue
        diff = compare(space, without(plan, rule.name))
        # removing a rule changes no decision exactly when it is shadowed or redundant
        assert (not diff.changes) == (rule.name in flagged), rule.name
    for s in found.shadowed:
        assert all(c.rule != s.rule for c in space.all_classes())


# --- examples -------------------------------------------------------------------------------


def test_interval_arithmetic() -> None:
    a = normalize([(1, 5), (6, 8), (10, 20)])
    assert a == ((1, 8), (10, 20))
    assert intersect(a, ((4, 11),)) == ((4, 8), (10, 11))
    assert subtract(a, ((3, 4), (8, 12))) == ((1, 2), (5, 7), (13, 20))
    assert subtract(a, ()) == a
    assert union(((1, 2),), ((3, 4),)) == ((1, 4),)
    assert service_label(ALL_SERVICES) == "any"
    assert service_label(((22, 22), (65536 + 53, 65536 + 53), (131072, 131072))) == (
        "tcp/22, udp/53, icmp"
    )


def test_reference_classes_name_the_rules_of_the_plan() -> None:
    plan = build_plan(load_policy(REFERENCE))
    space = FlowSpace(plan)
    web_app = space.classes("web", "app")
    assert [(c.rule, service_label(c.services)) for c in web_app] == [
        ("web-to-app", "tcp/8080"),
        ("interzone-default", "tcp/1-8079, tcp/8081-65535, udp, icmp"),
    ]
    assert check_rules(space).shadowed == () and check_rules(space).redundant == ()


def test_a_rule_behind_a_broader_one_is_shadowed_and_names_it(make_policy) -> None:
    def edit(data: dict) -> None:
        data["rules"].insert(0, {"name": "web-app-all", "from": "web", "to": "app",
                                 "action": "allow"})  # fmt: skip
        data["rules"].append({"name": "late-ssh", "from": "web", "to": "app",
                              "services": ["ssh"], "action": "deny"})  # fmt: skip
        data["rules"].append({"name": "dead-deny", "from": "dev", "to": "db",
                              "services": ["postgres"], "action": "deny"})  # fmt: skip

    plan = build_plan(load_policy(make_policy(edit)))
    found = check_rules(FlowSpace(plan))
    assert [(s.rule, s.by) for s in found.shadowed] == [
        ("web-to-app", ("web-app-all",)),
        ("late-ssh", ("web-app-all",)),
    ]
    assert [(r.rule, r.instead) for r in found.redundant] == [("dead-deny", ("interzone-default",))]


def test_compare_reports_a_newly_opened_path_with_both_rules(make_policy) -> None:
    old = build_plan(load_policy(make_policy()))

    def edit(data: dict) -> None:
        data["rules"].insert(0, {"name": "web-db-temp", "from": "web", "to": "db",
                                 "services": ["postgres"], "action": "allow"})  # fmt: skip

    new = build_plan(load_policy(make_policy(edit)))
    diff = compare(old, new)
    assert [(c.kind, c.src_zone, c.dst_zone, c.old_rule, c.new_rule) for c in diff.changes] == [
        ("newly-allowed", "web", "db", "interzone-default", "web-db-temp")
    ]
    assert service_label(diff.changes[0].services) == "tcp/5432"
    assert diff.zones_changed == ()


def test_fifty_zones_and_five_thousand_rules_find_the_flipped_rule() -> None:
    """The engine on a large policy finds the one flipped rule (speed: bench/diff.py)."""
    old_data = generate_policy(zones=50, rules=5000, seed=1)
    new_data = generate_policy(zones=50, rules=5000, seed=1)
    flipped = new_data["rules"][10]
    flipped["action"] = "allow" if flipped["action"] != "allow" else "deny"
    old = build_plan(Policy.model_validate(old_data))
    new = build_plan(Policy.model_validate(new_data))
    space = FlowSpace(new)
    found = check_rules(space)
    diff = compare(old, space)
    assert found.shadowed and found.redundant
    assert diff.changes and {c.old_rule for c in diff.changes} | {
        c.new_rule for c in diff.changes
    } >= {flipped["name"]}
