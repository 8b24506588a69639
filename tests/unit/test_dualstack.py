"""Dual stack in the pure stages: each host pair probed over each family it shares, intent by
address speaks of one family, and the static analyses (diff, rule check, reach, blast) tell an
IPv6 hole from an IPv4 one."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.conftest import DUALSTACK
from twin.analysis.blast import Blast, check_unreachable, path_line
from twin.analysis.diff import diff_plans
from twin.analysis.flowspace import FlowSpace
from twin.analysis.intervals import addr_key, service_label
from twin.analysis.reach import Reach
from twin.analysis.rulecheck import check_rules
from twin.cli import app
from twin.plan.build import build_plan
from twin.plan.flows import plan_flows, static_violations
from twin.policy.load import load_policy


def test_every_pair_is_probed_over_both_families() -> None:
    plan = build_plan(load_policy(DUALSTACK))
    flows = plan_flows(plan)
    web_app = {(f.flow.proto, f.flow.family) for f in flows
               if (f.flow.src, f.flow.dst) == ("web1", "app1")}  # fmt: skip
    assert ("icmp", 4) in web_app and ("icmpv6", 6) in web_app
    assert ("icmp", 6) not in web_app and ("icmpv6", 4) not in web_app
    assert {f for p, f in web_app if p == "tcp"} == {4, 6}
    assert not static_violations(flows)


def test_a_rule_on_ipv4_addresses_leaves_ipv6_to_the_default() -> None:
    plan = build_plan(load_policy(DUALSTACK))
    assert plan.decide("app1", "db1", "tcp", 873, 4).name == "app-backup-v4"
    assert plan.decide("app1", "db1", "tcp", 873, 6).name == "interzone-default"
    assert plan.decide("mon1", "db1", "icmpv6", 0, 6).name == "mon-ping6"
    assert plan.decide("mon1", "db1", "icmp", 0, 4).name == "interzone-default"


def test_intent_by_address_covers_its_family_only() -> None:
    plan = build_plan(load_policy(DUALSTACK))
    covered = {(f.flow.family, f.flow.proto, f.flow.port)
               for f in plan_flows(plan) for _, name, _ in f.intents
               if name == "no-backup-over-v6"}  # fmt: skip
    assert covered == {(6, "tcp", 873)}
    by_name = {(f.flow.family, name) for f in plan_flows(plan) for _, name, _ in f.intents}
    assert (4, "web-never-db") in by_name and (6, "web-never-db") in by_name
    assert {fam for fam, n in by_name if n == "web-reaches-app-v6"} == {6}


def test_flow_classes_are_per_family() -> None:
    plan = build_plan(load_policy(DUALSTACK))
    space = FlowSpace(plan)
    backup = [c for c in space.classes("app", "db") if c.rule == "app-backup-v4"]
    assert [service_label(c.services) for c in backup] == ["tcp/873"]
    v6_db1 = addr_key(plan.by_host["db1"].addr(6))
    assert not any(lo <= v6_db1 <= hi for c in backup for lo, hi in c.destinations)
    assert check_rules(space).shadowed == ()


def test_diff_names_a_hole_opened_for_ipv6_only(make_policy) -> None:
    old = build_plan(load_policy(DUALSTACK))

    def edit(data: dict) -> None:
        data["rules"].insert(0, {"name": "web-db-v6", "from": "web", "to": "db",
                                 "destination": ["fd00:30::/64"], "services": ["postgres"],
                                 "action": "allow"})  # fmt: skip

    new = build_plan(load_policy(make_policy(edit, base=DUALSTACK)))
    result = diff_plans(old, new)
    (change,) = result.changes
    assert (change.kind, change.new_rule, service_label(change.services)) == (
        "newly-allowed",
        "web-db-v6",
        "tcp/5432",
    )
    assert [b.intent.name for b in result.breaches] == ["web-never-db"]
    res = CliRunner().invoke(app, ["diff", "--json", "-", str(DUALSTACK), str(make_policy(edit,
                             base=DUALSTACK))])  # fmt: skip
    data = json.loads(res.stdout)  # the tables: on stderr
    assert res.exit_code == 1
    (opened,) = data["newly_allowed"]
    assert (opened["sources"], opened["destinations"]) == (["web (IPv6)"], ["db (IPv6)"])


def test_reach_and_blast_walk_each_family() -> None:
    plan = build_plan(load_policy(DUALSTACK))
    reach = Reach(plan)
    assert {e.family for e in reach.edges} == {4, 6}
    v4 = reach.pieces("app1", "db1", 4)
    v6 = reach.pieces("app1", "db1", 6)
    assert [p.rule for p in v4] == ["app-to-db", "app-backup-v4"]
    assert [p.rule for p in v6] == ["app-to-db"]
    assert all(u.holds for u in check_unreachable(reach))
    blast = Blast(reach)
    walk = blast.walk(reach.hosts_of("mon1"))
    db1 = reach.index["db1"]
    line = path_line(blast.path(walk, db1))
    assert line.startswith("mon1 → db1 tcp/22")
    assert reach.hosts_of("fd00:30::/64") == reach.hosts_of("db")


def test_a_v6_hop_says_so() -> None:
    plan = build_plan(load_policy(DUALSTACK))
    reach = Reach(plan)
    blast = Blast(reach)
    k = next(k for k, e in enumerate(reach.edges)
             if e.family == 6 and reach.index["mon1"] in e.srcs
             and reach.index["db1"] in e.dsts)  # fmt: skip
    hop = blast.hop(k, reach.index["mon1"], reach.index["db1"])
    assert hop.family == 6
    assert "over IPv6" in path_line((hop,))
