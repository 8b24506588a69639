"""Sweeps, without a lab: which ports between which hosts, what the policy says of each port in
segments, and how verdicts and log records become ranges (two witnesses, UDP silence)."""

from __future__ import annotations

from array import array

import pytest

from tests.conftest import REFERENCE
from traffic.judged import CODE, Judged
from traffic.prober import Sweep
from twin.errors import UsageError
from twin.plan.build import build_plan
from twin.plan.plan import Plan
from twin.plan.sweep import SweepTarget, parse_ports, plan_sweep, segments
from twin.policy.load import load_policy
from twin.verify.sweepjudge import Probed, doubts, judge


@pytest.fixture(scope="module")
def plan() -> Plan:
    return build_plan(load_policy(REFERENCE))


def test_ports_all_top1000_and_lists(plan: Plan) -> None:
    every = parse_ports("all", plan)
    assert len(every["tcp"]) == len(every["udp"]) == 65535 and list(every["icmp"]) == [0]
    top = parse_ports("top1000", plan)
    assert len(top["tcp"]) == len(top["udp"]) == 1000
    assert {22, 443, 5432, 8080, 3389, 27017} <= set(top["tcp"]) and 53 in top["udp"]
    assert parse_ports("22,80,8000-8002", plan)["tcp"] == [22, 80, 8000, 8001, 8002]
    for bad in ("0", "10-5", "x", "22,", "1-70000"):
        with pytest.raises(UsageError, match="--ports"):
            parse_ports(bad, plan)


def test_zone_pairs_one_host_pair_each_or_every_host(plan: Plan) -> None:
    targets = plan_sweep(plan, "all", ["web", "dev"], ["finance"])
    assert [(t.src, t.dst, t.proto) for t in targets] == [
        (s, "fin1", p) for s in ("web1", "dev1") for p in ("tcp", "udp", "icmp")
    ]
    assert len(plan_sweep(plan, "all", ["web", "dev"], ["finance"], "full")) == 2 * 2 * 2 * 3
    assert len(plan_sweep(plan, "22")) == 6 * 5 * 2  # every ordered pair of zones, tcp and udp
    with pytest.raises(UsageError, match="--to 'payroll': not a zone"):
        plan_sweep(plan, "all", ["web"], ["payroll"])


def test_segments_follow_rules_and_intent(plan: Plan) -> None:
    def segs(src: str, dst: str, proto: str) -> list[tuple[int, int, str, list[str]]]:
        zone = {h.name: h.zone for h in plan.hosts}
        t = SweepTarget(src, dst, zone[src], zone[dst], proto, range(1, 65536))
        return [(s.lo, s.hi, s.rule.name, [n for n, _ in s.intents]) for s in segments(plan, t)]

    assert segs("web1", "fin1", "tcp") == [
        (1, 65535, "no-lateral-to-finance", ["web-never-finance"])
    ]
    assert segs("jump1", "fin1", "tcp") == [
        (1, 21, "no-lateral-to-finance", []),
        (22, 22, "mgmt-ssh", ["management->finance ssh allowed"]),
        (23, 65535, "no-lateral-to-finance", []),
    ]
    assert segs("fin1", "app1", "tcp")[1] == (443, 443, "finance-to-app", ["finance-to-app-https"])
    assert segs("web1", "fin1", "icmp") == [(0, 0, "no-lateral-to-finance", ["web-never-finance"])]


def probed(plan: Plan, src: str, dst: str, proto: str, verdict: str) -> Probed:
    """A full sweep where every port came back `verdict`, each logged under rule id 1."""
    zone = {h.name: h.zone for h in plan.hosts}
    t = SweepTarget(src, dst, zone[src], zone[dst], proto, range(1, 65536))
    w = Probed(t, Sweep("ns", "a", "b", proto, t.ports))
    w.judged = Judged(65535, 0.2)
    w.judged.verdicts = bytearray([CODE[verdict]]) * 65535
    w.judged.sports = array("H", range(65535))
    w.rule, w.rsport = array("H", [1] * 65535), array("H", range(65535))
    return w


def test_one_port_opened_is_one_failing_row_naming_the_rule(plan: Plan) -> None:
    w = probed(plan, "web1", "fin1", "tcp", "rejected")
    assert w.judged is not None
    w.judged.verdicts[61000 - 1] = CODE["closed"]  # the host's RST: it crossed
    w.rule[61000 - 1] = 2
    ids = {1: "no-lateral-to-finance", 2: "open-61000"}
    # a rule the policy does not have: its action is unknown, and the port contradicts the
    # policy, so it is sent once more before it is failed
    assert doubts(plan, [w], ids) == [(0, 60999)]
    rows = judge(plan, w, ids)
    assert [(r.lo, r.hi, r.verdict, r.rule, r.ok) for r in rows] == [
        (1, 60999, "rejected", "no-lateral-to-finance", True),
        (61000, 61000, "allowed", "open-61000", False),
        (61001, 65535, "rejected", "no-lateral-to-finance", True),
    ]
    bad = rows[1]
    assert "firewall logged rule open-61000, policy says no-lateral-to-finance" in bad.reason
    assert bad.violates == ["web-never-finance"] and bad.seen == {"closed": 1}


def test_udp_silence_with_an_accept_logged_is_crossed_other_disagreement_inconclusive(
    plan: Plan,
) -> None:
    ids = {1: "mgmt-ssh", 2: "no-lateral-to-finance"}
    udp = probed(plan, "jump1", "fin1", "udp", "rejected")
    assert udp.judged is not None
    udp.rule = array("H", [2] * 65535)
    udp.judged.verdicts[99] = CODE["filtered"]  # silent, and the firewall logged an accept
    udp.rule[99] = 1
    assert doubts(plan, [udp], ids) == [(0, 99)]  # sent again first
    row = next(r for r in judge(plan, udp, ids) if r.lo == 100)
    assert (row.verdict, row.seen, row.rule) == ("allowed", {"crossed": 1}, "mgmt-ssh")
    tcp = probed(plan, "web1", "fin1", "tcp", "rejected")
    assert tcp.judged is not None
    tcp.rule = array("H", [2] * 65535)
    tcp.judged.verdicts[4] = CODE["filtered"]  # logged reject, nothing came back
    tcp.rsport[9] = 7  # a record of another 5-tuple: this probe left none
    assert doubts(plan, [tcp], ids) == [(0, 4), (0, 9)]
    rows = {r.lo: r for r in judge(plan, tcp, ids)}
    assert rows[5].verdict == "inconclusive" and not rows[5].ok
    assert "no log record" in rows[10].reason or "logged no rule" in rows[10].reason


def test_a_port_list_never_spans_a_gap_and_counts_every_port(plan: Plan) -> None:
    ports = [1, 2, 3, 4, 5, 61000]
    t = SweepTarget("web1", "fin1", "web", "finance", "tcp", ports)
    w = Probed(t, Sweep("ns", "a", "b", "tcp", ports))
    w.judged = Judged(6, 0.2)
    w.judged.verdicts = bytearray([CODE["rejected"]]) * 6
    w.judged.sports = array("H", range(6))
    w.rule, w.rsport = array("H", [1] * 6), array("H", range(6))
    rows = judge(plan, w, {1: "no-lateral-to-finance"})
    assert [(r.lo, r.hi, r.ports, r.seen) for r in rows] == [
        (1, 5, 5, {"rejected": 5}),
        (61000, 61000, 1, {"rejected": 1}),
    ]
