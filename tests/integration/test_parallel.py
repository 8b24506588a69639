"""Parallel labs, as parallel CI jobs run them: same subnets, different names, at the same time,
on netns and on docker — no collision in names, interfaces, tables or results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, need_root_netns, netns_list
from tests.integration.test_docker_twin import DOCKER_TIMEOUT, need_docker
from twin.images.build import build_node_image
from twin.verify.runs import read_records

pytestmark = pytest.mark.integration


def start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "twin", *args], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def run_all(cmds: list[list[str]], cwd: Path) -> list[tuple[int, str]]:
    procs = [start(c, cwd) for c in cmds]
    try:
        return [(p.wait(timeout=300), p.communicate(timeout=60)[1]) for p in procs]
    finally:
        for p in procs:  # one that did not end in time is killed, not left running
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.mark.parametrize("runtime", ["netns", "docker"])
def test_three_labs_with_the_same_subnets_at_once(make_policy, tmp_path, runtime) -> None:
    if runtime == "netns":
        need_root_netns()
    else:
        need_docker()
        build_node_image()  # cached: seconds when the recipe is unchanged
    policies = [make_policy() for _ in range(3)]
    labs = [p.stem for p in policies]
    try:
        ups = run_all([["up", str(p), "--runtime", runtime] for p in policies], tmp_path)
        assert all(rc == 0 for rc, _ in ups), ups
        tests = run_all(
            [["test", "--lab", lab, "--json", f"{lab}.json", "-q"] for lab in labs], tmp_path
        )
        assert all(rc == 0 for rc, _ in tests), tests
        for lab in labs:
            results = json.loads((tmp_path / f"{lab}.json").read_text())["results"]
            assert len(results) == 1452 and all(r["ok"] for r in results)
            # every NFLOG record of this run came from this lab's own firewall
            logs = sorted((tmp_path / "home" / "twin-runs").glob(f"*-{lab}/nflog.jsonl.gz"))
            assert logs and len(read_records(logs[-1])) >= 1306  # the blocked ones
        if runtime == "netns":
            names = netns_list()
            for lab in labs:
                assert len([n for n in names if n.startswith(f"clab-{lab}-")]) == 13
    finally:
        downs = run_all([["down", "--lab", lab] for lab in labs], tmp_path)
    assert all(rc == 0 for rc, _ in downs), downs
    assert not [n for n in netns_list() for lab in labs if n.startswith(f"clab-{lab}-")]
    if runtime == "docker":
        out = subprocess.run(
            ["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
            timeout=DOCKER_TIMEOUT,
        ).stdout  # fmt: skip
        assert not [n for n in out.split() for lab in labs if n.startswith(f"clab-{lab}-")]
