"""The twin never lies: a broken twin makes `twin test` exit 3 with the reason, never a pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT
from twin import pipeline
from twin.deploy.responders import stop_responders
from twin.errors import EnvironmentProblem

pytestmark = pytest.mark.integration


def twin_test(lab: str, cwd) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "twin", "test", "--lab", lab, "-q"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_dead_firewall_is_exit_3(make_policy, lab_up, tmp_path) -> None:
    lab = lab_up(make_policy())
    subprocess.run(["ip", "netns", "del", f"clab-{lab.state.lab}-fw"], check=True)
    res = twin_test(lab.state.lab, tmp_path)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "firewall node fw is missing" in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_veth_is_exit_3(make_policy, lab_up, tmp_path) -> None:
    lab = lab_up(make_policy())
    ns = f"clab-{lab.state.lab}-db2"
    subprocess.run(["ip", "-n", ns, "link", "del", "eth1"], check=True)
    res = twin_test(lab.state.lab, tmp_path)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "node db2: interface eth1 is missing" in res.stderr
    # the firewall's end went with it
    assert "node fw: interface eth6 is missing" in res.stderr


def test_wrong_route_and_address_are_exit_3(make_policy, lab_up) -> None:
    lab = lab_up(make_policy())
    ns = f"clab-{lab.state.lab}-app1"
    subprocess.run(["ip", "-n", ns, "route", "del", "default"], check=True)
    subprocess.run(["ip", "-n", ns, "addr", "flush", "dev", "eth1"], check=True)
    with pytest.raises(EnvironmentProblem) as exc:
        pipeline.test(lab)
    assert "app1: eth1 has address none, expected 192.168.20.11/24" in str(exc.value)
    assert "app1: default route via nothing" in str(exc.value)


def test_responder_stopped_mid_run_is_exit_3(make_policy, lab_up) -> None:
    lab = lab_up(make_policy())
    killer = threading.Timer(0.05, stop_responders, args=(lab.state,))
    killer.start()
    started = time.monotonic()
    run = pipeline.test(lab)
    killer.join()
    assert time.monotonic() - started < 30
    # the stop lands before the pre-run check (process gone), or while it probes the
    # responders (silent), or during the matrix (the post-run check: process gone)
    said = ("the responder process is not running", "responders silent")
    assert run.health and any(s in run.health[0] for s in said), run.health
    assert run.exit_code == 3 and not run.ok


def test_a_ruleset_changed_by_hand_is_exit_3_naming_the_change(make_policy, lab_up, tmp_path):
    """Not the ruleset twin loaded: an unhealthy twin (exit 3), whatever the probes would say,
    with what changed named (a source-port hole, here)."""
    lab = lab_up(make_policy())
    rt, st = lab.runtime, lab.state
    hole = ["nft", "insert", "rule", "inet", "twin", "forward", "tcp", "sport", "1-1023", "accept"]
    assert rt.exec(st, "fw", hole).ok
    res = twin_test(st.lab, tmp_path)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "not the one twin loaded" in res.stderr
    assert "rule added to chain forward: `tcp sport 1-1023 accept`" in res.stderr
    assert "Traceback" not in res.stderr
    assert rt.exec(st, "fw", ["nft", "flush", "chain", "inet", "twin", "ct-invalid"]).ok
    with pytest.raises(
        EnvironmentProblem, match="rule removed from chain ct-invalid: `ct-invalid`"
    ):
        pipeline.test(lab)
    assert rt.exec(st, "fw", ["nft", "delete", "table", "inet", "twin"]).ok
    with pytest.raises(EnvironmentProblem, match="table inet twin is gone"):
        pipeline.test(lab)


FORWARD_HOLE = """table ip evil {
 chain hole {
  type filter hook forward priority -10; policy accept;
  tcp sport 1-1023 accept
 }
}
"""


def nft(lab, node: str, *args: str, stdin: str | None = None) -> None:
    res = lab.runtime.exec(lab.state, node, ["nft", *args], stdin=stdin)
    assert res.ok, res.stderr


def test_a_table_twin_did_not_load_is_exit_3_before_any_probe(make_policy, lab_up, tmp_path):
    """Anything else netfilter holds in the firewall (any family, hook, priority; iptables-nft
    or iptables-legacy) or in a host is an unhealthy twin, named; removed again, the twin is
    healthy (a warning says it was changed and changed back)."""
    lab = lab_up(make_policy())
    nft(lab, "fw", "-f", "-", stdin=FORWARD_HOLE)
    res = twin_test(lab.state.lab, tmp_path)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "probes" not in res.stdout and "Traceback" not in res.stderr
    assert (
        "the firewall holds netfilter tables twin did not load (added by hand?): table ip evil "
        "(chain hole: filter hook forward priority -10, policy accept; 1 rule)"
    ) in res.stderr
    nft(lab, "fw", "delete", "table", "ip", "evil")
    tampered = {
        "table ip natty (chain pre: nat hook prerouting priority -100": (
            "fw", "table ip natty {\n chain pre {\n  type nat hook prerouting priority -100;\n"
            "  tcp dport 5432 dnat to 192.168.30.11\n }\n}\n",
        ),
        "table bridge br (chain f: filter hook forward priority 0, policy drop; 0 rules)": (
            "fw", "table bridge br {\n chain f {\n  type filter hook forward priority 0; "
            "policy drop;\n }\n}\n",
        ),
        "table inet twin2 (no base chain; 0 rules)": ("fw", "table inet twin2 {\n}\n"),
        "host db1 holds netfilter tables twin did not load (added by hand?): table ip chaos "
        "(chain out: filter hook output priority 0, policy accept; 1 rule)": (
            "db1", "table ip chaos {\n chain out {\n  type filter hook output priority 0;\n"
            "  tcp sport 5432 drop\n }\n}\n",
        ),
    }  # fmt: skip
    for said, (node, text) in tampered.items():
        nft(lab, node, "-f", "-", stdin=text)
        with pytest.raises(EnvironmentProblem) as caught:
            pipeline.test(lab)
        assert said in str(caught.value)
        nft(lab, node, "delete", *text.split(" {")[0].split())  # delete table <family> <name>
    run = pipeline.test(lab)
    assert run.ok and run.exit_code == 0
    assert any("changed since twin loaded it" in w and "and changed back" in w
               for w in run.warnings)  # fmt: skip
    iptables = ["iptables-nft", "-I", "FORWARD", "-p", "tcp", "--sport", "1:1023", "-j", "ACCEPT"]
    assert lab.runtime.exec(lab.state, "fw", iptables).ok
    with pytest.raises(
        EnvironmentProblem, match=r"table ip filter \(.*chain FORWARD: filter hook forward"
    ):
        pipeline.test(lab)
    nft(lab, "fw", "delete", "table", "ip", "filter")
    assert lab.runtime.exec(lab.state, "fw", ["iptables-legacy", *iptables[1:]]).ok
    with pytest.raises(EnvironmentProblem, match=r"iptables-legacy table filter \(x_tables\)"):
        pipeline.test(lab)


def test_a_ruleset_changed_during_the_run_is_never_a_pass(make_policy, lab_up, monkeypatch):
    """Between the health checks before and after the run: a table added and left, or a change
    made and undone (the nftables generation moved), is exit 3, never a pass."""
    lab = lab_up(make_policy())
    real = pipeline.verify

    def tampering(undo: bool):
        def verify(*args, **kwargs):
            nft(lab, "fw", "-f", "-", stdin=FORWARD_HOLE)
            if undo:
                nft(lab, "fw", "delete", "table", "ip", "evil")
            return real(*args, **kwargs)

        return verify

    monkeypatch.setattr(pipeline, "verify", tampering(undo=True))
    run = pipeline.test(lab)
    assert run.exit_code == 3 and not run.ok
    assert "changed while flows were probed" in run.health[0]
    monkeypatch.setattr(pipeline, "verify", tampering(undo=False))
    run = pipeline.test(lab)
    assert run.exit_code == 3 and not run.ok
    assert "during the run: the firewall holds netfilter tables twin did not load" in run.health[0]


def lose_sent(lab, node: str, *selector: str) -> None:
    """`node` routes what it sends itself that matches `selector` nowhere: a policy rule to a
    blackhole (a netfilter table of the test's own would be tampering, rightly exit 3)."""
    for cmd in (
        ["ip", "route", "add", "blackhole", "default", "table", "99"],
        ["ip", "rule", "add", "iif", "lo", *selector, "table", "99"],
    ):
        res = lab.runtime.exec(lab.state, node, cmd)
        assert res.ok, res.stderr


def test_answers_lost_on_the_way_back_are_inconclusive_not_failures(
    make_policy, lab_up, tmp_path
) -> None:
    """The firewall logs a reject (or an accept) and the prober sees nothing, on two 5-tuples:
    the environment could not judge those flows — exit 3, never a policy failure (exit 1)."""
    lab = lab_up(make_policy())
    lose_sent(lab, "fw", "ipproto", "icmp")  # rejects never leave it
    lose_sent(lab, "db1", "ipproto", "tcp", "sport", "5432")  # db1's postgres answers neither
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, "-m", "twin", "test", "--lab", lab.state.lab, "--json", "r.json",
         "--junit", "j.xml"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 3, res.stdout[-3000:] + res.stderr
    assert "INCONCLUSIVE" in res.stdout and "FAILED" not in res.stdout
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    unsure = {(r["src"], r["dst"], r["proto"], r["port"]): r for r in results if not r["ok"]}
    assert all(r["observed"] == "inconclusive" for r in unsure.values())
    fin = unsure[("web1", "fin1", "tcp", 443)]
    assert fin["rule"] == "no-lateral-to-finance" and "prober saw filtered" in fin["reason"]
    assert "firewall logged allow (app-to-db)" in unsure[("app1", "db1", "tcp", 5432)]["reason"]
    assert ("app1", "db2", "tcp", 5432) not in unsure  # db2 answers
    assert len([k for k in unsure if k[1] in ("fin1", "fin2")]) == 238  # every finance reject
    junit = (tmp_path / "j.xml").read_text()
    assert 'type="inconclusive"' in junit
