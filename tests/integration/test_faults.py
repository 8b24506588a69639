"""The twin never lies: a broken twin makes `twin test` exit 3 with the reason, never a pass."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT
from twin import pipeline
from twin.configure import stop_responders
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


def test_changed_ruleset_is_reported(make_policy, lab_up) -> None:
    lab = lab_up(make_policy())
    rt, st = lab.runtime, lab.state
    assert rt.exec(st, "fw", ["nft", "add", "rule", "inet", "twin", "web/app", "counter"]).ok
    run = pipeline.test(lab)
    assert any("not the one twin loaded" in w for w in run.warnings)
