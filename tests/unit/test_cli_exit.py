"""Exit codes as documented (issue 11): "lab not up" is the machine's state (3), not bad input;
`twin down` of a lab that is not up succeeds with a note (teardown can be repeated); a mistyped
lab gets "did you mean"; without root, twin says "needs root" once (not a permission error per
lab). No lab is deployed: the labs here are registry entries and state files only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REFERENCE, ROOT
from twin.lab.state import LabState


def twin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], capture_output=True, text=True, cwd=ROOT,
        check=False, env={**os.environ, **(env or {})},
    )  # fmt: skip


def register(home: Path, run: Path, lab: str) -> None:
    """A lab as `twin status` sees it: a registry entry and a state file (no node exists)."""
    lab_dir = home / lab
    lab_dir.mkdir(parents=True)
    LabState(lab, "netns", str(lab_dir), str(REFERENCE), status="up").save()
    run.mkdir(exist_ok=True)
    entry = {"lab": lab, "dir": str(lab_dir), "runtime": "netns", "pid": 1}
    (run / f"{lab}.json").write_text(json.dumps(entry))


def test_no_lab_up_is_exit_3_and_down_of_it_is_exit_0() -> None:
    for args in (("test",), ("test", "--lab", "nope"), ("status", "--lab", "nope"),
                 ("rehearse", "--rollback")):  # fmt: skip
        res = twin(*args)
        assert res.returncode == 3, (args, res.stderr)
        assert res.stderr.startswith(("error: no lab is up", "error: lab 'nope' is not up"))
        assert len(res.stderr.splitlines()) == 1
    for args in (("down",), ("down", "--lab", "nope"), ("down", str(REFERENCE))):
        res = twin(*args)
        assert res.returncode == 0, (args, res.stderr)
        assert res.stderr.startswith("note: ") and "nothing to remove" in res.stderr


def test_a_mistyped_lab_gets_did_you_mean(twin_env: Path) -> None:
    register(twin_env / "home", twin_env / "run", "alpha1")
    res = twin("test", "--lab", "alpah1")
    assert res.returncode == 3
    assert res.stderr == (
        "error: lab 'alpah1' is not up (did you mean 'alpha1'? labs up: alpha1)\n"
    )
    res = twin("down", "--lab", "alpah1")  # nothing of alpah1 anywhere: alpha1 is left alone
    assert res.returncode == 0 and "did you mean 'alpha1'?" in res.stderr
    assert (twin_env / "run" / "alpha1.json").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [(("blast", str(REFERENCE), "--from", "web11"), "did you mean 'web1'?"),
     (("graph", str(REFERENCE), "-o", "-", "--from", "financ"), "did you mean 'finance'?"),
     (("evidence", "pci", str(REFERENCE), "--cde", "finanse"), "did you mean 'finance'?")],
    ids=["blast", "graph", "evidence"],
)  # fmt: skip
def test_a_mistyped_zone_or_host_on_the_command_line_gets_did_you_mean(
    args: tuple[str, ...], says: str, tmp_path: Path
) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "twin", *args], capture_output=True, text=True, cwd=tmp_path,
        check=False,
    )  # fmt: skip
    assert res.returncode == 2 and says in res.stderr and res.stdout == "", res.stderr
    assert len(res.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # no evidence folder, nothing written


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory user nobody can read (pytest's own tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="twin-nobody-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def as_nobody(
    args: list[str], env: dict[str, str], scratch: Path
) -> subprocess.CompletedProcess[str]:
    """`python -m twin ARGS` as user nobody. The interpreter may live where nobody cannot read
    (pyenv under /root): it is bind-mounted, in a mount namespace of the test's own, on a
    folder nobody can read."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"):
        pytest.skip("needs root, unshare and setpriv to run twin as nobody")
    prefix = Path(sys.base_prefix).resolve()
    exe = Path(sys.executable).resolve().relative_to(prefix)
    site = Path(sysconfig.get_paths()["purelib"]).resolve().relative_to(prefix)
    mnt = scratch / "python"
    mnt.mkdir(exist_ok=True)  # a mount point only: the mount ends with the command
    script = (
        'mount --make-rprivate / && mount --bind "$1" "$2" && shift 2 && '
        'exec setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"'
    )
    env = {**os.environ, **env, "HOME": str(scratch),
           "PYTHONPATH": f"{ROOT}:{mnt / site}"}  # fmt: skip
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(prefix), str(mnt),
         str(mnt / exe), "-m", "twin", *args],
        capture_output=True, text=True, cwd=scratch, env=env, check=False, timeout=120,
    )  # fmt: skip


def test_without_root_twin_says_needs_root_once(shared_dir: Path) -> None:
    home, run = shared_dir / "home", shared_dir / "run"
    for lab in ("alpha1", "beta1"):
        register(home, run, lab)
    env = {"TWIN_HOME": str(home), "TWIN_RUN_DIR": str(run)}
    res = as_nobody(["status"], env, shared_dir)
    assert res.returncode == 0, res.stderr
    rows = [line for line in res.stdout.splitlines() if "alpha1" in line or "beta1" in line]
    assert len(rows) == 2 and all("│ up " in r and "│ ?" in r for r in rows), res.stdout
    assert "broken" not in res.stdout
    assert res.stderr == (
        "note: the nodes are not shown: twin status needs root (it looks into network "
        "namespaces and containers)\n"
    )
    assert as_nobody(["status", "-q"], env, shared_dir).stdout == "alpha1\nbeta1\n"
    res = as_nobody(["down", "--lab", "alpha1"], env, shared_dir)
    assert res.returncode == 3 and "twin down needs root" in res.stderr
    assert len(res.stderr.splitlines()) == 1 and (run / "alpha1.json").exists()
    res = as_nobody(["up", str(REFERENCE)], env, shared_dir)
    assert res.returncode == 3 and res.stderr.startswith("error: needs root: ")
    assert "permission denied" not in res.stderr.lower()
