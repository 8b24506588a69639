"""The command line on a real twin (issue 11): `twin up --lab NAME` (one lab per CI job),
`twin test --json -` (standard output is the JSON report only), `status -q`, and a teardown
that can be repeated (`twin down` of a lab that is no longer up: exit 0 and a note)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT, need_root_netns, netns_list, unique_lab

pytestmark = pytest.mark.integration


def twin(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300, check=False,
    )  # fmt: skip


def test_a_lab_named_on_the_command_line_tested_as_json_and_torn_down_twice(
    make_policy: Callable[..., Path], no_leftovers: Callable[[str], None], tmp_path: Path
) -> None:
    need_root_netns()
    policy = make_policy()
    lab = unique_lab("c")  # not the policy's name: `up --lab`
    no_leftovers(lab)
    try:
        res = twin("up", str(policy), "--lab", lab, "--runtime", "netns", cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith(f"lab {lab} is up on netns") and res.stderr == ""
        assert any(n.startswith(f"clab-{lab}-") for n in netns_list())
        assert twin("status", "-q", cwd=tmp_path).stdout == f"{lab}\n"

        res = twin("test", "--lab", lab, "--json", "-", cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        report = json.loads(res.stdout)  # nothing but the report on standard output
        assert report["exit_code"] == 0 and report["summary"].endswith("all match")
        assert "flows allowed / probed" in res.stderr  # the tables: standard error
        assert not (tmp_path / "-").exists()

        res = twin("test", str(policy), "--lab", lab, "-q", "--junit", "-", cwd=tmp_path)
        assert res.returncode == 0, res.stderr  # FILE's intent, judged on the renamed lab
        assert res.stdout.startswith("<?xml") and 'failures="0"' in res.stdout
        assert res.stderr.endswith("all match\n") and len(res.stderr.splitlines()) == 1
    finally:
        first = twin("down", "--lab", lab, cwd=tmp_path)
    assert first.returncode == 0 and first.stdout == f"lab {lab} is down\n", first.stderr
    again = twin("down", "--lab", lab, cwd=tmp_path)
    assert again.returncode == 0 and again.stdout == ""
    assert again.stderr.startswith(f"note: lab '{lab}' is not up; nothing to remove")
    res = twin("test", "--lab", lab, cwd=tmp_path)
    assert res.returncode == 3 and f"lab '{lab}' is not up" in res.stderr
