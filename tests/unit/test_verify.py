"""The judging rule with two witnesses (prober and firewall log), and how `inconclusive` is
reported: exit codes, terminal line, JUnit, HTML. No lab: outcomes and log records are data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import REFERENCE
from traffic.nflog import LogRecord
from traffic.prober import CLOSED, FILTERED, OPEN, REJECTED, Outcome
from twin.plan.build import build_plan
from twin.plan.flows import PlannedFlow, plan_flows
from twin.plan.plan import Plan
from twin.policy.load import load_policy
from twin.policy.model import FirewallKind
from twin.report.console import intent_outcomes, summary_line
from twin.report.html import render_html
from twin.report.junit import write_junit
from twin.verify.evidence import log_evidence
from twin.verify.runs import SavedRun
from twin.verify.verdicts import Observed
from twin.verify.verify import (
    Verification,
    _doubt,
    firewall_actions,
    inconclusive,
    judge,
)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return build_plan(load_policy(REFERENCE))


@pytest.fixture(scope="module")
def flows(plan: Plan) -> dict[tuple[str, str, str, int], PlannedFlow]:
    return {(f.flow.src, f.flow.dst, f.flow.proto, f.flow.port): f for f in plan_flows(plan)}


def rec(rule: str) -> LogRecord:
    return LogRecord(rule, "192.168.10.11", "192.168.60.11", "tcp", 40000, 443, 0.0)


@pytest.mark.parametrize(
    ("seen", "logged", "again"),
    [
        (REJECTED, "no-lateral-to-finance", False),  # both witnesses: rejected
        (FILTERED, "no-lateral-to-finance", True),  # firewall rejected, nothing came back
        (OPEN, "no-lateral-to-finance", True),
        (REJECTED, None, True),  # no record: the firewall's account is missing
        (FILTERED, "interzone-default", False),  # both: dropped (policy disagrees: judged)
        (OPEN, "web-to-app", False),  # both: the firewall let it through (a real failure)
        (FILTERED, "web-to-app", True),  # logged an accept, but the probe timed out
    ],
)
def test_a_probe_is_sent_again_when_the_witnesses_disagree(
    plan: Plan, flows: dict, seen: str, logged: str | None, again: bool
) -> None:
    f = flows[("web1", "fin1", "tcp", 443)]
    record = rec(logged) if logged else None
    assert _doubt(f, Outcome(seen), record, firewall_actions(plan)) is again


def test_without_a_log_to_read_only_a_policy_mismatch_is_sent_again(flows: dict) -> None:
    f = flows[("web1", "fin1", "tcp", 443)]  # policy: reject
    assert not _doubt(f, Outcome(REJECTED), None, None)
    assert not _doubt(f, Outcome(FILTERED), None, None)  # still "block"
    assert _doubt(f, Outcome(OPEN), None, None)


def test_crafted_rule_names_are_drops(plan: Plan) -> None:
    actions = firewall_actions(plan)
    assert actions["anti-spoofing"].value == actions["ct-invalid"].value == "deny"
    assert actions["no-lateral-to-finance"].value == "reject"
    assert actions["interzone-default"].value == "deny"


def results(flows: dict, unsure: int = 0, fail: int = 0) -> list:
    rejected = [f for k, f in flows.items() if k[1] == "fin1" and k[0].startswith("web")]
    out = []
    for i, f in enumerate(rejected):
        if i < unsure:
            out.append(inconclusive(f, FILTERED, "no-lateral-to-finance", f.rule.action, ""))
        elif i < unsure + fail:
            out.append(judge(f, OPEN, "no-lateral-to-finance"))
        else:
            out.append(judge(f, REJECTED, "no-lateral-to-finance"))
    allowed = flows[("web1", "app1", "tcp", 8080)]
    out.append(judge(allowed, OPEN if not fail else CLOSED, "web-to-app"))
    return out


def test_inconclusive_is_exit_3_never_a_failure(flows: dict) -> None:
    run = Verification("zt6", results(flows, unsure=2), 0.1)
    assert run.exit_code == 3 and not run.ok and not run.failures
    assert [r.observed for r in run.inconclusive] == [Observed.inconclusive] * 2
    assert "firewall logged reject (no-lateral-to-finance), prober saw filtered" in (
        run.inconclusive[0].reason
    )
    line = summary_line(run)
    assert "2 inconclusive" in line and "2 INCONCLUSIVE" in line and "FAILED" not in line


def test_a_real_failure_beside_inconclusive_flows_is_exit_1(flows: dict) -> None:
    run = Verification("zt6", results(flows, unsure=2, fail=1), 0.1)
    assert run.exit_code == 1
    assert len(run.failures) == 1 and len(run.inconclusive) == 2
    assert "1 FAILED" in summary_line(run) and "2 INCONCLUSIVE" in summary_line(run)
    assert Verification("zt6", results(flows), 0.1).exit_code == 0
    assert Verification("zt6", results(flows), 0.1, health=["x"]).exit_code == 3


def test_junit_reports_inconclusive_as_errors(plan: Plan, flows: dict, tmp_path: Path) -> None:
    run = Verification("zt6", results(flows, unsure=2), 0.1)
    write_junit(plan, run, tmp_path / "j.xml")
    suite = ET.parse(tmp_path / "j.xml").getroot()[0]
    assert suite.get("errors") == "2"  # the web → finance cell, and its intent line
    flow_failures = [f for f in suite.iter("failure") if f.get("type") != "intent"]
    assert not flow_failures  # (intent lines with no flow in this partial run do fail)
    errors = [c for c in suite.iter("testcase") if c.find("error") is not None]
    assert {c.get("name") for c in errors} == {"web -> finance", "web-never-finance"}
    assert all(c.find("error").get("type") == Observed.inconclusive for c in errors)  # type: ignore[union-attr]
    outcome = next(o for o in intent_outcomes(plan, run) if o.name == "web-never-finance")
    assert len(outcome.inconclusive) == 2 and not outcome.holds


def test_html_says_inconclusive(plan: Plan, flows: dict) -> None:
    run = Verification("zt6", results(flows, unsure=2), 0.1)
    saved = SavedRun("zt6", 0.0, "test", plan, run, log_evidence(plan, run))
    html = render_html(saved)
    assert 'class="verdict unsure">INCONCLUSIVE' in html
    assert 'id="inconclusive"' in html and '<td class="unsure"' in html
    assert plan.firewall_kind is FirewallKind.nftables
