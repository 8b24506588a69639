"""The exact flow-space engine against the plan's own first match, on random policies and flows."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.diff import generate_policy
from tests.conftest import REFERENCE
from twin.analysis.flowspace import FlowSpace, compare
from twin.analysis.intervals import (
    ALL_SERVICES,
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
from twin.policy.model import Policy

BASE = int(ipaddress.IPv4Address("10.0.0.0"))
ZONES = ("a", "b", "c")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- random policies: /27 zones side by side, rule CIDRs that straddle them, small ports ----


def _cidr(prefix: int, offset: int) -> str:
    host_bits = 32 - prefix
    return f"{ipaddress.IPv4Address(BASE + (offset >> host_bits << host_bits))}/{prefix}"


cidrs = st.builds(_cidr, st.integers(24, 32), st.integers(0, 127))
ports = st.integers(1, 12)
service = st.one_of(
    st.just("icmp"),
    st.just("tcp"),
    st.builds(lambda p, q: f"tcp/{min(p, q)}-{max(p, q)}", ports, ports),
    st.builds(lambda p: f"udp/{p}", ports),
    st.builds(lambda p: f"tcp/{p}", st.sampled_from([1, 65535, 6])),
)
zone_ref = st.one_of(st.just(["any"]), st.lists(st.sampled_from(ZONES), min_size=1, max_size=2))
actions = st.sampled_from(["allow", "deny", "reject"])


@st.composite
def rules(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(0, 8))):
        rule: dict[str, Any] = {
            "name": f"r{i}",
            "from": draw(zone_ref),
            "to": draw(zone_ref),
            "action": draw(actions),
        }
        if draw(st.booleans()):
            rule["services"] = draw(st.lists(service, min_size=1, max_size=3))
        if draw(st.integers(0, 2)) == 0:
            rule["source"] = draw(st.lists(cidrs, min_size=1, max_size=2))
        if draw(st.integers(0, 2)) == 0:
            rule["destination"] = draw(st.lists(cidrs, min_size=1, max_size=2))
        out.append(rule)
    return out


@st.composite
def policies(draw: st.DrawFn) -> Plan:
    data = {
        "name": "prop",
        "defaults": {"interzone": draw(actions), "intrazone": draw(actions)},
        "zones": {
            z: {
                "subnet": f"10.0.0.{32 * i}/27",
                "hosts": [f"{z}1", f"{z}2"],
                "segment": draw(st.sampled_from(["isolated", "isolated", "flat"])),
            }
            for i, z in enumerate(ZONES)
        },
        "rules": draw(rules()),
    }
    return build_plan(Policy.model_validate(data))


flows = st.builds(
    lambda src, dst, proto, port: (src, dst, proto, 0 if proto == "icmp" else port),
    st.integers(BASE, BASE + 95),
    st.integers(BASE, BASE + 95),
    st.sampled_from(["tcp", "udp", "icmp"]),
    st.one_of(ports, st.sampled_from([1, 65535, 13, 40000])),
)  # icmp flows carry port 0, as probes do


def first_match(plan: Plan, src: int, dst: int, proto: str, port: int) -> RulePlan:
    """Plan.decide's loop, on addresses instead of host names."""
    zone = {z.name: z.subnet for z in plan.zones}
    s_ip, d_ip = ipaddress.IPv4Address(src), ipaddress.IPv4Address(dst)
    sz = next(n for n, net in zone.items() if s_ip in net)
    dz = next(n for n, net in zone.items() if d_ip in net)
    if sz == dz and sz in plan.flat_zones and plan.flat_rule is not None:
        return plan.flat_rule  # hosts of a flat zone never reach the firewall
    return next(r for r in plan.rules if r.applies(sz, dz) and r.matches(s_ip, d_ip, proto, port))


def without(plan: Plan, name: str) -> Plan:
    rules = [r for r in plan.policy.rules if r.name != name]
    return build_plan(plan.policy.model_copy(update={"rules": rules}))


# --- properties -----------------------------------------------------------------------------


@SETTINGS
@given(policies(), st.lists(flows, min_size=20, max_size=40))
def test_every_flow_lies_in_the_class_of_its_first_match(plan: Plan, sample: list) -> None:
    space = FlowSpace(plan)
    for src, dst, proto, port in sample:
        cls = space.lookup(src, dst, proto, port)
        assert cls is not None
        assert cls.rule == first_match(plan, src, dst, proto, port).name


@SETTINGS
@given(policies(), st.data())
def test_host_flows_agree_with_plan_decide(plan: Plan, data: st.DataObject) -> None:
    space = FlowSpace(plan)
    hosts = st.sampled_from(plan.hosts)
    for _ in range(20):
        src, dst = data.draw(hosts), data.draw(hosts)
        proto = data.draw(st.sampled_from(["tcp", "udp", "icmp"]))
        port = 0 if proto == "icmp" else data.draw(st.one_of(ports, st.just(65535)))
        cls = space.lookup(int(src.address), int(dst.address), proto, port)
        assert cls is not None
        assert cls.rule == plan.decide(src.name, dst.name, proto, port).name


@SETTINGS
@given(policies())
def test_classes_partition_each_zone_pair_exactly(plan: Plan) -> None:
    space = FlowSpace(plan)
    for s, d in space.pairs():
        classes = space.classes(s, d)
        domain = space.domain(s, d)
        total = size(domain[0]) * size(domain[1]) * size(domain[2])
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


@SETTINGS
@given(policies(), policies(), st.lists(flows, min_size=20, max_size=40))
def test_compare_finds_exactly_the_flows_whose_decision_changes(
    old: Plan, new: Plan, sample: list
) -> None:
    diff = compare(old, new)
    for src, dst, proto, port in sample:
        a, b = first_match(old, *(src, dst, proto, port)), first_match(new, src, dst, proto, port)
        change = diff.find(src, dst, proto, port)
        if a.action == b.action:
            assert change is None
        else:
            assert change is not None
            assert (change.old_rule, change.new_rule) == (a.name, b.name)
            assert (change.old_action, change.new_action) == (a.action, b.action)


@SETTINGS
@given(policies())
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
