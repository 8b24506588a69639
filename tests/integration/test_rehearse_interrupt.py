"""Ctrl-C during a rehearsal (issue 10, case 6): the firewall, the lab's recorded policy and
ruleset, and the message always agree on what is enforced.

It used to be: SIGINT 0-50 ms after the candidate ruleset was written (6 of 6 tries) left the
firewall enforcing the candidate while the lab's policy named the baseline, the saved ruleset
hash already said candidate, and the CLI said "nothing half-built was left behind".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, need_root_netns
from twin.deploy.configure import firewall_snapshot
from twin.lab.directory import home
from twin.lab.state import load_state
from twin.policy.load import load_policy

pytestmark = pytest.mark.integration

RULE = {"name": "web-db-temp", "from": "web", "to": "db", "services": ["postgres"],
        "action": "allow"}  # fmt: skip


def twin(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "twin", *args], env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def candidate_of(policy: Path) -> Path:
    data = yaml.safe_load(policy.read_text())
    data["rules"].insert(0, dict(RULE))
    path = policy.with_name("candidate.yml")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def enforced(lab) -> tuple[bool, str]:
    """Does the firewall enforce the candidate (its rule is loaded)? And the table's hash."""
    table = lab.runtime.exec(lab.state, "fw", ["nft", "list", "table", "inet", "twin"])
    assert table.ok, table.stderr
    snap = firewall_snapshot(lab.runtime, lab.state, lab.plan)
    assert snap is not None
    return '"web-db-temp"' in table.stdout, snap.sha256


def recorded(lab_dir: Path) -> tuple[bool, str]:
    """What the lab directory says is enforced: policy.yml, the nft file, state.json's hash,
    rehearsal/state.json."""
    policy = load_policy(lab_dir / "policy.yml")
    in_policy = any(r.name == "web-db-temp" for r in policy.rules)
    nft = (lab_dir / "configs" / "fw.nft").read_text()
    assert in_policy == ('"web-db-temp"' in nft), "policy.yml and configs/fw.nft disagree"
    marks = lab_dir / "rehearsal" / "state.json"
    active = json.loads(marks.read_text())["active"] if marks.exists() else "baseline"
    assert in_policy == (active == "candidate"), "policy.yml and rehearsal/state.json disagree"
    return in_policy, load_state(lab_dir).ruleset_sha256


def interrupt(proc: subprocess.Popen[str], ready: Path, delay: float) -> tuple[int, str]:
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.001)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.parametrize(
    ("milestone", "delay"),
    [("baseline.nft", 0.0)] + [("candidate.nft", d / 1000) for d in (0, 2, 5, 10, 20, 35, 50)],
)
def test_ctrl_c_during_a_rehearsal_leaves_one_truth(make_policy, lab_up, milestone, delay):
    need_root_netns()
    policy = make_policy()
    lab = lab_up(policy)
    lab_dir = home() / lab.state.lab
    rehearsal = twin("rehearse", str(candidate_of(policy)), "--lab", lab.state.lab)
    code, err = interrupt(rehearsal, lab_dir / "rehearsal" / milestone, delay)
    live, sha = enforced(lab)
    in_policy, saved_sha = recorded(lab_dir)
    assert live == in_policy, f"the firewall enforces {'candidate' if live else 'baseline'}: {err}"
    assert sha == saved_sha, "state.json's ruleset hash is not the firewall's"
    assert "Traceback" not in err and "nothing half-built" not in err, err
    if code in (0, 1):  # it finished before the signal: the candidate is in place
        assert live
    else:
        assert code == 130, err
        (line,) = err.splitlines()
        if live:
            assert "enforces the candidate" in line and "twin rehearse --rollback" in line, line
        else:
            assert "enforces the baseline" in line, line
    if live:  # back to the baseline the same way; then the lab tests clean
        back = twin("rehearse", "--rollback", "--lab", lab.state.lab)
        out, err = back.communicate(timeout=120)
        assert back.returncode == 0, out + err
    test = twin("test", "--lab", lab.state.lab, "-q")
    out, err = test.communicate(timeout=120)
    assert test.returncode == 0, out + err
