"""Every run is kept outside the lab directory (issue 14, point 4): it survives `twin down`, is
listed by `twin runs`, rendered again by `twin report --run ID`, bounded by `--keep N`; its
reports name the policy and ruleset sha256, twin's version, the host and UTC times, and the
HTML report links only to a log file that exists."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from tests.conftest import ROOT, need_root_netns
from twin.lab.directory import home
from twin.lab.runstore import list_runs
from twin.verify.runs import read_records

pytestmark = pytest.mark.integration


def twin(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_runs_outlive_the_lab_and_render_again(make_policy, no_leftovers, tmp_path) -> None:
    need_root_netns()
    policy = make_policy()
    name = policy.stem
    no_leftovers(name)
    assert twin("up", str(policy), "--runtime", "netns", cwd=tmp_path).returncode == 0
    try:
        for _ in range(3):
            res = twin("test", str(policy), "-q", "--keep", "2", cwd=tmp_path)
            assert res.returncode == 0, res.stdout + res.stderr
    finally:
        assert twin("down", "--lab", name, cwd=tmp_path).returncode == 0
    assert not (home() / name).exists()
    kept = list_runs(home(), name)
    assert len(kept) == 2  # --keep 2: the oldest of three went
    folder = kept[-1].path
    assert {p.name for p in folder.iterdir()} == {
        "meta.json", "run.json", "nflog.jsonl.gz", "health.json", "crafted.json", "policy.yml",
        "ruleset.nft",
    }  # fmt: skip
    assert (folder / "policy.yml").read_bytes() == policy.read_bytes()
    records = read_records(folder / "nflog.jsonl.gz")
    assert len(records) > 1000 and records[0].prefix
    assert json.loads((folder / "health.json").read_text())["after"]["ok"]

    listed = twin("runs", "--lab", name, "--json", "-", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == [k.id for k in kept]

    out = tmp_path / "r.json"
    html = tmp_path / "r.html"
    res = twin(
        "report", "--run", folder.name, "--json", str(out), "--html", str(html), cwd=tmp_path
    )
    assert res.returncode == 0, res.stdout + res.stderr
    data = json.loads(out.read_text())
    assert data["run_id"] == folder.name and data["time_zone"] == "UTC"
    assert data["policy_sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()
    assert len(data["ruleset_sha256"]) == 64 and data["twin_version"]
    assert data["host"]["hostname"] == os.uname().nodename and data["host"]["kernel"]
    assert data["started"].endswith("Z") and data["ended"] >= data["started"]
    page = html.read_text()
    assert data["policy_sha256"] in page and data["ruleset_sha256"] in page and " UTC" in page
    links = [part.split('"')[0] for part in page.split('href="')[1:]]
    assert links and all(Path(unquote(urlparse(u).path)).is_file() for u in links)
    assert 'id="health"' in page and 'id="crafted"' in page and "<details" in page
    assert "expect[" not in page
