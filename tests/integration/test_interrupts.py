"""Interrupted work leaves nothing behind: signals and kills at several points of up and test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT, need_root_netns, netns_list
from twin.deploy.responders import find_responders

pytestmark = pytest.mark.integration

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def twin(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "twin", *args], cwd=cwd, env={**ENV, **_homes(cwd)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _homes(tmp: Path) -> dict[str, str]:
    return {"TWIN_HOME": str(tmp / "home"), "TWIN_RUN_DIR": str(tmp / "run")}


def has_table(lab: str) -> bool:
    ns = f"clab-{lab}-fw"
    if ns not in netns_list():
        return False
    res = subprocess.run(
        ["ip", "netns", "exec", ns, "nft", "list", "tables"], capture_output=True, text=True
    )
    return "twin" in res.stdout


MILESTONES: dict[str, Callable[[str, Path], bool]] = {
    "state-written": lambda lab, tmp: (tmp / "home" / lab / "state.json").exists(),
    "namespaces": lambda lab, tmp: any(n.startswith(f"clab-{lab}-") for n in netns_list()),
    "firewall-loaded": lambda lab, tmp: has_table(lab),
    "responders": lambda lab, tmp: bool(find_responders(tmp / "home" / lab)),
}


def nflog_open(lab: str) -> bool:
    """Is an NFLOG reader (netlink protocol 12) open in the lab's firewall namespace?"""
    res = subprocess.run(
        ["ip", "netns", "exec", f"clab-{lab}-fw", "cat", "/proc/net/netlink"],
        capture_output=True, text=True,
    )  # fmt: skip
    rows = [line.split() for line in res.stdout.splitlines()[1:]]
    return any(r[1] == "12" and r[2] != "0" for r in rows if len(r) > 2)  # pid 0: the kernel's


def wait_for(proc: subprocess.Popen[str], check: Callable[[], bool], limit: float = 20) -> None:
    deadline = time.monotonic() + limit
    while not check() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)


def assert_nothing_left(lab: str, tmp: Path) -> None:
    assert not [n for n in netns_list() if n.startswith(f"clab-{lab}-")]
    assert not list((tmp / "run").glob("*.json")) if (tmp / "run").exists() else True
    assert not (tmp / "home" / lab).exists()
    assert not find_responders(tmp / "home" / lab)


@pytest.mark.parametrize("milestone", list(MILESTONES))
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_up(make_policy, tmp_path, milestone, sig) -> None:
    need_root_netns()
    policy = make_policy()
    lab = policy.stem
    try:
        proc = twin("up", str(policy), "--runtime", "netns", cwd=tmp_path)
        wait_for(proc, lambda: MILESTONES[milestone](lab, tmp_path))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        if proc.returncode == 0:  # it finished first: a complete lab that `down` removes
            down = twin("down", "--lab", lab, cwd=tmp_path)
            assert down.wait(timeout=60) == 0
        else:
            assert proc.returncode == (130 if sig == signal.SIGINT else 143), err
            assert "Traceback" not in err
    finally:
        subprocess.run([sys.executable, "-m", "twin", "down", "--all"], cwd=tmp_path,
                       env={**ENV, **_homes(tmp_path)}, capture_output=True)  # fmt: skip
    assert_nothing_left(lab, tmp_path)


@pytest.mark.parametrize("milestone", list(MILESTONES))
def test_kill_during_up_then_down_cleans(make_policy, tmp_path, milestone) -> None:
    """A crash (SIGKILL: no clean-up at all) at each point; `twin down` removes everything."""
    need_root_netns()
    policy = make_policy()
    lab = policy.stem
    proc = twin("up", str(policy), "--runtime", "netns", cwd=tmp_path)
    wait_for(proc, lambda: MILESTONES[milestone](lab, tmp_path))
    proc.kill()
    proc.wait(timeout=30)
    down = twin("down", "--lab", lab, cwd=tmp_path)
    _, err = down.communicate(timeout=60)
    assert down.returncode == 0, err
    assert_nothing_left(lab, tmp_path)


def test_interrupted_test_leaves_the_lab_as_it_was(make_policy, tmp_path) -> None:
    need_root_netns()
    policy = make_policy()
    lab = policy.stem
    up = twin("up", str(policy), "--runtime", "netns", cwd=tmp_path)
    assert up.wait(timeout=60) == 0
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            proc = twin("test", "--lab", lab, cwd=tmp_path)
            wait_for(proc, lambda: nflog_open(lab), 20)  # the run is probing now
            proc.send_signal(sig)
            proc.communicate(timeout=60)
            assert proc.returncode in (0, 1, 130, 143)
        again = twin("test", "--lab", lab, "-q", cwd=tmp_path)
        out, err = again.communicate(timeout=60)
        assert again.returncode == 0, out + err
    finally:
        down = twin("down", "--lab", lab, cwd=tmp_path)
        assert down.wait(timeout=60) == 0
    assert_nothing_left(lab, tmp_path)
