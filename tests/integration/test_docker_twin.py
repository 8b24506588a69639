"""The six-zone twin on the Docker engine: real containers, real veths, real packets.

Same verdicts and the same rule attribution as the netns runtime, sealed (`--network none`),
least privilege, containerlab's names and labels, and nothing left behind — also after a
Ctrl-C, a crash or a container killed by hand.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, need_root_netns
from twin import pipeline
from twin.images.build import build_node_image
from twin.lab.registry import find_entry
from twin.runtime.docker import container_name, docker_unavailable

pytestmark = pytest.mark.integration
DOCKER_TIMEOUT = 60  # each docker command of a test: a daemon that hangs fails the test


def need_docker() -> None:
    why = docker_unavailable()
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI runs the docker tests on the real engine, but: {why}")
    pytest.skip(f"docker runtime unavailable: {why}")


@pytest.fixture(scope="module")
def node_image() -> str:
    """The node image, built once (offline here); cached when its recipe is unchanged."""
    need_docker()
    return build_node_image().tag


def containers(lab: str) -> list[str]:
    res = subprocess.run(
        ["docker", "ps", "--all", "--format", "{{.Names}}", "--filter", f"name=clab-{lab}-"],
        capture_output=True, text=True, check=True, timeout=DOCKER_TIMEOUT,
    )  # fmt: skip
    return [n for n in res.stdout.split() if n.startswith(f"clab-{lab}-")]


@pytest.fixture
def docker_labs(node_image: str) -> Iterator[Callable[[str], None]]:
    """`watch(lab)`; afterwards every container of those labs is gone (removed if not)."""
    labs: list[str] = []
    yield labs.append
    left = [c for lab in labs for c in containers(lab)]
    for name in left:  # one at a time (moby/moby#42545), each bounded
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=DOCKER_TIMEOUT)
    assert not left, f"containers left behind: {left}"


def up(policy: Path, runtime: str, watch: Callable[[str], None]) -> pipeline.Lab:
    watch(policy.stem)
    return pipeline.open_lab(pipeline.up(policy, runtime).lab)


def bring_down(lab: str) -> None:
    assert pipeline.down(find_entry(lab)) == []


def root_view() -> tuple[str, str, str]:
    def ip(*args: str) -> str:
        return subprocess.run(["ip", "-o", *args], capture_output=True, text=True).stdout

    return ip("addr"), ip("route"), ip("link")


def verdicts(run: Any) -> dict[tuple[str, str, str, int], tuple[str, str, str]]:
    return {
        (r.src, r.dst, r.proto, r.port): (r.observed, r.rule, r.predicted_rule) for r in run.results
    }


def test_docker_twin_equals_netns_twin_side_by_side(make_policy, docker_labs, no_leftovers):
    """netns and two docker labs at once: identical probes, verdicts, rules and counters."""
    need_root_netns()
    before = root_view()
    ref, one, two = make_policy(), make_policy(), make_policy()
    no_leftovers(ref.stem)
    labs = []
    try:
        labs.append(up(ref, "netns", docker_labs))
        labs.append(up(one, "docker", docker_labs))
        labs.append(up(two, "docker", docker_labs))
        runs = [pipeline.test(lab) for lab in labs]
        for run in runs:
            assert run.ok, [
                f"{r.src}->{r.dst} {r.proto}/{r.port}: {r.reason}" for r in run.failures[:5]
            ]
            assert not run.warnings
        assert len(runs[0].results) >= 1400
        assert verdicts(runs[1]) == verdicts(runs[0])
        assert verdicts(runs[2]) == verdicts(runs[0])
        assert runs[1].counters == runs[0].counters == runs[2].counters
        web_db = verdicts(runs[1])[("web1", "db1", "tcp", 5432)]
        assert web_db[:2] == ("filtered", "interzone-default")
        assert verdicts(runs[1])[("web2", "fin1", "tcp", 443)][:2] == (
            "rejected", "no-lateral-to-finance",
        )  # fmt: skip
        assert verdicts(runs[1])[("web1", "app1", "tcp", 8080)][:2] == ("open", "web-to-app")
        check_containers(labs[1])
        # sealed: nothing of the twins appeared in the machine's own namespace
        assert root_view() == before
    finally:
        for lab in labs:
            bring_down(lab.state.lab)
    assert root_view() == before


def check_containers(lab: pipeline.Lab) -> None:
    """containerlab's names and labels, no network but the twin's veths, few capabilities."""
    name = container_name(lab.state.lab, "web1")
    info = json.loads(
        subprocess.run(
            ["docker", "inspect", name], capture_output=True, text=True, timeout=DOCKER_TIMEOUT
        ).stdout
    )[0]
    labels = info["Config"]["Labels"]
    assert labels["containerlab"] == lab.state.lab
    assert labels["clab-node-name"] == "web1"
    assert labels["clab-node-kind"] == "linux"
    assert labels["clab-topo-file"] == str(lab.state.path / "topology.clab.yml")
    assert labels["twin-role"] == "host" and labels["twin-zone"] == "web"
    host = info["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert not host["Privileged"]
    assert sorted(host["CapAdd"]) == ["CAP_NET_ADMIN", "CAP_NET_RAW"]
    assert host["CapDrop"] == ["ALL"]
    links = lab.runtime.exec(lab.state, "web1", ["ip", "-o", "link"]).stdout
    assert [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()] == [
        "lo", "eth1",
    ]  # fmt: skip
    routes = lab.runtime.exec(lab.state, "fw", ["ip", "route", "show", "default"])
    assert routes.ok and routes.stdout.strip() == ""  # the firewall routes nowhere but the twin


def twin(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip


def test_cli_docker_killed_container_then_down(make_policy, tmp_path, docker_labs):
    policy = make_policy()
    lab = policy.stem
    docker_labs(lab)
    res = twin("up", str(policy), "--runtime", "docker", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "on docker" in res.stdout
    assert len(containers(lab)) == 13
    res = twin("status", cwd=tmp_path)
    assert "13/13 running" in res.stdout
    subprocess.run(
        ["docker", "kill", container_name(lab, "web1")], capture_output=True, check=True,
        timeout=DOCKER_TIMEOUT,
    )  # fmt: skip
    res = twin("test", cwd=tmp_path)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "web1" in res.stderr and "Traceback" not in res.stderr
    res = twin("down", "--lab", lab, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert containers(lab) == []
    assert not (tmp_path / "home" / lab).exists()


def wait_for_container(lab: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not containers(lab):
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "crash"])
def test_interrupted_or_crashed_up_leaves_nothing_after_down(
    make_policy, tmp_path, docker_labs, sig
):
    policy = make_policy()
    lab = policy.stem
    docker_labs(lab)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin", "up", str(policy), "--runtime", "docker"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for_container(lab, proc)
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    if sig == signal.SIGINT and proc.returncode != 0:
        assert proc.returncode == 130  # `up` removed what it had made on its way out
        assert containers(lab) == []
        assert not list((tmp_path / "run").glob("*.json"))
    else:  # crashed (or finished first): the state file names every container made
        assert containers(lab)
        res = twin("down", "--lab", lab, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
    assert containers(lab) == []


def test_down_all_finds_docker_labs_by_label(make_policy, tmp_path, docker_labs):
    policy = make_policy()
    lab = policy.stem
    docker_labs(lab)
    assert twin("up", str(policy), "--runtime", "docker", cwd=tmp_path).returncode == 0
    (tmp_path / "run" / f"{lab}.json").unlink()  # the registry lost the lab
    assert "no lab is up" in twin("status", cwd=tmp_path).stdout
    res = twin("down", "--all", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"lab {lab} is down" in res.stdout
    assert containers(lab) == []


def test_missing_image_is_exit_3_with_how_to_get_it(make_policy, tmp_path, docker_labs):
    policy = make_policy(lambda d: d["firewall"].update(image="twin-test-absent:none"))
    docker_labs(policy.stem)
    res = twin("up", str(policy), "--runtime", "docker", cwd=tmp_path)
    assert res.returncode == 3
    assert "twin-test-absent:none is not present" in res.stderr
    assert res.stderr.strip().count("\n") == 0
    assert containers(policy.stem) == []
    assert not list((tmp_path / "run").glob("*.json"))


def test_image_build_is_cached(node_image, tmp_path):
    started = time.monotonic()
    res = twin("images", "build", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"{node_image} is present" in res.stdout
    assert time.monotonic() - started < 10


def test_containerlab_runtime_without_the_cli_is_exit_3(make_policy, tmp_path, docker_labs):
    import shutil

    if shutil.which("containerlab"):
        pytest.skip("containerlab is installed: test_containerlab.py deploys with it")
    policy = make_policy()
    docker_labs(policy.stem)
    res = twin("up", str(policy), "--runtime", "containerlab", cwd=tmp_path)
    assert res.returncode == 3
    assert "containerlab CLI is not installed" in res.stderr
    assert not (tmp_path / "run").exists() or not list((tmp_path / "run").glob("*.json"))


def test_auto_runtime_is_docker_when_a_daemon_answers(node_image) -> None:
    from twin.runtime.registry import get_runtime

    assert get_runtime("auto").name == "docker"


def test_offline_build_path_debootstrap_then_import(node_image) -> None:
    """The path CI takes where no registry answers, on a small test-only recipe (removed)."""
    from twin.images.build import build_offline, debian_mirror, image_exists
    from twin.images.recipe import Recipe

    recipe = Recipe("bookworm", ("iproute2",), f"test{os.getpid():08d}".ljust(64, "0"))
    assert not image_exists(recipe.tag)
    try:
        build_offline(recipe, debian_mirror())
        res = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", recipe.tag, "ip", "-V"],
            capture_output=True, text=True, timeout=DOCKER_TIMEOUT,
        )  # fmt: skip
        assert res.returncode == 0 and "iproute2" in res.stdout, res.stderr
        label = subprocess.run(
            ["docker", "image", "inspect", "--format",
             '{{index .Config.Labels "twin-recipe"}}', recipe.tag],
            capture_output=True, text=True, timeout=DOCKER_TIMEOUT,
        ).stdout.strip()  # fmt: skip
        assert label == recipe.digest
    finally:
        subprocess.run(
            ["docker", "rmi", "-f", recipe.tag], capture_output=True, timeout=DOCKER_TIMEOUT
        )
    assert not image_exists(recipe.tag)
