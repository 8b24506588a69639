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
    assert run.health and "responder process is not running" in run.health[0]
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


def drop_output(lab, node: str, match: str) -> None:
    """A table of the test's own in `node`'s namespace dropping what it sends that matches."""
    hook = "type filter hook output priority 0;"
    text = f"table ip chaos {{\n chain out {{\n  {hook}\n  {match} drop\n }}\n}}\n"
    assert lab.runtime.exec(lab.state, node, ["nft", "-f", "-"], stdin=text).ok


def test_answers_lost_on_the_way_back_are_inconclusive_not_failures(
    make_policy, lab_up, tmp_path
) -> None:
    """The firewall logs a reject (or an accept) and the prober sees nothing, on two 5-tuples:
    the environment could not judge those flows — exit 3, never a policy failure (exit 1)."""
    lab = lab_up(make_policy())
    drop_output(lab, "fw", "icmp type destination-unreachable")  # rejects never leave it
    drop_output(lab, "db1", "tcp sport 5432")  # db1's postgres answers never leave it
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
