"""A real netns lab whose own files get damaged: `twin test` says what is wrong (exit 3, no
traceback) and `twin down --all` still removes everything — namespaces, responders, the lab
directory and the registry entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, need_root_netns, netns_list, unique_lab
from twin import pipeline
from twin.deploy.responders import find_responders, stop_process
from twin.lab.directory import LabDir, home, run_dir

pytestmark = pytest.mark.integration


def small_policy(tmp_path: Path, lab: str) -> Path:
    path = tmp_path / f"{lab}.yml"
    path.write_text(
        f"name: {lab}\n"
        "zones:\n"
        "  web: {subnet: 10.201.1.0/24, hosts: [web1]}\n"
        "  app: {subnet: 10.201.2.0/24, hosts: [app1]}\n"
        "rules:\n"
        "  - {name: web-to-app, from: web, to: app, services: [tcp/8080], action: allow}\n"
    )
    return path


def left_of(lab: str, lab_dir: Path) -> dict[str, object]:
    return {
        "netns": sorted(n for n in netns_list() if n.startswith(f"clab-{lab}-")),
        "responders": find_responders(lab_dir),
        "lab dir": lab_dir.exists(),
        "registry": (run_dir() / f"{lab}.json").exists(),
    }


NOTHING = {"netns": [], "responders": [], "lab dir": False, "registry": False}


@pytest.fixture
def damaged_lab(tmp_path: Path) -> Iterator[Callable[[], tuple[str, Path]]]:
    """Brings a small lab up; afterwards removes by name whatever a failing test left."""
    made: list[tuple[str, Path]] = []

    def up() -> tuple[str, Path]:
        need_root_netns()
        lab = unique_lab("s")
        made.append((lab, home() / lab))
        state = pipeline.up(small_policy(tmp_path, lab), "netns")
        assert state.status == "up"
        return lab, state.path

    yield up
    for lab, lab_dir in made:
        for pid in find_responders(lab_dir):
            stop_process(pid)
        for ns in (n for n in netns_list() if n.startswith(f"clab-{lab}-")):
            subprocess.run(["ip", "netns", "del", ns], check=False)
        (run_dir() / f"{lab}.json").unlink(missing_ok=True)


def twin(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # TWIN_HOME, TWIN_RUN_DIR: this test's
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:40]), id="truncated"),
        pytest.param(lambda p: p.write_bytes(b"\x00\xffgarbage\n"), id="garbage"),
        pytest.param(lambda p: p.unlink(), id="deleted"),
    ],
)
def test_damaged_state_file_down_all_still_cleans_up(
    damaged_lab: Callable[[], tuple[str, Path]], damage: Callable[[Path], object]
) -> None:
    lab, lab_dir = damaged_lab()
    assert left_of(lab, lab_dir)["netns"] and left_of(lab, lab_dir)["responders"]
    damage(lab_dir / LabDir.STATE)

    test = twin("test", "--lab", lab)
    assert test.returncode in (2, 3), test.stdout + test.stderr
    assert "Traceback" not in test.stderr
    (line,) = test.stderr.splitlines()
    assert line.startswith(f"error: {lab_dir / LabDir.STATE}: ")

    down = twin("down", "--all")
    assert (down.returncode, down.stderr) == (0, ""), down.stdout + down.stderr
    assert f"lab {lab} is down" in down.stdout
    assert left_of(lab, lab_dir) == NOTHING


def test_a_state_file_pointing_elsewhere_is_not_followed(
    damaged_lab: Callable[[], tuple[str, Path]],
) -> None:
    """A well-formed state file naming another directory: `down` deletes the state's `dir`, so
    following it would delete whatever that is. The decoy must survive; the lab must go."""
    lab, lab_dir = damaged_lab()
    decoy = lab_dir.parent / "decoy"
    (decoy / "keep").mkdir(parents=True)
    state = json.loads((lab_dir / LabDir.STATE).read_text())
    (lab_dir / LabDir.STATE).write_text(json.dumps({**state, "dir": str(decoy)}))

    down = twin("down", "--all")
    assert (down.returncode, down.stderr) == (0, ""), down.stdout + down.stderr
    assert (decoy / "keep").is_dir()
    assert left_of(lab, lab_dir) == NOTHING


def test_damaged_registry_entry_down_all_still_cleans_up(
    damaged_lab: Callable[[], tuple[str, Path]],
) -> None:
    lab, lab_dir = damaged_lab()
    (run_dir() / f"{lab}.json").write_text("{not json")

    down = twin("down", "--all")
    assert (down.returncode, down.stderr) == (0, ""), down.stdout + down.stderr
    assert left_of(lab, lab_dir) == NOTHING


def test_damaged_registry_entry_and_state_down_all_still_cleans_up(
    damaged_lab: Callable[[], tuple[str, Path]],
) -> None:
    lab, lab_dir = damaged_lab()
    (run_dir() / f"{lab}.json").write_text("{not json")
    (lab_dir / LabDir.STATE).write_text("{not json either")

    down = twin("down", "--all")
    assert "Traceback" not in down.stderr
    assert left_of(lab, lab_dir) == NOTHING
