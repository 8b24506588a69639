"""Rehearsing a rule change on a running six-zone twin: real swap, real packets, real logs."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.integration.test_docker_twin import (  # fixtures and helpers of the docker tests
    bring_down,
    docker_labs,  # noqa: F401
    node_image,  # noqa: F401
    up,
)
from traffic.netns import entered
from twin import pipeline, rehearse
from twin.verify.runs import load_run

pytestmark = pytest.mark.integration

WEB_DB_TEMP = {"name": "web-db-temp", "from": "web", "to": "db", "services": ["postgres"],
               "action": "allow"}  # fmt: skip


def candidate(base: Path, edit: Callable[[dict], None], name: str = "candidate.yml") -> Path:
    data = yaml.safe_load(base.read_text())
    edit(data)
    path = base.with_name(name)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def breaking(data: dict) -> None:
    """Opens web → db postgres (breaks web-never-db), moves web → app to 8443 (breaks
    web-reaches-app)."""
    data["rules"].insert(0, dict(WEB_DB_TEMP))
    data["rules"][1]["services"] = ["tcp/8443"]


TCP_ESTABLISHED = 1


def tcp_state(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[0]


def unacked(sock: socket.socket) -> int:
    """Segments sent and not acknowledged (struct tcp_info: tcpi_unacked at byte 24)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return int(struct.unpack_from("I", info, 24)[0])


def test_rehearsal_reports_every_changed_probe_and_agrees_with_the_static_diff(
    make_policy, lab_up
) -> None:
    base = make_policy()
    lab = lab_up(base)
    assert pipeline.test(lab).ok
    # an established session through the baseline (web1 → app1:8080), held open across the swap
    app1 = lab.plan.by_host["app1"]
    with entered(lab.runtime.netns(lab.state, "web1")):
        held = socket.create_connection((str(app1.address), 8080), timeout=2)
    try:
        assert tcp_state(held) == TCP_ESTABLISHED  # (the responder resets on data: send none)
        done = rehearse.rehearse(candidate(base, breaking), lab.state.lab, timeout=0.2)
        # conntrack was flushed: the old session is judged by the candidate, which drops it
        # (had it passed, the responder would have read it and reset the connection)
        held.sendall(b"after")
        time.sleep(0.3)
        assert tcp_state(held) == TCP_ESTABLISHED
        assert unacked(held) > 0, "an established session survived the swap: conntrack not flushed"
    finally:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        held.close()
    assert not done.disagreements, done.disagreements[:3]
    assert not done.ok  # the candidate breaks intent
    changed = {(c["src"], c["dst"], c["service"]): c for c in done.changed}
    web_db = changed[("web1", "db1", "tcp/5432")]
    assert (web_db["before"], web_db["after"]) == ("filtered", "open")
    assert (web_db["rule_before"], web_db["rule_after"]) == ("interzone-default", "web-db-temp")
    assert web_db["breaks"] == ["web-never-db"]
    web_app = changed[("web2", "app2", "tcp/8080")]
    assert (web_app["before"], web_app["after"]) == ("open", "filtered")
    assert web_app["breaks"] == ["web-reaches-app"]
    assert changed[("web1", "app1", "tcp/8443")]["after"] in ("open", "closed")
    assert len(changed) == 12  # 2×2 hosts × three services, nothing else moved
    static = done.static
    assert {v["intent"] for v in static["intent_violations"]} == {"web-never-db", "web-reaches-app"}
    # every denied probe was logged under the rule that dropped it
    assert done.evidence.ok and done.evidence.denied == done.evidence.denied_logged > 1000
    # the lab directory names what the firewall enforces now: `twin test` judges by it
    assert not pipeline.test(pipeline.open_lab(lab.state.lab)).ok  # still breaks intent
    _, run = rehearse.roll_back(lab.state.lab)
    assert run.ok, [r.reason for r in run.failures[:3]]
    assert (lab.state.path / "policy.yml").read_text() == base.read_text()
    assert pipeline.test(pipeline.open_lab(lab.state.lab)).ok
    saved = load_run(lab.state.lab)
    assert saved.kind == "test" and saved.run.ok  # the last run: twin test after the rollback


