"""Report paths (issue 10, case 7): checked before any probe is sent (exit 2, one line), nothing
created beside what the user named, and no result lost because one report could not be written.

They used to crash after probing (a directory, /dev/full, a missing parent: the results were
lost), or to create the parent silently (`--junit /nonexistent-dir/x.xml` made the directory).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, need_root_netns
from twin.lab.directory import home
from twin.lab.runstore import list_runs

pytestmark = pytest.mark.integration


def twin(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def refused(res: subprocess.CompletedProcess[str], option: str, path: Path) -> str:
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    (line,) = res.stderr.splitlines()
    assert line.startswith(f"error: {option} {path}: "), line
    return line


def test_report_paths_are_checked_first_and_results_are_never_lost(
    make_policy, lab_up, tmp_path
) -> None:
    need_root_netns()
    lab = lab_up(make_policy())
    name = lab.state.lab
    missing = tmp_path / "missing" / "x.xml"
    (tmp_path / "adir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    for option, path in [
        ("--junit", missing),
        ("--json", tmp_path / "adir"),
        ("--json", tmp_path / "fifo"),  # nothing reads it: writing would block forever
    ]:
        refused(twin("test", "--lab", name, option, str(path), cwd=tmp_path), option, path)
        assert not list_runs(home(), name), "a probe was sent before the path was checked"
    assert not missing.parent.exists()

    # /dev/full takes the open and fails the write: the other report and the saved run survive
    junit = tmp_path / "junit.xml"
    res = twin(
        "test", "--lab", name, "-q", "--json", "/dev/full", "--junit", str(junit), cwd=tmp_path
    )
    assert res.returncode == 3, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    (line,) = res.stderr.splitlines()
    assert line.startswith("error: --json /dev/full: No space left on device; the run is saved")
    assert "all match" in res.stdout and junit.read_text().startswith("<?xml")
    assert list_runs(home(), name)

    # written again from the saved run; /dev/stdout is written through, never replaced
    again = tmp_path / "again.json"
    ok = twin("report", "--lab", name, "--json", str(again), cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(again.read_text())["results"]
    out = twin("report", "--lab", name, "--json", "/dev/stdout", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["results"] and Path("/dev/stdout").is_symlink()
    html = tmp_path / "missing" / "r.html"
    refused(twin("report", "--lab", name, "--html", str(html), cwd=tmp_path), "--html", html)
    assert not html.parent.exists()
