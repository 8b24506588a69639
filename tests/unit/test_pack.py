"""The evidence pack is sealed: `sha256sum -c` accepts its manifest, and the check names every
file altered (one byte), removed or added — a link too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REFERENCE
from twin.lab.runstore import RunFiles, new_run
from twin.plan.build import build_plan
from twin.policy.load import load_policy
from twin.report.pack import MANIFEST, Scope, check_pack, write_pack
from twin.verify.evidence import log_evidence
from twin.verify.runs import SavedRun
from twin.verify.verify import Verification


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    plan = build_plan(load_policy(REFERENCE))
    run = Verification("zt6", [], 0.1, started=1e9, ended=1e9 + 30, run_id="x")
    run.source = {"policy_file": str(REFERENCE), "policy_sha256": "ab" * 32}
    run.host = {"hostname": "h", "kernel": "Linux 6", "twin": "0.1.0"}
    files: RunFiles = new_run(tmp_path, "zt6", 1e9)
    for path in (files.nflog, files.health, files.crafted, files.policy, files.ruleset(".nft")):
        path.write_bytes(b"{}\n")
    saved = SavedRun("zt6", 1e9, "test", plan, run, log_evidence(plan, run), folder=files.path)
    out = tmp_path / "pack"
    out.mkdir()
    scope = Scope("profile", ("finance",), ("web",), "tcp/1-65535", 1e9, 1e9 + 60)
    write_pack(saved, out, scope)
    return out


def test_the_manifest_is_sha256sum_format_and_covers_every_file(pack: Path) -> None:
    names = {line.split("  ", 1)[1] for line in (pack / MANIFEST).read_text().splitlines()}
    assert names == {p.name for p in pack.iterdir()} - {MANIFEST}
    assert {"report.html", "results.json", "junit.xml", "README.txt", "nflog.jsonl.gz"} <= names
    if shutil.which("sha256sum"):
        res = subprocess.run(["sha256sum", "--quiet", "-c", MANIFEST], cwd=pack, check=False)
        assert res.returncode == 0
    assert check_pack(pack) == []
    readme = (pack / "README.txt").read_text()
    assert "2001-09-09T01:46:40Z" in readme and "not about the device" in readme


def test_every_alteration_is_named(pack: Path, tmp_path: Path) -> None:
    for name in sorted(p.name for p in pack.iterdir()):
        if name == MANIFEST:
            continue
        copy = tmp_path / f"c-{name}"
        shutil.copytree(pack, copy)
        data = bytearray((copy / name).read_bytes())
        data[len(data) // 2] ^= 1  # one byte
        (copy / name).write_bytes(bytes(data))
        assert check_pack(copy) == [f"{name}: altered (sha256 differs from {MANIFEST})"]
    (pack / "junit.xml").unlink()
    (pack / "extra.txt").write_text("x")
    (pack / "link").symlink_to("/etc/hostname")
    assert check_pack(pack) == [
        f"junit.xml: removed (listed in {MANIFEST})",
        f"extra.txt: added (not in {MANIFEST})",
        f"link: added (not in {MANIFEST})",
    ]
    (pack / MANIFEST).unlink()
    assert check_pack(pack)[0].startswith(f"{MANIFEST}: missing")
