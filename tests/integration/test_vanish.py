"""A twin that vanishes during `twin test` (issue 10, case 5), and two tests at once (case 8).

The running `twin test` is frozen (SIGSTOP) at a known point, the twin is taken away under it
(`twin down` from another shell, `docker kill` of a node), then it runs on (SIGCONT): exit 3 and
one line, never a traceback nor a verdict. A second `twin test` of a lab being tested is told
which pid tests it (it used to fail with "NFLOG group 1: Operation not permitted").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT, need_root_netns
from twin.lab.directory import home
from twin.runtime.docker import docker_unavailable

pytestmark = pytest.mark.integration

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def twin(*args: str) -> subprocess.Popen[str]:
    env = {**ENV, "TWIN_HOME": os.environ["TWIN_HOME"], "TWIN_RUN_DIR": os.environ["TWIN_RUN_DIR"]}
    return subprocess.Popen(
        [sys.executable, "-m", "twin", *args], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def netfilter_sockets(netns_path: str, pid: int) -> set[str]:
    """Inodes of the netlink netfilter sockets (protocol 12) process `pid` holds in that netns."""
    res = subprocess.run(
        ["nsenter", f"--net={netns_path}", "cat", "/proc/net/netlink"],
        capture_output=True, text=True,
    )  # fmt: skip
    rows = [line.split() for line in res.stdout.splitlines()[1:]]
    inodes = {r[-1] for r in rows if len(r) > 2 and r[1] == "12"}
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            held.add(str(fd.readlink()).removeprefix("socket:[").removesuffix("]"))
        except OSError:
            continue
    return inodes & held


def nflog_open(netns_path: str, pid: int) -> bool:
    """Is process `pid` probing, its NFLOG reader open? The health check before the run reads
    the ruleset over a protocol 12 socket too, for a few milliseconds: the reader is the one
    still open 50 ms later."""
    first = netfilter_sockets(netns_path, pid)
    if not first:
        return False
    time.sleep(0.05)
    return bool(first & netfilter_sockets(netns_path, pid))


def frozen_at(proc: subprocess.Popen[str], ready: Callable[[], bool], limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not ready():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.002)
    proc.send_signal(signal.SIGSTOP)


def one_line_exit_3(code: int, out: str, err: str) -> str:
    assert code == 3, out + err
    assert "Traceback" not in err
    (line,) = err.splitlines()
    return line


def lab_netns(lab, node: str) -> str:
    return lab.runtime.netns(lab.state, node)


def logs_written(lab_dir: Path) -> Callable[[], bool]:
    """The run's log records are in its folder of the run store (before the last checks)."""
    return lambda: any((lab_dir.parent / "twin-runs").glob(f"*-{lab_dir.name}/nflog.jsonl.gz"))


@pytest.mark.parametrize("when", ["probing", "logs-written"])
def test_twin_down_during_twin_test_is_exit_3_one_line(make_policy, lab_up, when) -> None:
    need_root_netns()
    lab = lab_up(make_policy())
    name, fw = lab.state.lab, lab_netns(lab, "fw")
    test = twin("test", "--lab", name, "--timeout", "0.9")
    probing = lambda: nflog_open(fw, test.pid)  # noqa: E731
    ready = probing if when == "probing" else logs_written(lab.state.path)
    frozen_at(test, ready)
    down = twin("down", "--lab", name)
    try:
        assert finish(down)[0] == 0
    finally:
        test.send_signal(signal.SIGCONT)
    line = one_line_exit_3(*finish(test))
    assert line.startswith(f"error: lab {name} ") and "during the run" in line, line
    assert not (home() / name).exists()
    assert not list((home() / "twin-runs").glob(f"*-{name}")), "a run with no verdict was kept"


def test_a_node_killed_during_twin_test_is_exit_3_one_line(make_policy, lab_up) -> None:
    if docker_unavailable() is not None:
        pytest.skip(f"docker: {docker_unavailable()}")
    lab = lab_up(make_policy(), runtime="docker")
    name, fw = lab.state.lab, lab_netns(lab, "fw")
    test = twin("test", "--lab", name, "--timeout", "0.9")
    frozen_at(test, lambda: nflog_open(fw, test.pid))
    try:
        subprocess.run(
            ["docker", "kill", f"clab-{name}-web1"], check=True, capture_output=True, timeout=60
        )
    finally:
        test.send_signal(signal.SIGCONT)
    line = one_line_exit_3(*finish(test))
    assert f"lab {name}" in line and "web1" in line, line


def test_two_tests_of_one_lab_at_once(make_policy, lab_up) -> None:
    need_root_netns()
    lab = lab_up(make_policy())
    name, fw = lab.state.lab, lab_netns(lab, "fw")
    first = twin("test", "--lab", name, "-q")
    frozen_at(first, lambda: nflog_open(fw, first.pid))
    try:
        code, out, err = finish(twin("test", "--lab", name, "-q"))
        rehearsal = finish(twin("rehearse", "--rollback", "--lab", name))
    finally:
        first.send_signal(signal.SIGCONT)
    line = one_line_exit_3(code, out, err)
    assert line == f"error: lab {name} is being tested by pid {first.pid}; wait for it to end"
    assert one_line_exit_3(*rehearsal) == line
    code, out, err = finish(first)
    assert code == 0, out + err
    code, out, err = finish(twin("test", "--lab", name, "-q"))  # the lock went with the run
    assert code == 0, out + err
