"""`twin diff`: exact static diff of two policy files, intent first, exit codes; the evidence
and HTML reports from a saved run (no lab)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import REFERENCE
from twin.cli import app
from twin.plan.build import build_plan
from twin.policy.load import load_policy
from twin.policy.model import Action, Verdict
from twin.report.html import render_html
from twin.verify.evidence import log_evidence
from twin.verify.runs import SavedRun
from twin.verify.verdicts import Observed
from twin.verify.verify import Result, Verification

WEB_DB_TEMP = {"name": "web-db-temp", "from": "web", "to": "db", "services": ["postgres"],
               "action": "allow"}  # fmt: skip


def twin_diff(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["diff", *args])
    return res.exit_code, res.stdout if "--json" in args else res.output  # tables: stderr


def test_same_policy_changes_nothing(make_policy) -> None:
    code, text = twin_diff(str(REFERENCE), str(make_policy()))
    assert code == 0
    assert "no flow changes its verdict" in text


def test_intent_breach_is_listed_first_and_exits_1(make_policy) -> None:
    def edit(data: dict) -> None:
        data["rules"].insert(0, dict(WEB_DB_TEMP))

    code, text = twin_diff("--json", "-", str(REFERENCE), str(make_policy(edit)))
    assert code == 1
    data = json.loads(text)
    assert list(data)[:6] == ["old", "new", "violates_intent", "intent_violations",
                              "paths_opened", "already_violated"]  # fmt: skip
    (breach,) = data["intent_violations"]
    assert (breach["intent"], breach["services"]) == ("web-never-db", "tcp/5432")
    assert (breach["old_rule"], breach["new_rule"]) == ("interzone-default", "web-db-temp")
    assert breach["src_hosts"] == ["web1", "web2"] and breach["dst_hosts"] == ["db1", "db2"]
    assert [c["new_rule"] for c in data["newly_allowed"]] == ["web-db-temp"]
    assert data["newly_blocked"] == []


def test_deleting_the_intent_line_does_not_hide_the_breach(make_policy) -> None:
    def edit(data: dict) -> None:
        data["rules"].insert(0, dict(WEB_DB_TEMP))
        data["expect"] = [e for e in data["expect"] if e.get("name") != "web-never-db"]

    code, text = twin_diff("--json", "-", str(REFERENCE), str(make_policy(edit)))
    assert code == 1
    assert [v["intent"] for v in json.loads(text)["intent_violations"]] == ["web-never-db"]


def test_narrow_change_names_hosts_and_redundant_rule(make_policy) -> None:
    def edit(data: dict) -> None:
        data["rules"].insert(0, {"name": "web1-db2-ssh", "from": "web", "to": "db",
                                 "source": ["web1"], "destination": ["192.168.30.0/28"],
                                 "services": ["ssh"], "action": "allow"})  # fmt: skip
        data["rules"].append({"name": "db-to-dev-deny", "from": "db", "to": "dev",
                              "action": "deny"})  # fmt: skip
        data["expect"] = [e for e in data["expect"] if e.get("name") != "web-no-ssh-db"]

    code, text = twin_diff("--json", "-", str(REFERENCE), str(make_policy(edit)))
    data = json.loads(text)
    assert code == 1  # web-no-ssh-db is gone from the new file, the old file still has it
    (opened,) = data["newly_allowed"]
    assert opened["sources"] == ["web1 (192.168.10.11)"]
    assert opened["destinations"] == ["192.168.30.0/28"]
    assert opened["dst_hosts"] == ["db1", "db2"]  # .11 and .12 lie inside the /28
    assert data["redundant"] == [{"rule": "db-to-dev-deny", "action": "deny",
                                  "instead": ["interzone-default"], "new": True}]  # fmt: skip


def test_benign_change_exits_0_and_reports_a_shadowed_rule(make_policy) -> None:
    def edit(data: dict) -> None:
        data["rules"].append({"name": "late-web-app", "from": "web", "to": "app",
                              "services": ["app-api"], "action": "deny"})  # fmt: skip

    code, text = twin_diff(str(REFERENCE), str(make_policy(edit)))
    assert code == 0
    assert "late-web-app can never match: shadowed by web-to-app" in " ".join(text.split())


def test_bad_candidate_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\nzones: {}\n")
    code, text = twin_diff(str(REFERENCE), str(bad))
    assert code == 2
    assert str(bad) in text


# --- the evidence and the HTML report of a saved run, without a lab ----------------------------


def _result(src: str, dst: str, observed: str, logged: str, ok: bool = True) -> Result:
    plan = build_plan(load_policy(REFERENCE))
    s, d = plan.by_host[src], plan.by_host[dst]
    rule = plan.decide(src, dst, "tcp", 5432)
    predicted = Verdict.allow if rule.action is Action.allow else Verdict.block
    return Result(src, dst, s.zone, d.zone, "tcp", 5432, predicted, Observed(observed), ok,
                  logged, predicted, rule.name, reason="" if ok else "broken")  # fmt: skip


def test_evidence_lists_denies_without_a_log_line_and_html_shows_failures_first() -> None:
    plan = build_plan(load_policy(REFERENCE))
    results = [
        _result("app1", "db1", "open", "app-to-db"),
        _result("web1", "db1", "filtered", "interzone-default"),
        _result("web2", "db2", "filtered", "", ok=False),  # dropped, but nothing logged
    ]
    run = Verification(plan.lab, results, 0.1)
    ev = log_evidence(plan, run)
    assert [r.src for r in ev.unlogged] == ["web2"]
    assert (ev.denied, ev.denied_logged) == (2, 1)
    assert "1 denied probes left no log line" in ev.problems
    saved = SavedRun(plan.lab, time.time(), "test", plan, run, ev)
    html = render_html(saved)
    assert html.index('id="failures"') < html.index('id="matrix"') < html.index('id="evidence"')
    assert "web2 (web) → db2 (db)" in html and "Denies without a log line" in html
    assert '<td class="fail"' in html and '<td class="allow"' in html
    assert "<script" not in html and "://" not in html  # self-contained: nothing to fetch


def test_intent_broken_on_a_readdressed_zone_still_fails(make_policy) -> None:
    def edit(data: dict) -> None:
        data["zones"]["db"]["subnet"] = "192.168.31.0/24"
        data["rules"].insert(0, {"name": "db-out", "from": "db", "to": "web", "action": "allow"})

    code, text = twin_diff("--json", "-", str(REFERENCE), str(make_policy(edit)))
    data = json.loads(text)
    assert code == 1
    assert data["zones_changed"] == ["db"]
    assert [v["intent"] for v in data["violated_on_changed_zones"]] == ["db-no-egress"]


def rename_finance(data: dict, new: str = "fin") -> None:
    data["zones"][new] = data["zones"].pop("finance")
    for rule in data["rules"]:
        for key in ("from", "to"):
            value = rule[key]
            values = value if isinstance(value, list) else [value]
            rule[key] = [new if v == "finance" else v for v in values]
    data["expect"] = [e for e in data["expect"] if "finance" not in (e["from"], e["to"])]


def test_a_renamed_zone_is_compared_and_its_old_intent_still_counts(make_policy) -> None:
    """finance renamed fin, its reject turned into allow, its intent lines dropped: the old
    lines are placed by address (same subnet) and the change is caught."""

    def edit(data: dict) -> None:
        rename_finance(data)
        next(r for r in data["rules"] if r["name"] == "no-lateral-to-finance")["action"] = "allow"

    code, text = twin_diff("--json", "-", str(REFERENCE), str(make_policy(edit)))
    assert code == 1
    data = json.loads(text)
    assert data["zones_renamed"] == [{"old": "finance", "new": "fin"}]
    assert data["zones_changed"] == []
    broken = {b["intent"] for b in data["intent_violations"]}
    assert broken == {"web-never-finance", "dev-never-finance"}
    assert {(c["src_zone"], c["dst_zone"]) for c in data["newly_allowed"]} >= {("web", "fin")}
    code, text = twin_diff(str(REFERENCE), str(make_policy(rename_finance)))
    assert code == 0 and "zone finance is renamed fin" in text
    assert "no flow changes its verdict" in text


def split_finance(hole: bool) -> object:
    def edit(data: dict) -> None:
        del data["zones"]["finance"]
        data["zones"]["fina"] = {"subnet": "192.168.60.0/25", "hosts": ["fin1"]}
        data["zones"]["finb"] = {"subnet": "192.168.61.0/24" if hole else "192.168.60.128/25",
                                 "hosts": ["fin2"]}  # fmt: skip
        for rule in data["rules"]:
            for key in ("from", "to"):
                if rule[key] == "finance":
                    rule[key] = ["fina", "finb"]
        data["expect"] = [e for e in data["expect"] if "finance" not in (e["from"], e["to"])]

    return edit


def test_a_split_zone_is_checked_by_address_or_unverifiable(make_policy) -> None:
    code, text = twin_diff("--json", "-", str(REFERENCE), str(make_policy(split_finance(False))))
    assert code == 0, text  # the old finance lines hold on fina and finb, address by address
    assert json.loads(text)["intent_unverifiable"] == []
    code, text = twin_diff("--json", "-", str(REFERENCE), str(make_policy(split_finance(True))))
    assert code == 1
    lost = {u["intent"]: u["why"] for u in json.loads(text)["intent_unverifiable"]}
    assert "web-never-finance" in lost
    assert lost["web-never-finance"] == (
        "zone finance is gone and no zone of the new policy holds 192.168.60.128/25"
    )
    code, text = twin_diff(str(REFERENCE), str(make_policy(split_finance(True))))
    assert "intent CANNOT BE VERIFIED" in text