def test_a_renderer_that_disagrees_with_the_model_is_reported_loudly(
    make_policy, lab_up, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the 'candidate' ruleset is really the baseline's (a renderer bug)."""
    base = make_policy()
    lab = lab_up(base)
    real = rehearse.render_ruleset
    monkeypatch.setattr(rehearse, "render_ruleset", lambda plan, source: real(lab.plan, source))
    done = rehearse.rehearse(candidate(base, breaking), lab.state.lab)
    assert not done.ok
    assert not done.changed  # nothing changed on the wire …
    why = {(d["src"], d["dst"], d["service"]): d["why"] for d in done.disagreements}
    # … although the model says web → db postgres is now allowed by web-db-temp
    assert "allow by web-db-temp" in why[("web1", "db2", "tcp/5432")]
    assert "the twin saw filtered" in why[("web1", "db2", "tcp/5432")]


def test_cli_rehearse_report_html_in_chromium(make_policy, lab_up, tmp_path: Path) -> None:
    base = make_policy()
    lab = lab_up(base)
    name = lab.state.lab
    cand = candidate(base, breaking)
    twin = ["python3", "-m", "twin"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*twin, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)

    res = run("rehearse", str(cand), "--lab", name, "--json", "-")
    assert res.returncode == 1, res.stderr
    data = json.loads(res.stdout)
    assert data["disagreements"] == [] and len(data["changed"]) == 12
    assert data["swap_seconds"] < 1
    html = tmp_path / "out" / "report.html"
    junit = tmp_path / "out" / "junit.xml"
    html.parent.mkdir()  # twin creates no directory for a report
    res = run("report", "--lab", name, "--html", str(html), "--junit", str(junit))
    assert res.returncode == 1, res.stderr  # the last run (the candidate) breaks intent
    text = html.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text
    dom = render_in_chromium(html, tmp_path)
    assert 'id="verdict" class="verdict fail"' in dom
    failures = dom[dom.index('id="failures"') : dom.index('id="matrix"')]
    assert "web1 (web) → db1 (db)" in failures and "violates intent web-never-db" in failures
    matrix = dom[dom.index('class="matrix"') :]
    for zone in ("web", "app", "db", "management", "dev", "finance"):
        assert f"<th>{zone}</th>" in matrix
    assert '<td class="fail"' in matrix and '<td class="allow"' in matrix
    assert "Rehearsal of" in dom and "breaks web-reaches-app" in dom
    assert "Log evidence" in dom
    breach = dom[dom.index('id="breach"') : dom.index('id="evidence"')]  # the zone graph, inline
    # of the candidate (the last run): web reaches db in one hop, by web-db-temp
    assert 'class="zone-graph"' in breach and breach.count('<g class="attack">') == 1
    assert "tcp/5432 · web-db-temp" in breach
    assert "web-never-reaches-finance" in breach and "no path of any length" in breach
    xml = junit.read_text()  # one case per intent line, one per zone pair
    assert xml.count(f'classname="twin.{name}.intent"') == 17
    assert xml.count(f'classname="twin.{name}.matrix"') == 36
    # the baseline file is not what the lab enforces now: refused, naming the candidate
    res = run("test", str(base))
    assert res.returncode == 2 and f"lab runs the rehearsal candidate {cand}" in res.stderr
    assert "rule web-db-temp removed; rule web-to-app services tcp/8443 → tcp/8080" in res.stderr
    assert f"`twin rehearse {base} --lab {name}`" in res.stderr
    res = run("test", "--lab", name, "--json", str(tmp_path / "r.json"), "-q")
    assert res.returncode == 1  # the candidate breaks intent
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["enforcing"] == f"rehearsal candidate {cand}"
    assert report["policy_copy_of"] == str(cand)  # no FILE: the lab's copy of the candidate
    copy = Path(report["policy_file"])
    assert report["policy_sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest()
    # the candidate's own file: its intent judged, the candidate named as enforced
    res = run("test", str(cand), "--json", str(tmp_path / "c.json"), "--junit", "-", "-q")
    assert res.returncode == 1, res.stderr
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["policy_file"] == str(cand) and report["policy_copy_of"] == ""
    assert report["policy_sha256"] == hashlib.sha256(cand.read_bytes()).hexdigest()
    assert (
        report["ruleset_sha256"]
        == json.loads(lab.state.path.joinpath("state.json").read_text())["ruleset_sha256"]
    )
    assert f'<property name="enforcing" value="rehearsal candidate {cand}"' in res.stdout
    assert f"rehearsal candidate {cand}" in dom
    assert "rehearsal candidate" in junit.read_text()
    res = run("rehearse", "--rollback", "--lab", name)
    assert res.returncode == 0, res.stdout + res.stderr
    assert run("test", str(base), "-q").returncode == 0
    res = run("rehearse", "--rollback", "--lab", name)
    assert res.returncode == 2 and "nothing to roll back" in res.stderr

    def readdress(data: dict) -> None:
        data["zones"]["db"]["subnet"] = "192.168.31.0/24"

    res = run("rehearse", str(candidate(base, readdress, "moved.yml")), "--lab", name)
    assert res.returncode == 2 and "changes zone db" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def render_in_chromium(html: Path, tmp_path: Path) -> str:
    """The page as headless Chromium builds it (Debian's `chromium`, installed by make setup)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is not installed (make setup)"
    res = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom", html.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-500:]
    return res.stdout


def test_rehearsal_and_rollback_on_docker(make_policy, docker_labs) -> None:  # noqa: F811
    """The same round trip through the docker runtime's exec/netns (the node image's tools)."""
    base = make_policy()
    lab = up(base, "docker", docker_labs)
    try:
        done = rehearse.rehearse(candidate(base, breaking), lab.state.lab)
        assert not done.disagreements, done.disagreements[:3]
        assert len(done.changed) == 12 and done.evidence.ok
        assert {b for c in done.changed for b in c["breaks"]} == {"web-never-db", "web-reaches-app"}
        _, run = rehearse.roll_back(lab.state.lab)
        assert run.ok, [r.reason for r in run.failures[:3]]
    finally:
        bring_down(lab.state.lab)
