"""Which flows are probed, and the static intent check."""

from __future__ import annotations

from tests.conftest import REFERENCE
from twin.plan.build import build_plan
from twin.plan.flows import LATERAL, plan_flows, probe_ports, static_violations
from twin.policy.load import load_policy


def test_probe_ports_cover_lateral_and_named() -> None:
    plan = build_plan(load_policy(REFERENCE))
    ports = probe_ports(plan)
    assert set(LATERAL) <= set(ports)
    assert ("tcp", 53) in ports  # from the dns service


def test_matrix_intrazone_and_intent() -> None:
    plan = build_plan(load_policy(REFERENCE))
    flows = plan_flows(plan)
    n_ports = len(probe_ports(plan))
    interzone = 12 * 10 * n_ports
    intrazone = 6 * 2 * n_ports
    assert len(flows) == interzone + intrazone
    web_db = [f for f in flows if f.flow.src == "web1" and f.flow.dst == "db2"]
    assert {n for f in web_db for _, n, _ in f.intents} >= {"web-never-db", "db-no-egress"} - {
        "db-no-egress"
    }
    assert not static_violations(flows)


def test_static_check_catches_a_policy_that_breaks_intent() -> None:
    policy = load_policy(REFERENCE)
    rules = list(policy.rules)
    rules[1] = rules[1].model_copy(update={"from_": ["any"]})  # app-to-db now from any zone
    plan = build_plan(policy.model_copy(update={"rules": rules}))
    bad = static_violations(plan_flows(plan))
    assert set(bad) == {"web-never-db", "dev-cannot-touch-db"}
    assert all(f.rule.name == "app-to-db" for f in bad["web-never-db"])
