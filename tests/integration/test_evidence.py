"""Segmentation evidence (issue 14): `twin evidence pci` brings the twin up, sweeps every
out-of-scope zone to the CDE and back, writes a sealed pack and takes the twin down; `twin
evidence verify` names any file altered, removed or added. A port opened into the CDE by a
broken ruleset is caught by the sweep alone, named with the rule that let it through."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ROOT, need_root_netns, netns_list
from tests.integration.test_netns_twin import load_mutated
from twin import pipeline
from twin.lab.directory import home
from twin.lab.runstore import list_runs
from twin.plan.sweep import plan_sweep

pytestmark = pytest.mark.integration
HOLE = '\n\t\toifname "br-finance" tcp dport 61000 counter log group 1 prefix "open-61000" accept'


def twin(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_pci_pack_is_written_sealed_and_checked(make_policy, no_leftovers, tmp_path) -> None:
    need_root_netns()
    policy = make_policy()
    name = policy.stem
    no_leftovers(name)
    res = twin(
        "evidence", "pci", str(policy), "--cde", "finance", "--ports", "60990-61010,22",
        "--runtime", "netns", "-o", "ev", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert "brought up and taken down" in res.stdout
    assert not [n for n in netns_list() if n.startswith(f"clab-{name}-")]
    pack = tmp_path / "ev"
    assert (pack / "policy.yml").read_bytes() == policy.read_bytes()
    data = json.loads((pack / "results.json").read_text())
    assert data["sweep"]["probes"] == 2 * 5 * 2 * 22  # both ways, 5 zones, tcp and udp
    pairs = Counter((r["src_zone"], r["dst_zone"]) for r in data["sweep"]["ranges"])
    assert len(pairs) == 10 and all(z == "finance" or d == "finance" for z, d in pairs)
    assert list_runs(home(), name)[-1].id == data["run_id"]  # kept in the run store too
    ok = twin("evidence", "verify", "ev", cwd=tmp_path)
    assert ok.returncode == 0 and "intact" in ok.stdout, ok.stdout + ok.stderr

    for file in sorted(p.name for p in pack.iterdir() if p.name != "MANIFEST.sha256"):
        copy = tmp_path / "copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(pack, copy)
        raw = bytearray((copy / file).read_bytes())
        raw[-1] ^= 0x20
        (copy / file).write_bytes(bytes(raw))
        bad = twin("evidence", "verify", "copy", cwd=tmp_path)
        assert bad.returncode == 1, (file, bad.stdout, bad.stderr)
        assert bad.stderr.strip() == f"copy/{file}: altered (sha256 differs from MANIFEST.sha256)"
    (pack / "junit.xml").unlink()
    (pack / "notes.txt").write_text("added later")
    bad = twin("evidence", "verify", "ev", cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [
        "ev/junit.xml: removed (listed in MANIFEST.sha256)",
        "ev/notes.txt: added (not in MANIFEST.sha256)",
    ]
    again = twin("evidence", "pci", str(policy), "--cde", "finance", "-o", "ev", cwd=tmp_path)
    assert again.returncode == 2 and "is not empty" in again.stderr


def test_a_port_opened_into_finance_is_caught_by_the_sweep(make_policy, lab_up) -> None:
    """The mutation: tcp/61000 into finance accepted (a broken template would do it); no port
    the policy names is 61000, so the flow matrix passes and only the sweep can see it."""
    lab = lab_up(make_policy())
    load_mutated(lab, lambda text: text.replace(
        "ct state vmap { established : accept, related : accept, invalid : jump ct-invalid }",
        "ct state vmap { established : accept, related : accept, invalid : jump ct-invalid }"
        + HOLE, 1,
    ))  # fmt: skip
    others = [z.name for z in lab.plan.zones if z.name != "finance"]
    targets = [t for t in plan_sweep(lab.plan, "all", others, ["finance"]) if t.proto == "tcp"]
    run = pipeline.test(lab, sweep=targets)
    assert run.exit_code == 1 and not run.failures  # the matrix alone passed
    assert run.sweep_probes == 5 * 65535 and not run.sweep_inconclusive
    caught = run.sweep_failures
    assert sorted(r.src_zone for r in caught) == sorted(others)
    for r in caught:
        assert (r.proto, r.lo, r.hi, r.verdict, r.rule) == (
            "tcp",
            61000,
            61000,
            "allowed",
            "open-61000",
        )
        assert r.predicted_rule == "no-lateral-to-finance"
        assert "firewall logged rule open-61000" in r.reason
    assert "web-never-finance" in next(r for r in caught if r.src_zone == "web").violates
    allowed = sum(r.ports for r in run.sweeps if r.verdict == "allowed")
    assert allowed == 5 + 1  # the hole from each zone, and management's ssh (mgmt-ssh)
