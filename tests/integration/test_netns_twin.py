"""The six-zone twin on real network namespaces, with real packets, judged for real."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, netns_list
from twin import pipeline
from twin.deploy.configure import load_firewall
from twin.deploy.responders import stop_responders
from twin.errors import EnvironmentProblem
from twin.verify.bypass import is_bypass
from twin.verify.verify import verify

pytestmark = pytest.mark.integration
FORWARD_HOOK = "type filter hook forward priority filter; policy drop;"


def by_flow(run: Any) -> dict[tuple[str, str, str, int], Any]:
    return {(r.src, r.dst, r.proto, r.port): r for r in run.results}


def test_reference_twin_enforces_policy_and_intent(make_policy, lab_up) -> None:
    lab = lab_up(make_policy())
    run = pipeline.test(lab)
    assert run.ok, [f"{r.src}->{r.dst} {r.proto}/{r.port}: {r.reason}" for r in run.failures[:5]]
    assert len(run.results) >= 1400
    assert not run.warnings  # every rule's counter equals its NFLOG record count
    flows = by_flow(run)
    # allowed flows complete a real handshake through the stateful firewall
    assert flows[("web1", "app1", "tcp", 8080)].observed == "open"
    assert flows[("web1", "app1", "tcp", 8080)].rule == "web-to-app"
    assert flows[("app2", "db1", "tcp", 5432)].observed == "open"
    assert flows[("jump1", "fin2", "tcp", 22)].observed == "open"
    assert flows[("mon1", "dev1", "tcp", 22)].rule == "mgmt-ssh"
    # lateral movement is dropped, and the firewall's own log names the rule that did it
    web_db = flows[("web1", "db1", "tcp", 5432)]
    assert (web_db.observed, web_db.rule) == ("filtered", "interzone-default")
    web_fin = flows[("web2", "fin1", "tcp", 443)]
    assert (web_fin.observed, web_fin.rule) == ("rejected", "no-lateral-to-finance")
    assert flows[("dev1", "fin2", "icmp", 0)].observed == "rejected"
    assert flows[("db1", "jump1", "udp", 53)].observed == "filtered"
    # intrazone traffic crosses the firewall too (private-VLAN bridge) and is attributed
    assert flows[("web1", "web2", "tcp", 22)].rule == "intrazone-default"
    observed = Counter(r.observed for r in run.results)
    assert observed["open"] and observed["filtered"] and observed["rejected"]
    # counters were read from the kernel for the rules that decided
    assert run.counters["interzone-default"] >= observed["filtered"] - 10


def load_mutated(lab: Any, edit: Any) -> None:
    """Mutation tests: a broken ruleset loaded the way twin loads its own (as a wrong template
    would render it), so twin holds it for the enforced one and must catch it by probing."""
    path = lab.state.path / "configs" / "fw.nft"
    load_firewall(lab.runtime, lab.state, lab.plan, edit(path.read_text()))


def test_opened_firewall_is_caught_and_names_web_to_db(make_policy, lab_up) -> None:
    """The mutation test: break the live firewall on purpose; the verifier must notice."""
    lab = lab_up(make_policy())
    load_mutated(lab, lambda text: text.replace(FORWARD_HOOK, FORWARD_HOOK + "\n\t\taccept", 1))
    run = pipeline.test(lab)
    assert not run.ok and run.exit_code == 1
    web_db = by_flow(run)[("web1", "db1", "tcp", 5432)]
    assert web_db.observed == "open"
    assert not web_db.ok
    assert "web-never-db" in web_db.violates


def test_a_source_port_hole_is_seen(make_policy, lab_up) -> None:
    """Probes come from spread source ports (a quarter privileged): a rule keyed on source
    ports lets some of them through, and the run fails on them."""
    lab = lab_up(make_policy())
    hole = "\n\t\ttcp sport 1-1023 accept"
    load_mutated(lab, lambda text: text.replace(FORWARD_HOOK, FORWARD_HOOK + hole, 1))
    run = pipeline.test(lab)
    assert run.exit_code == 1
    passed = [r for r in run.failures if r.observed == "open" and r.proto == "tcp"]
    assert len(passed) > 20 and not [r for r in run.failures if r.proto != "tcp"]
    assert any("web-never-db" in r.violates for r in passed)


def test_a_single_source_port_hole_is_seen_from_the_classic_ports(make_policy, lab_up) -> None:
    """The holes firewalls had (`udp sport 53 accept`, `tcp sport 20 accept`) are one port
    wide: the spread would rarely hit them, so a blocked flow of each zone pair also leaves
    from each well-known source port (53 even where a responder listens on it)."""
    lab = lab_up(make_policy())
    run = pipeline.test(lab)
    classic = [c for c in run.crafted if c.kind.startswith("source-port")]
    assert classic and all(c.ok and "not sent" not in c.observed for c in classic)
    assert {c.kind for c in classic} >= {"source-port 53", "source-port 20", "source-port 123"}
    for hole, kind in (
        ("udp sport 53 accept", "source-port 53"),
        ("tcp sport 20 accept", "source-port 20"),
    ):
        load_mutated(
            lab, lambda text, h=hole: text.replace(FORWARD_HOOK, f"{FORWARD_HOOK}\n\t\t{h}")
        )
        # the classic probes repeat their 5-tuples: the last hole's conntrack entries must go
        assert lab.runtime.exec(lab.state, "fw", ["conntrack", "-F"]).ok
        run = pipeline.test(lab)
        assert run.exit_code == 1 and not run.health
        passed = [c for c in run.crafted if not c.ok]
        assert passed and {c.kind for c in passed} == {kind}, passed
        assert all(c.observed in ("open", "closed") for c in passed)


def test_stopped_responder_is_closed_not_blocked(make_policy, lab_up) -> None:
    lab = lab_up(make_policy())
    stop_responders(lab.state)
    # `twin test` refuses to judge a twin whose responders are silent (exit 3) …
    with pytest.raises(EnvironmentProblem, match="responder process is not running"):
        pipeline.test(lab)
    # … and the verifier itself tells "crossed the firewall" from "blocked"
    run = verify(lab.runtime, lab.state, lab.plan)
    web_app = by_flow(run)[("web1", "app1", "tcp", 8080)]
    assert web_app.observed == "closed"  # the host's RST: the flow crossed the firewall
    assert web_app.ok and web_app.rule == "web-to-app"
    assert by_flow(run)[("web1", "db1", "tcp", 5432)].observed == "filtered"


def twin(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_cli_up_test_status_down(make_policy, tmp_path, no_leftovers) -> None:
    from tests.conftest import need_root_netns

    need_root_netns()
    policy = make_policy()
    lab = policy.stem
    no_leftovers(lab)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        assert twin("validate", str(policy), cwd=tmp_path, env=env).returncode == 0
        res = twin("up", str(policy), "--runtime", "netns", cwd=tmp_path, env=env)
        assert res.returncode == 0, res.stderr
        assert f"clab-{lab}-fw" in netns_list()
        again = twin("up", str(policy), "--runtime", "netns", cwd=tmp_path, env=env)
        assert again.returncode == 2 and "already up" in again.stderr
        res = twin("test", "--json", "r.json", "--junit", "j.xml", cwd=tmp_path, env=env)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "all match" in res.stdout
        report = json.loads((tmp_path / "r.json").read_text())
        # no FILE: the lab's copy of the policy is judged, and named so
        copy = Path(report["policy_file"])
        assert report["policy_copy_of"] == str(policy.resolve()) and report["exit_code"] == 0
        assert copy.name == "policy.yml" and copy.read_bytes() == policy.read_bytes()
        assert report["policy_sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()
        assert len(report["ruleset_sha256"]) == 64 and report["enforcing"] == "baseline"
        results = report["results"]
        keys = {
            "src",
            "dst",
            "src_zone",
            "dst_zone",
            "proto",
            "port",
            "expected",
            "observed",
            "ok",
            "rule",
        }
        assert keys <= set(results[0])
        assert all(r["ok"] for r in results)
        junit = (tmp_path / "j.xml").read_text()
        assert 'name="web-never-db"' in junit and 'failures="0"' in junit
        assert f'<property name="ruleset_sha256" value="{report["ruleset_sha256"]}"' in junit
        assert f'<property name="policy_sha256" value="{report["policy_sha256"]}"' in junit
        assert "ruleset sha256" in res.stdout and f"copy of {policy.resolve()}" in res.stdout
        res = twin("status", cwd=tmp_path, env=env)
        assert lab in res.stdout and "13/13 running" in res.stdout
    finally:
        res = twin("down", "--lab", lab, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "home" / lab).exists()


def test_bad_policy_deploys_nothing(tmp_path, make_policy) -> None:
    bad = make_policy(lambda d: d["rules"][0].update(to="nowhere"))
    before = netns_list()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = twin("up", str(bad), "--runtime", "netns", cwd=tmp_path, env=env)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0
    assert "rules[0].to: unknown zone 'nowhere'" in res.stderr
    assert {n for n in netns_list() - before if n.startswith(f"clab-{bad.stem}-")} == set()
    assert not (tmp_path / "home").exists()


def test_interrupted_up_leaves_nothing(make_policy, tmp_path, no_leftovers) -> None:
    from tests.conftest import need_root_netns

    need_root_netns()
    policy = make_policy()
    no_leftovers(policy.stem)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin", "up", str(policy), "--runtime", "netns"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # interrupt as soon as the first namespace exists
    for _ in range(4000):
        if (
            any(n.startswith(f"clab-{policy.stem}-") for n in netns_list())
            or proc.poll() is not None
        ):
            break
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    if proc.returncode == 0:  # finished before the signal landed: bring it down normally
        twin("down", "--lab", policy.stem, cwd=tmp_path, env=env)
    else:
        assert proc.returncode == 130
    assert not any(n.startswith(f"clab-{policy.stem}-") for n in netns_list())
    assert not list((tmp_path / "run").glob("*.json"))


def test_twin_is_sealed(make_policy, lab_up) -> None:
    """During a full run no twin packet shows on the machine's interfaces, the machine's
    namespace gains no route, address or link of the lab, and probes refuse to leave the lab."""
    from traffic.prober import Probe, Refused, run_probes

    policy = make_policy()
    lab = lab_up(policy)
    subnets = [str(z.subnet) for z in lab.plan.zones]
    capture = subprocess.Popen(
        ["tcpdump", "-i", "any", "-nn", "-p", "-l", " or ".join(f"net {s}" for s in subnets)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        while "listening on" not in (capture.stderr.readline() if capture.stderr else "x"):
            pass
        assert pipeline.test(lab).ok
        root = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True)
        routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True)
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    finally:
        capture.send_signal(signal.SIGINT)
        out, err = capture.communicate(timeout=30)
    assert "0 packets captured" in err, out[:2000]
    for subnet in subnets:
        prefix = subnet.rsplit(".", 1)[0] + "."
        assert prefix not in root.stdout and prefix not in routes.stdout
    assert f"clab-{lab.state.lab}-" not in links.stdout
    ns = lab.runtime.netns(lab.state, "web1")
    with pytest.raises(Refused):
        run_probes([Probe(ns, "192.168.10.11", "8.8.8.8", "udp", 53)], ["192.168.10.0/24"])
    with pytest.raises(Refused):
        run_probes([Probe("", "192.168.10.11", "192.168.20.11", "tcp", 80)], ["192.168.0.0/16"])


def test_stateless_or_spoofable_firewall_is_caught(make_policy, lab_up) -> None:
    """Crafted packets (scapy): a stray ACK must die as ct-invalid and a spoofed SYN as
    anti-spoofing. Empty those two rules on purpose and the run must fail on them."""
    lab = lab_up(make_policy())
    run = pipeline.test(lab)
    crafted = [c for c in run.crafted if not is_bypass(c)]
    assert run.ok and len(crafted) >= 6
    assert {c.kind for c in crafted} == {"stray-ack", "spoofed-syn"}
    assert all(c.rule == c.expected_rule for c in crafted)

    def stateless_and_spoofable(text: str) -> str:  # empty ct-invalid, drop anti-spoofing
        lines = [ln for ln in text.splitlines() if 'prefix "anti-spoofing"' not in ln]
        return "\n".join(ln for ln in lines if 'prefix "ct-invalid"' not in ln) + "\n"

    load_mutated(lab, stateless_and_spoofable)
    run = pipeline.test(lab)
    assert not run.ok and run.exit_code == 1
    bad = [c for c in run.crafted if not c.ok]
    # without anti-spoofing, an address a host adds itself crosses too (the bypass check)
    assert {c.kind for c in bad} == {"stray-ack", "spoofed-syn", "unplanned-address"}
    assert all(c.rule != c.expected_rule for c in bad)


def variant(policy: Path, name: str, edit: Any) -> Path:
    data = yaml.safe_load(policy.read_text())
    edit(data)
    path = policy.with_name(name)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_twin_test_file_judges_that_files_intent(make_policy, lab_up, tmp_path) -> None:
    """`twin test FILE` judges FILE's intent on the running twin; a FILE whose zones, hosts or
    rules are not what the lab enforces is refused (exit 2, one line, the two ways on)."""
    policy = make_policy()
    lab = lab_up(policy).state.lab
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    wanted = {"name": "web-db-wanted", "from": "web", "to": "db", "service": "postgres",
              "verdict": "allow"}  # fmt: skip
    edited = variant(policy, "edited.yml", lambda d: d["expect"].append(wanted))
    res = twin("test", str(edited), "--json", "r.json", "-q", cwd=tmp_path, env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["policy_file"] == str(edited)
    bad = {r["port"] for r in report["results"] if "web-db-wanted" in r["violates"]}
    assert bad == {5432}
    assert twin("test", str(policy), "-q", cwd=tmp_path, env=env).returncode == 0

    def open_web_db(d: dict) -> None:
        d["rules"][0]["services"] = ["app-api", "postgres"]
        del d["zones"]["dev"]["hosts"][1]

    changed = variant(policy, "changed.yml", open_web_db)
    res = twin("test", str(changed), cwd=tmp_path, env=env)
    assert res.returncode == 2, res.stdout + res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert f"is not what lab {lab} enforces now" in res.stderr
    assert "host dev2 removed; rule web-to-app services tcp/8080 → tcp/5432,tcp/8080" in res.stderr
    assert f"`twin down --lab {lab}` then `twin up {changed}`" in res.stderr
    assert "a rehearsal swaps rules only" in res.stderr  # hosts changed: no rehearsal offered


def test_twin_test_file_refuses_what_the_lab_does_not_enforce(
    make_policy, lab_up, tmp_path
) -> None:
    """The issue's case (an intent line edited wrong: exit 1, as `twin validate` says), edits
    that only write the same twin otherwise (accepted), and changes the lab does not enforce:
    IPv6 added to a zone (was judged against an IPv4-only twin: exit 3 'not healthy'), a
    rule's action; one line each, exit 2."""
    policy = make_policy()
    lab = lab_up(policy).state.lab
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    text = policy.read_text()

    def edited(name: str, old: str, new: str) -> Path:
        assert old in text
        path = policy.with_name(name)
        path.write_text(text.replace(old, new, 1))
        return path

    wrong = edited("wrong.yml", "verdict: allow", "verdict: block")  # web-reaches-app
    res = twin("test", str(wrong), "-q", cwd=tmp_path, env=env)
    assert res.returncode == 1 and "4 FAILED" in res.stdout, res.stdout + res.stderr
    assert twin("validate", str(wrong), cwd=tmp_path, env=env).returncode == 1
    # an `unreachable` line that a path breaks (jump1 → db1 ssh): judged too, as validate does
    path = edited("path.yml", "from: dev\n  to: finance\n  verdict: unreachable",
                  "from: management\n  to: db\n  verdict: unreachable")  # fmt: skip
    res = twin("test", str(path), "--junit", "-", cwd=tmp_path, env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "1 unreachable intent line BROKEN" in res.stderr  # the tables: JUnit is on stdout
    case = f'<testcase classname="twin.{lab}.unreachable" name="dev-never-reaches-finance">'
    assert case in res.stdout and "a path: jump1 → db1 tcp/22 (mgmt-ssh)" in res.stdout
    assert twin("validate", str(path), cwd=tmp_path, env=env).returncode == 1
    ghost = edited("ghost.yml", "to: db\n  service: postgres", "to: db3\n  service: postgres")
    res = twin("test", str(ghost), cwd=tmp_path, env=env)
    assert res.returncode == 2 and "ghost.yml:" in res.stderr and "did you mean 'db'" in res.stderr
    # zones in another order, hosts with their addresses written out: the same twin
    data = yaml.safe_load(text)
    data["zones"] = dict(reversed(list(data["zones"].items())))
    data["zones"]["web"]["hosts"] = [{"name": "web2", "address": "192.168.10.12"},
                                     {"name": "web1", "address": "192.168.10.11"}]  # fmt: skip
    same = policy.with_name("same.yml")
    same.write_text("# written otherwise\n" + yaml.safe_dump(data, sort_keys=True))
    res = twin("test", str(same), "--json", "s.json", "-q", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["policy_file"] == str(same) and report["enforcing"] == "baseline"
    assert report["policy_sha256"] == hashlib.sha256(same.read_bytes()).hexdigest()
    for name, old, new, said in (
        ("v6.yml", "subnet: 192.168.10.0/24", "subnet: [192.168.10.0/24, 'fd00:10::/64']",
         "zone web subnet6 none → fd00:10::/64"),
        ("deny.yml", "action: allow", "action: deny", "rule web-to-app action allow → deny"),
    ):  # fmt: skip
        res = twin("test", str(edited(name, old, new)), cwd=tmp_path, env=env)
        assert res.returncode == 2, res.stdout + res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and said in res.stderr
        assert f"is not what lab {lab} enforces now" in res.stderr
