"""`segment: flat`: the plan, the rendered bridges, validate's warnings and the verifier's
expectations for flows that never cross the firewall."""

from __future__ import annotations

import pytest

from tests.conftest import REFERENCE
from traffic.nflog import LogRecord
from traffic.prober import FILTERED, OPEN, Outcome
from twin.analysis.reach import FLAT, Reach
from twin.plan.build import build_plan
from twin.plan.flows import plan_flows, static_violations
from twin.plan.plan import Plan
from twin.policy.load import parse_policy, policy_warnings
from twin.policy.model import FLAT_SEGMENT, Segment
from twin.render.topology import render_lab
from twin.verify.verify import _doubt, firewall_actions, judge

POLICY = """\
name: seg
zones:
  web: {subnet: 10.1.0.0/24, hosts: [w1, w2], segment: flat}
  app: {subnet: 10.2.0.0/24, hosts: [a1, a2]}
rules:
  - {name: web-intra-deny, from: web, to: web, action: deny}
  - {name: app-intra-deny, from: app, to: app, action: deny}
  - {name: web-to-app, from: web, to: app, services: [tcp/8080], action: allow}
  - {name: both-ways, from: [web, app], to: [web, app], services: [tcp/22], action: deny}
expect:
  - {from: w1, to: w2, service: tcp/22, verdict: allow}
  - {from: a1, to: a2, service: tcp/22, verdict: block}
"""


@pytest.fixture(scope="module")
def plan() -> Plan:
    return build_plan(parse_policy(POLICY, "seg.yml"))


def test_isolated_is_the_default(plan: Plan) -> None:
    assert plan.policy.zones["app"].segment is Segment.isolated
    assert [z.flat for z in plan.zones] == [True, False]
    assert plan.flat_zones == {"web"}
    assert build_plan(parse_policy(REFERENCE.read_text())).flat_rule is None


def test_flows_inside_a_flat_zone_pass_whatever_the_intrazone_rules(plan: Plan) -> None:
    for proto, port in (("tcp", 22), ("tcp", 3389), ("udp", 53), ("icmp", 0)):
        rule = plan.decide("w1", "w2", proto, port)
        assert (rule.name, rule.action.value, rule.log) == (FLAT_SEGMENT, "allow", False)
    assert plan.decide("a1", "a2", "tcp", 3389).name == "app-intra-deny"  # isolated: enforced
    assert plan.decide("w1", "a1", "tcp", 8080).name == "web-to-app"  # leaving: the firewall
    assert plan.decide("w1", "a1", "tcp", 22).name == "both-ways"
    assert FLAT_SEGMENT not in {r.name for r in plan.rules}  # nothing on the firewall


def test_static_check_and_reach_agree(plan: Plan) -> None:
    assert static_violations(plan_flows(plan)) == {}
    reach = Reach(plan)
    assert [p.rule for p in reach.pieces("w1", "w2")] == [FLAT]
    assert reach.pieces("a1", "a2") == ()


def test_flat_ports_are_not_isolated_and_bridged_frames_skip_the_ip_hooks(plan: Plan) -> None:
    files = render_lab(plan)
    ip = files["configs/fw.ip"].splitlines()
    assert "link set eth1 type bridge_slave isolated on" not in ip  # w1 (web: flat)
    assert "link set eth3 type bridge_slave isolated on" in ip  # a1 (app: isolated)
    sysctl = files["configs/fw.sysctl"].splitlines()
    assert "net.ipv4.conf.br-web.proxy_arp_pvlan = 0" in sysctl
    assert "net.ipv4.conf.br-app.proxy_arp_pvlan = 1" in sysctl
    assert "-net.bridge.bridge-nf-call-iptables = 0" in sysctl
    plain = render_lab(build_plan(parse_policy(REFERENCE.read_text())))
    assert "bridge-nf-call" not in plain["configs/fw.sysctl"]


def test_validate_warns_of_intrazone_rules_a_flat_zone_never_applies(plan: Plan) -> None:
    warnings = [str(w) for w in policy_warnings(POLICY, "seg.yml", plan.policy)]
    assert warnings == [
        "seg.yml:6: rules[0]: rule 'web-intra-deny' covers only traffic inside flat zone web: "
        "it never applies (hint: hosts of a flat zone reach each other without crossing the "
        "firewall; remove the rule, or make the zone `segment: isolated`)"
    ]
    every = POLICY.replace("hosts: [a1, a2]}", "hosts: [a1, a2], segment: flat}")
    found = [str(w) for w in policy_warnings(every, "s.yml", parse_policy(every, "s.yml"))]
    assert [w.split(": ", 2)[1] for w in found] == ["rules[0]", "rules[1]"]  # not both-ways


def test_no_log_record_is_what_a_flat_flow_should_leave(plan: Plan) -> None:
    flows = {(f.flow.src, f.flow.dst, f.flow.proto, f.flow.port): f for f in plan_flows(plan)}
    f = flows[("w1", "w2", "tcp", 22)]
    witness = firewall_actions(plan)
    assert not _doubt(f, Outcome(OPEN), None, witness)  # passed, unseen by the firewall: as said
    assert _doubt(f, Outcome(FILTERED), None, witness)  # blocked: look again before failing it
    assert judge(f, OPEN, "").ok
    crossed = judge(f, OPEN, "both-ways")  # a record means it crossed the firewall: not flat
    assert not crossed.ok and "policy says flat-segment" in crossed.reason
    blocked = judge(f, FILTERED, "")
    assert not blocked.ok and blocked.violates == ["w1->w2 tcp/22 allowed"]
    record = LogRecord("both-ways", "10.1.0.11", "10.1.0.12", "tcp", 40000, 22, 0.0)
    assert _doubt(f, Outcome(OPEN), record, witness)  # logged a deny, yet it passed
