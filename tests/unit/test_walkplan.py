"""What `twin blast --live` sends (the walk plan) and how it judges each probe."""

from __future__ import annotations

from hypothesis import given

from tests.conftest import REFERENCE
from tests.unit.test_blast import SETTINGS, bfs, oracle_graph, policies
from traffic.nflog import LogRecord
from traffic.prober import FILTERED, OPEN, REJECTED, Outcome
from twin.analysis.blast import Blast
from twin.analysis.reach import Reach
from twin.analysis.walkplan import walk_plan
from twin.plan.build import build_plan
from twin.plan.plan import Plan
from twin.policy.load import load_policy
from twin.policy.model import FLAT_SEGMENT, Action
from twin.verify.verify import firewall_actions
from twin.verify.walk import _doubt, _judge


def reference() -> Plan:
    return build_plan(load_policy(REFERENCE))


def test_from_web1_the_tree_then_everything_out_of_reach() -> None:
    walks = walk_plan(Blast(Reach(reference())), "web1")
    assert walks.footholds == (("web1", ("web1",)),) and walks.depth == 2
    hops = [(s.depth, s.hop.src, s.hop.dst, s.hop.proto, s.hop.port, s.hop.rule)
            for s in walks.steps]  # fmt: skip
    assert hops == [
        (1, "web1", "web2", "tcp", 22, "intrazone-default"),
        (1, "web1", "app1", "tcp", 8080, "web-to-app"),
        (1, "web1", "app2", "tcp", 8080, "web-to-app"),
        (2, "app1", "db1", "tcp", 5432, "app-to-db"),
        (2, "app1", "db2", "tcp", 5432, "app-to-db"),
    ]
    assert len(walks.refusals) == 6 * 6 * 11
    assert {r.dst for r in walks.refusals} == {"jump1", "mon1", "dev1", "dev2", "fin1", "fin2"}
    assert {r.rule for r in walks.refusals} == {"interzone-default", "no-lateral-to-finance"}


@SETTINGS
@given(policies())
def test_every_hop_chains_from_a_reached_host_and_every_refusal_is_blocked(plan: Plan) -> None:
    blast = Blast(Reach(plan))
    graph = oracle_graph(plan, set(), "any")
    walks = walk_plan(blast, None)
    for w, (_, hosts) in enumerate(walks.footholds):
        dist = bfs(graph, list(hosts))
        reached = set(hosts)
        for step in (s for s in walks.steps if s.walk == w):
            assert step.hop.src in reached and step.depth == dist[step.hop.dst]
            reached.add(step.hop.dst)
        assert reached == set(dist)
    actions = firewall_actions(plan)
    for r in walks.refusals:
        assert r.dst not in bfs(graph, list(walks.footholds[r.walk][1]))
        assert actions[r.rule] is not Action.allow


def rec(rule: str) -> LogRecord:
    return LogRecord(rule, "192.168.10.11", "192.168.20.11", "tcp", 40000, 8080, 0.0)


def test_a_hop_passes_by_its_rule_a_refusal_is_blocked_by_its_own() -> None:
    actions = firewall_actions(reference())
    key = ("web1", "app1", "tcp", 8080, 4)
    assert _judge(key, "web-to-app", Outcome(OPEN), rec("web-to-app"), actions).ok
    refused = _judge(key, "web-to-app", Outcome(FILTERED), rec("interzone-default"), actions)
    assert not refused.ok and "live: filtered" in refused.reason
    other = _judge(key, "web-to-app", Outcome(OPEN), rec("mgmt-ssh"), actions)
    assert not other.ok and "static analysis says web-to-app" in other.reason
    torn = _judge(key, "web-to-app", Outcome(FILTERED), rec("web-to-app"), actions)
    assert torn.observed == "inconclusive"  # the firewall let it pass, nothing came back
    fin = ("web1", "fin1", "tcp", 22, 4)
    reject = "no-lateral-to-finance"
    assert _judge(fin, reject, Outcome(REJECTED), rec(reject), actions).ok
    assert not _judge(fin, reject, Outcome(OPEN), None, actions).ok  # let through: a failure
    flat = ("w1", "w2", "tcp", 22, 4)
    assert _judge(flat, FLAT_SEGMENT, Outcome(OPEN), None, actions).ok
    assert not _judge(flat, FLAT_SEGMENT, Outcome(OPEN), rec("web-to-app"), actions).ok
    assert not _doubt(FLAT_SEGMENT, Outcome(OPEN), None, actions)
    assert _doubt("web-to-app", Outcome(OPEN), None, actions)  # no record: look again
    assert _doubt("web-to-app", Outcome(FILTERED), rec("web-to-app"), actions)
