"""Unnamed intent lines are named by their content: inserting a line changes no other name."""

from __future__ import annotations

from tests.conftest import REFERENCE
from twin.plan.build import build_plan
from twin.plan.flows import plan_flows
from twin.policy.load import load_policy
from twin.policy.model import Expect
from twin.policy.names import intent_names


def line(**kw: str) -> Expect:
    return Expect.model_validate({"from": "web", "to": "db", "service": "postgres", **kw})


def test_derived_names_read_like_the_line_and_do_not_move() -> None:
    lines = [line(verdict="block"), line(verdict="allow", name="mine"), line(verdict="block")]
    assert intent_names(lines) == [
        "web->db postgres blocked",
        "mine",
        "web->db postgres blocked #2",
    ]
    inserted = [line(verdict="allow", to="app"), *lines]
    assert intent_names(inserted)[1:] == intent_names(lines)
    assert intent_names([line(verdict="unreachable", service="any")]) == ["web->db unreachable"]


def test_reports_and_flows_use_the_derived_names() -> None:
    plan = build_plan(load_policy(REFERENCE))
    names = {n for f in plan_flows(plan) for _, n, _ in f.intents}
    assert "management->db ssh allowed" in names
    assert not any(n.startswith("expect[") for n in names)
    assert "app->management any blocked" in names
