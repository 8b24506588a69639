"""Teardown touches only what provably belongs to the lab (issue 10, cases 1-3).

State and registry files say where to look, never what to delete: a lying state file naming
another lab's namespace, responder or container, or another runtime, a registry entry naming a
directory twin did not make, a lab directory that is a symbolic link — each must leave the other
lab, the directory and the link's target alone, and `twin down --lab X` must still end with X
gone, so that `twin up` works again (no "remove it with twin down" / "not up" dead end).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, need_root_netns, netns_list, unique_lab
from twin import pipeline
from twin.deploy.responders import find_responders, stop_process
from twin.images.build import image_exists
from twin.lab.directory import LabDir, home, run_dir
from twin.runtime.docker import docker_unavailable

pytestmark = pytest.mark.integration


def small_policy(folder: Path, lab: str) -> Path:
    path = folder / f"{lab}.yml"
    path.write_text(
        f"name: {lab}\n"
        "zones:\n"
        "  web: {subnet: 10.202.1.0/24, hosts: [web1]}\n"
        "  app: {subnet: 10.202.2.0/24, hosts: [app1]}\n"
        "rules:\n"
        "  - {name: web-to-app, from: web, to: app, services: [tcp/8080], action: allow}\n"
    )
    return path


def namespaces(lab: str) -> list[str]:
    return sorted(n for n in netns_list() if n.startswith(f"clab-{lab}-"))


def twin(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # TWIN_HOME, TWIN_RUN_DIR: this test's
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], env=env, capture_output=True, text=True, timeout=120
    )


def ok(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    return res.stdout


@pytest.fixture
def labs(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """`labs(name=None)` brings a small netns lab up; afterwards whatever a failing test left of
    every lab it made is removed by name."""
    made: list[str] = []

    def up(name: str | None = None) -> str:
        need_root_netns()
        lab = name or unique_lab("d")
        made.append(lab)
        assert pipeline.up(small_policy(tmp_path, lab), "netns").status == "up"
        assert len(namespaces(lab)) == 3
        return lab

    yield up
    for lab in made:
        for pid in find_responders(home() / lab):
            stop_process(pid)
        for ns in namespaces(lab):
            subprocess.run(["ip", "netns", "del", ns], check=False)
        (run_dir() / f"{lab}.json").unlink(missing_ok=True)


def edit_state(lab: str, change: Callable[[dict[str, object]], None]) -> None:
    path = home() / lab / LabDir.STATE
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def gone(lab: str) -> None:
    assert namespaces(lab) == []
    assert not (home() / lab).exists()
    assert not (run_dir() / f"{lab}.json").exists()
    assert find_responders(home() / lab) == []


def test_a_state_naming_another_labs_namespace_and_responder_spares_them(labs) -> None:
    mine, other = labs(), labs()
    theirs = namespaces(other)
    (their_pid,) = find_responders(home() / other)

    def lie(data: dict[str, object]) -> None:
        resources = data["resources"]
        assert isinstance(resources, dict)
        resources["netns"].append(f"clab-{other}-web1")
        resources["pid"].append(str(their_pid))
        data["responder_pid"] = their_pid

    edit_state(mine, lie)
    assert f"lab {mine} is down" in ok(twin("down", "--lab", mine))
    gone(mine)
    assert namespaces(other) == theirs
    assert find_responders(home() / other) == [their_pid]
    ok(twin("test", "--lab", other, "-q"))


def test_a_state_naming_the_wrong_runtime_still_removes_the_namespaces(labs, tmp_path) -> None:
    """`"runtime": "docker"` for a netns lab: the namespaces must go all the same, and `up`
    must work again afterwards (it used to say 'remove it with twin down', and down 'not up')."""
    mine = labs()
    edit_state(mine, lambda d: d.update(runtime="docker", resources={"container": []}))
    ok(twin("down", "--lab", mine))
    gone(mine)
    ok(twin("up", str(small_policy(tmp_path, mine)), "--runtime", "netns"))
    ok(twin("down", "--lab", mine))
    gone(mine)


@pytest.fixture
def foreign_container() -> Iterator[str]:
    """A container of another lab (other registry): twin must never remove it."""
    if docker_unavailable() is not None:
        pytest.skip(f"docker: {docker_unavailable()}")
    image = next((i for i in _node_images() if image_exists(i)), None)
    if image is None:
        pytest.skip("no twin-node image (make setup builds it)")
    lab = unique_lab("f")
    name = f"clab-{lab}-web1"
    try:
        subprocess.run(
            ["docker", "run", "--detach", "--name", name, "--network", "none",
             "--label", f"containerlab={lab}", "--label", "twin-registry=/elsewhere",
             image, "sleep", "600"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        yield name
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True, timeout=120)


def _node_images() -> list[str]:
    out = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "twin-node"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return out.stdout.split()


def running(container: str) -> bool:
    res = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Running}}", container],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return res.stdout.strip() == "true"


def test_a_state_naming_another_labs_container_spares_it(labs, foreign_container) -> None:
    mine = labs()
    edit_state(
        mine, lambda d: d.update(runtime="docker", resources={"container": [foreign_container]})
    )
    ok(twin("down", "--lab", mine))
    gone(mine)
    assert running(foreign_container)


def test_a_lost_registry_entry_is_no_dead_end(labs, tmp_path) -> None:
    mine = labs()
    (run_dir() / f"{mine}.json").unlink()
    up = twin("up", str(small_policy(tmp_path, mine)), "--runtime", "netns")
    assert up.returncode != 0 and f"twin down --lab {mine}" in up.stderr
    ok(twin("down", "--lab", mine))
    gone(mine)
    ok(twin("up", str(small_policy(tmp_path, mine)), "--runtime", "netns"))
    ok(twin("down", "--lab", mine))
    gone(mine)


def test_a_lab_named_like_the_start_of_another_is_removed_alone(labs) -> None:
    """adv1 and adv10: when adv1's files are lost, its nodes are found by the prefix clab-adv1-,
    which must not catch clab-adv10-…"""
    base = unique_lab("p")[:17]
    short, long_ = labs(f"{base}1"), labs(f"{base}10")
    theirs = namespaces(long_)
    (home() / short / LabDir.STATE).unlink()
    (run_dir() / f"{short}.json").unlink()
    ok(twin("down", "--lab", short))
    gone(short)
    assert namespaces(long_) == theirs
    ok(twin("test", "--lab", long_, "-q"))


def test_a_registry_entry_naming_a_foreign_directory_does_not_delete_it(labs, tmp_path) -> None:
    mine = labs()
    elsewhere = tmp_path / "elsewhere" / mine
    (elsewhere / "configs").mkdir(parents=True)
    (elsewhere / "keep.txt").write_text("mine, not twin's")
    entry = run_dir() / f"{mine}.json"
    entry.write_text(json.dumps({**json.loads(entry.read_text()), "dir": str(elsewhere)}))
    ok(twin("down", "--lab", mine))
    assert namespaces(mine) == [] and not entry.exists()
    assert (elsewhere / "keep.txt").read_text() == "mine, not twin's"
    assert (elsewhere / "configs").is_dir()
    shutil.rmtree(home() / mine, ignore_errors=True)  # the real one, never named: left behind


def test_up_refuses_a_symlinked_lab_directory_and_writes_nothing_through_it(
    tmp_path, no_leftovers
) -> None:
    need_root_netns()
    lab = unique_lab("l")
    no_leftovers(lab)
    target = tmp_path / "target"
    (target / "configs").mkdir(parents=True)
    (target / "configs" / "keep").write_text("keep")
    home().mkdir(parents=True, exist_ok=True)
    (home() / lab).symlink_to(target)
    res = twin("up", str(small_policy(tmp_path, lab)), "--runtime", "netns")
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    (line,) = res.stderr.splitlines()
    assert "symbolic link" in line and str(home() / lab) in line
    assert sorted(p.name for p in target.rglob("*")) == ["configs", "keep"]
    assert not (run_dir() / f"{lab}.json").exists() and namespaces(lab) == []


def test_down_removes_a_symlinked_lab_directory_link_not_target(labs, tmp_path) -> None:
    mine = labs()
    moved = tmp_path / "moved"
    shutil.move(home() / mine, moved)
    (home() / mine).symlink_to(moved)
    ok(twin("down", "--lab", mine))
    assert namespaces(mine) == [] and not (run_dir() / f"{mine}.json").exists()
    assert not (home() / mine).is_symlink() and not (home() / mine).exists()
    assert (moved / LabDir.STATE).exists() and (moved / "configs").is_dir()
    assert find_responders(home() / mine) == []


def test_up_never_writes_through_a_symlink_inside_the_lab_directory(labs, tmp_path) -> None:
    """A lab directory left behind holds links (configs → elsewhere, a planted .tmp): `up` writes
    twin's files into the lab directory itself."""
    lab = unique_lab("i")
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep").write_text("keep")
    lab_dir = home() / lab
    lab_dir.mkdir(parents=True)
    (lab_dir / "configs").symlink_to(target)
    (lab_dir / "state.json.tmp").symlink_to(target / "keep")
    labs(lab)
    assert sorted(p.name for p in target.iterdir()) == ["keep"]
    assert (target / "keep").read_text() == "keep"
    assert (lab_dir / "configs").is_dir() and not (lab_dir / "configs").is_symlink()
    ok(twin("down", "--lab", lab))
    gone(lab)


@pytest.mark.parametrize(
    ("env", "code", "says"),
    [
        pytest.param({"TWIN_HOME": "{tmp}/file"}, 2, "is not a directory", id="home-is-a-file"),
        pytest.param({"TWIN_HOME": "{tmp}/no/such"}, 2, "does not exist", id="home-parent-missing"),
        pytest.param({"TWIN_HOME": "/proc/twin"}, 3, "twin home /proc/twin", id="home-unwritable"),
        pytest.param({"TWIN_RUN_DIR": "/proc/twin"}, 3, "twin registry", id="registry-unwritable"),
    ],
)  # fmt: skip
def test_an_unusable_twin_home_or_registry_is_one_line(tmp_path, env, code, says) -> None:
    need_root_netns()
    lab = unique_lab("h")
    (tmp_path / "file").write_text("not a directory")
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    environ |= {k: v.format(tmp=tmp_path) for k, v in env.items()}
    policy = str(small_policy(tmp_path, lab))
    res = subprocess.run(
        [sys.executable, "-m", "twin", "up", policy, "--runtime", "netns"],
        env=environ, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == code, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    (line,) = res.stderr.splitlines()
    assert says in line
    assert namespaces(lab) == [] and not (tmp_path / "no").exists()
