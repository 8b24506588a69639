"""plan: addressing, wiring, rule expansion and the policy's own first-match answers."""

from __future__ import annotations

import ipaddress

from tests.conftest import REFERENCE
from twin.plan.build import build_plan
from twin.policy.load import load_policy, parse_policy


def small(rules: str, extra: str = "") -> str:
    return f"""
name: p
zones:
  web: {{subnet: 10.1.0.0/24, hosts: [w1, w2]}}
  db: {{subnet: 10.2.0.0/24, hosts: [d1, {{name: d2, address: 10.2.0.200}}]}}
  a-very-long-zone: {{subnet: 10.3.0.0/29, hosts: [l1]}}
{extra}
rules:
{rules}
"""


def test_reference_layout() -> None:
    plan = build_plan(load_policy(REFERENCE))
    assert plan.nodes[0] == "fw" and len(plan.nodes) == 13
    assert plan.by_host["web1"].address == ipaddress.IPv4Address("192.168.10.11")
    assert plan.by_host["fin2"].fw_port == "eth12"
    assert [z.bridge for z in plan.zones][:2] == ["br-web", "br-app"]
    assert plan.node_id("web1") == "clab-zt6-web1"
    assert plan.links[0].endpoints == ("fw:eth1", "web1:eth1")


def test_reference_decisions() -> None:
    plan = build_plan(load_policy(REFERENCE))
    assert plan.decide("web1", "app2", "tcp", 8080).name == "web-to-app"
    assert plan.decide("web1", "app2", "tcp", 8081).name == "interzone-default"
    assert plan.decide("web1", "db1", "tcp", 5432).name == "interzone-default"
    assert plan.decide("jump1", "fin1", "tcp", 22).name == "mgmt-ssh"  # first match wins
    assert plan.decide("dev1", "fin1", "tcp", 22).name == "no-lateral-to-finance"
    assert plan.decide("fin1", "fin2", "udp", 53).name == "no-lateral-to-finance"  # any→finance
    assert plan.decide("web1", "web2", "tcp", 3389).name == "intrazone-default"


def test_addresses_and_long_zone_names() -> None:
    plan = build_plan(parse_policy(small("  []")))
    assert str(plan.by_host["d2"].address) == "10.2.0.200"
    assert str(plan.by_host["l1"].address) == "10.3.0.2"  # .11 does not fit a /29
    zone = plan.by_zone["a-very-long-zone"]
    assert zone.bridge == "brz3" and len(zone.bridge) <= 15


def test_rules_are_narrowed_to_each_zone_pair() -> None:
    rules = """
  - {name: only-w1, from: any, to: db, source: [w1], services: [tcp/5432], action: allow}
  - {name: stray, from: web, to: db, source: [10.9.0.0/16], action: allow}
  - {name: all, from: web, to: db, action: reject}
  - {name: never, from: web, to: db, services: [tcp/22], action: allow}
"""
    plan = build_plan(parse_policy(small(rules)))
    chain = next(c for c in plan.chains if c.name == "web/db")
    names = [cr.rule.name for cr in chain.rules]
    # the stray source lies outside web: not rendered; after the catch-all nothing is
    assert names == ["only-w1", "all"]
    assert chain.rules[0].saddr == (ipaddress.IPv4Network("10.1.0.11/32"),)
    # in the db→db chain the w1 source can never match: the rule is not there at all
    assert all(c.name != "db/db" for c in plan.chains)
    assert plan.decide("w1", "d1", "tcp", 5432).name == "only-w1"
    assert plan.decide("w2", "d1", "tcp", 5432).name == "all"


def test_disabled_rules_are_ignored() -> None:
    rules = "  - {name: disabled-rule, from: web, to: db, action: allow, disabled: true}"
    plan = build_plan(parse_policy(small(rules)))
    assert plan.decide("w1", "d1", "tcp", 1).name == "interzone-default"
    assert not plan.chains
