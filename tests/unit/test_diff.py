"""`twin diff`: exact static diff of two policy files, intent first, exit codes; the evidence
and HTML reports from a saved run (no lab)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import REFERENCE
from twin.cli import app
from twin.plan.build import build_plan
from twin.policy.load import load_policy, parse_policy
from twin.policy.model import Action, Verdict
from twin.rehearse import policy_text
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
    # the new addresses of db had no zone before (no route: blocked): newly allowed from there
    (v,) = data["intent_violations"]
    assert (v["intent"], v["old_rule"], v["new_rule"]) == ("db-no-egress", "(no zone)", "db-out")

    def unreached(data: dict) -> None:  # an allow line broken on the new addresses only
        data["zones"]["db"]["subnet"] = "192.168.31.0/24"
        data["rules"] = [r for r in data["rules"] if r["name"] != "app-to-db"]

    code, text = twin_diff("--json", "-", str(REFERENCE), str(make_policy(unreached)))
    data = json.loads(text)
    assert code == 1 and data["intent_violations"] == []
    assert [v["intent"] for v in data["violated_on_changed_zones"]] == ["app-reaches-db"]


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


def _strip_paths(data: dict) -> None:
    data["expect"] = [e for e in data["expect"] if e.get("verdict") != "unreachable"]


def _split_zone(data: dict, zone: str, a: tuple[str, str, str], b: tuple[str, str, str]) -> None:
    """`zone` becomes two zones (name, subnet, host); rules naming it name both."""
    del data["zones"][zone]
    for name, subnet, host in (a, b):
        data["zones"][name] = {"subnet": subnet, "hosts": [host]}
    for rule in data["rules"]:
        for key in ("from", "to"):
            if rule[key] == zone:
                rule[key] = [a[0], b[0]]
    data["expect"] = [e for e in data["expect"] if zone not in (e["from"], e["to"])]


def test_a_split_zone_is_compared_by_address(make_policy) -> None:
    """finance split in two, the reject narrowed to one half, no intent line on the other:
    every changed flow is listed (it was 'not compared', exit 0, nothing shown)."""

    def edit(data: dict) -> None:
        _split_zone(data, "finance", ("fina", "192.168.60.0/25", "fin1"),
                    ("finb", "192.168.60.128/25", "fin2"))  # fmt: skip
        _strip_paths(data)
        next(r for r in data["rules"] if r["name"] == "no-lateral-to-finance")["to"] = "fina"
        data["rules"].insert(0, {"name": "dev-ssh-finb", "from": "dev", "to": "finb",
                                 "services": ["ssh"], "action": "allow"})  # fmt: skip

    code, text = twin_diff("--json", "-", str(REFERENCE), str(make_policy(edit)))
    data = json.loads(text)
    assert data["zones_moved"] == [{"old": "finance", "new": ["fina", "finb"]}]
    assert data["not_compared"] == {"gone": [], "added": []}
    allowed = {(c["src_zone"], c["dst_zone"], c["services"], c["new_rule"])
               for c in data["newly_allowed"]}  # fmt: skip
    assert ("dev", "finb", "tcp/22", "dev-ssh-finb") in allowed
    assert ("finb", "finb", "any", "intrazone-default") in allowed  # was rejected
    changed = {(c["src_zone"], c["dst_zone"]) for c in data["block_changed"]}
    assert ("web", "finb") in changed  # reject -> drop
    assert code == 1  # the old line dev-never-finance, placed by address, is broken on finb
    assert {v["intent"] for v in data["intent_violations"]} == {"dev-never-finance"}


def test_merged_zones_are_compared_by_address(make_policy) -> None:
    def split(data: dict) -> None:
        _split_zone(data, "finance", ("fina", "192.168.60.0/25", "fin1"),
                    ("finb", "192.168.60.128/25", "fin2"))  # fmt: skip

    code, text = twin_diff("--json", "-", str(make_policy(split)), str(make_policy()))
    data = json.loads(text)
    assert code == 0 and data["newly_allowed"] == []  # the reject held fina <-> finb; it still does
    assert data["zones_moved"] == [{"old": "fina", "new": ["finance"]},
                                   {"old": "finb", "new": ["finance"]}]  # fmt: skip

    def merged(data: dict) -> None:
        data["rules"].insert(0, {"name": "fin-internal", "from": "finance", "to": "finance",
                                 "action": "allow"})  # fmt: skip

    code, text = twin_diff("--json", "-", str(make_policy(split)), str(make_policy(merged)))
    data = json.loads(text)
    allowed = sorted((c["sources"], c["destinations"], c["old_rule"], c["new_rule"])
                     for c in data["newly_allowed"])  # fmt: skip
    # fina and finb were compared pair by pair, then joined: one class, the whole zone
    assert allowed == [(["finance"], ["finance"], "no-lateral-to-finance", "fin-internal")]
    assert code == 0


def test_an_old_line_on_a_zone_readdressed_under_its_name_is_checked_by_name(make_policy) -> None:
    """finance moves to another subnet, its reject becomes allow, its lines are dropped (and
    neither file has an unreachable line): the old lines name finance, which is still there."""

    def edit(data: dict) -> None:
        data["zones"]["finance"]["subnet"] = "192.168.61.0/24"
        next(r for r in data["rules"] if r["name"] == "no-lateral-to-finance")["action"] = "allow"
        data["expect"] = [e for e in data["expect"] if "finance" not in (e["from"], e["to"])]

    code, text = twin_diff("--json", "-", str(make_policy(_strip_paths)), str(make_policy(edit)))
    data = json.loads(text)
    assert code == 1
    broken = {(v["intent"], v["old_rule"]) for v in data["intent_violations"]}
    assert broken == {("web-never-finance", "(no zone)"), ("dev-never-finance", "(no zone)")}
    assert data["not_compared"]["gone"] == [{"zone": "finance", "addresses": ["192.168.60.0/24"]}]
    assert data["not_compared"]["added"] == [{"zone": "finance", "addresses": ["192.168.61.0/24"]}]


def test_an_old_line_on_a_readdressed_host_is_checked_at_its_new_address(make_policy) -> None:
    line = {"name": "web1-no-db1", "from": "web1", "to": "db1", "service": "postgres",
            "verdict": "block"}  # fmt: skip

    def old(data: dict) -> None:
        data["expect"].append(dict(line))

    def edit(data: dict) -> None:
        data["zones"]["web"]["hosts"] = [{"name": "web1", "address": "192.168.10.21"}, "web2"]
        data["rules"].insert(0, {"name": "web1-db", "from": "web", "to": "db",
                                 "source": ["192.168.10.21/32"], "services": ["postgres"],
                                 "action": "allow"})  # fmt: skip
        data["expect"] = [e for e in data["expect"] if e.get("name") != "web-never-db"]

    code, text = twin_diff("--json", "-", str(make_policy(old)), str(make_policy(edit)))
    data = json.loads(text)
    assert code == 1
    broken = {v["intent"]: v for v in data["intent_violations"]}
    assert set(broken) == {"web1-no-db1", "web-never-db"}  # the old web-never-db too
    v = broken["web1-no-db1"]  # by name: at its new address (its old one is no host's now)
    assert v["src_hosts"] == ["web1"] and v["sources"] == ["web1 (192.168.10.21)"]


def test_dual_stack_a_zone_whose_ipv6_subnet_alone_changes(make_policy) -> None:
    """finance keeps its IPv4 subnet, takes another IPv6 one, and its reject becomes allow
    with its lines dropped: IPv4 is compared (newly allowed, intent broken), the old IPv6
    addresses are gone, and the new ones (no zone before: blocked) are newly allowed."""

    def edit(data: dict) -> None:
        data["zones"]["finance"]["subnet6"] = "fd00:61::/64"
        next(r for r in data["rules"] if r["name"] == "no-lateral-to-finance")["action"] = "allow"
        data["expect"] = [e for e in data["expect"] if "finance" not in (e["from"], e["to"])]

    dual = REFERENCE.with_name("zero-trust-6zone-dualstack.yml")
    code, text = twin_diff("--json", "-", str(dual), str(make_policy(edit, base=dual)))
    data = json.loads(text)
    assert code == 1
    assert data["zones_moved"] == [{"old": "finance", "new": ["finance"]}]
    assert data["not_compared"]["gone"] == [{"zone": "finance", "addresses": ["fd00:60::/64"]}]
    assert data["not_compared"]["added"] == [{"zone": "finance", "addresses": ["fd00:61::/64"]}]
    broken = {(v["intent"], v["destinations"][0]) for v in data["intent_violations"]}
    assert broken == {
        ("web-never-finance", "finance (IPv4)"),
        ("web-never-finance", "finance (IPv6)"),
    }
    allowed = {(c["src_zone"], c["destinations"][0], c["old_rule"]) for c in data["newly_allowed"]}
    assert allowed >= {
        ("web", "finance (IPv4)", "no-lateral-to-finance"), ("web", "finance (IPv6)", "(no zone)")
    }  # fmt: skip


def test_swapped_zone_names_and_reordered_zones_change_nothing(make_policy) -> None:
    def swap(data: dict) -> None:
        zones = data["zones"]
        zones["web"], zones["app"] = zones["app"], zones["web"]
        data["zones"] = dict(reversed(list(zones.items())))
        other = {"web": "app", "app": "web"}
        for item in data["rules"] + data["expect"]:
            for key in ("from", "to"):
                value = item[key]
                item[key] = [other.get(v, v) for v in value] if isinstance(value, list) else (
                    other.get(value, value))  # fmt: skip

    code, text = twin_diff("--json", "-", str(REFERENCE), str(make_policy(swap)))
    data = json.loads(text)
    assert code == 0, text
    assert data["zones_renamed"] == [{"old": "app", "new": "web"}, {"old": "web", "new": "app"}]
    assert data["newly_allowed"] == data["newly_blocked"] == data["intent_violations"] == []


def test_the_issue_case_through_python_m_twin(make_policy) -> None:
    """Issue 9, point 6, as a user runs it: finance renamed fin, its reject now allow, its
    intent lines dropped. Exit 1, naming the intent line and the flow."""

    def edit(data: dict) -> None:
        rename_finance(data)
        next(r for r in data["rules"] if r["name"] == "no-lateral-to-finance")["action"] = "allow"
        _strip_paths(data)

    env = {**os.environ, "PYTHONPATH": str(REFERENCE.parents[1]), "COLUMNS": "200"}
    res = subprocess.run([sys.executable, "-m", "twin", "diff", str(REFERENCE),
                          str(make_policy(edit))], capture_output=True, text=True, env=env,
                         check=False)  # fmt: skip
    text = res.stdout + res.stderr
    assert res.returncode == 1, text
    assert "zone finance is renamed fin" in text
    assert "web-never-finance" in text and "dev-never-finance" in text
    assert "no-lateral-to-finance (reject) → no-lateral-to-finance (allow)" in text
    assert "the change VIOLATES intent" in text


def test_an_old_unreachable_line_on_a_renamed_zone_is_still_checked(make_policy) -> None:
    """finance renamed fin with its lines dropped, and app may now reach fin on https: no flow
    line breaks, but web → app → fin is a new path (it was exit 0: the old line named a zone
    the new file lacks and was left out)."""

    def edit(data: dict) -> None:
        rename_finance(data)
        data["rules"].insert(0, {"name": "app-fin-https", "from": "app", "to": "fin",
                                 "services": ["https"], "action": "allow"})  # fmt: skip

    code, text = twin_diff("--json", "-", str(REFERENCE), str(make_policy(edit)))
    data = json.loads(text)
    assert code == 1
    assert data["intent_violations"] == []
    opened = {p["intent"]: p["path"] for p in data["paths_opened"]}
    assert set(opened) == {"web-never-reaches-finance", "dev-never-reaches-finance"}
    assert "app-fin-https" in opened["web-never-reaches-finance"]


def test_an_old_unreachable_line_whose_zone_is_gone_is_unverifiable(make_policy) -> None:
    def edit(data: dict) -> None:
        rename_finance(data)
        data["zones"]["fin"]["subnet"] = "192.168.61.0/24"

    code, text = twin_diff("--json", "-", str(REFERENCE), str(make_policy(edit)))
    lost = {u["intent"]: u["why"] for u in json.loads(text)["intent_unverifiable"]}
    assert code == 1
    assert lost["web-never-reaches-finance"] == (
        "zone finance is gone and no zone of the new policy holds 192.168.60.0/24"
    )


def test_renamed_hosts_and_rules_are_named_and_change_nothing(make_policy) -> None:
    def edit(data: dict) -> None:
        data["zones"]["web"]["hosts"] = ["www1", "web2"]
        next(r for r in data["rules"] if r["name"] == "web-to-app")["name"] = "web-app-api"
        data["services"]["pg"] = data["services"].pop("postgres")
        for item in data["rules"] + data["expect"]:
            for key in ("services", "service"):
                if item.get(key) == "postgres":
                    item[key] = "pg"
                elif isinstance(item.get(key), list):
                    item[key] = ["pg" if s == "postgres" else s for s in item[key]]

    code, text = twin_diff("--json", "-", str(REFERENCE), str(make_policy(edit)))
    data = json.loads(text)
    assert code == 0
    assert data["hosts_renamed"] == [{"old": "web1", "new": "www1"}]
    assert data["rules_renamed"] == [{"old": "web-to-app", "new": "web-app-api"}]
    assert data["newly_allowed"] == data["newly_blocked"] == data["block_changed"] == []
    code, text = twin_diff(str(REFERENCE), str(make_policy(edit)))
    assert "rule web-to-app is renamed web-app-api" in text
    assert "no flow changes its verdict" in text


def test_the_policy_a_rehearsal_writes_for_a_renamed_lab_loads_back() -> None:
    """A candidate whose name is not the lab's is written out by twin; `service: any` left
    out as a default made the lab's policy.yml unloadable (rollback and test: exit 2)."""
    for path in (REFERENCE, REFERENCE.with_name("zero-trust-6zone-dualstack.yml")):
        plan = build_plan(load_policy(path))
        text = policy_text(plan)
        assert parse_policy(text.encode(), "policy.yml") == plan.policy


def test_what_a_new_zone_may_reach_is_newly_allowed(make_policy) -> None:
    def edit(data: dict) -> None:
        data["zones"]["guest"] = {"subnet": "192.168.70.0/24", "hosts": ["g1"]}
        data["rules"].insert(0, {"name": "guest-db", "from": "guest", "to": "db",
                                 "action": "allow"})  # fmt: skip

    code, text = twin_diff("--json", "-", str(REFERENCE), str(make_policy(edit)))
    data = json.loads(text)
    assert code == 0  # no intent line speaks of guest
    allowed = {(c["src_zone"], c["dst_zone"], c["services"], c["old_rule"], c["new_rule"])
               for c in data["newly_allowed"]}  # fmt: skip
    assert ("guest", "db", "any", "(no zone)", "guest-db") in allowed
    assert ("management", "guest", "tcp/22", "(no zone)", "mgmt-ssh") in allowed
    assert data["not_compared"]["added"] == [{"zone": "guest", "addresses": ["192.168.70.0/24"]}]
    code, text = twin_diff(str(REFERENCE), str(make_policy(edit)))
    assert "new addresses: 192.168.70.0/24 (guest)" in text
