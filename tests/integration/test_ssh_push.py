"""`--config-via ssh` for real: sshd in the firewall's namespace, netmiko from a management
namespace twin creates, the ruleset copied with SCP and loaded with `nft -f`; then real packets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import need_root_netns, netns_list
from twin import pipeline
from twin.cli import app
from twin.vendors.sshpush import push_firewall

pytestmark = pytest.mark.integration


def sshd_pids() -> set[int]:
    out = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() == "sshd":
                    out.add(int(proc.name))
            except OSError:
                continue
    return out


def test_firewall_pushed_over_ssh_enforces_the_policy(make_policy, lab_up) -> None:
    before = sshd_pids()
    lab = lab_up(make_policy())
    fw = lab.plan.firewall
    # no firewall at all until the SSH push lands
    assert lab.runtime.exec(lab.state, fw, ["nft", "delete", "table", "inet", "twin"]).ok
    config = (lab.state.path / "configs" / f"{fw}.nft").read_text()
    pushed = push_firewall(lab.runtime, lab.state, lab.plan, config)
    assert pushed.device_type == "linux"
    assert pushed.commands[0].startswith("scp ") and pushed.commands[1].startswith("nft -f ")
    listed = lab.runtime.exec(lab.state, fw, ["nft", "list", "table", "inet", "twin"])
    assert listed.ok and "web-to-app" in listed.stdout
    run = pipeline.test(lab)
    assert run.ok, [f"{r.src}->{r.dst} {r.proto}/{r.port}: {r.reason}" for r in run.failures[:5]]
    # sealed again: no sshd left, no management namespace, no management link
    assert sshd_pids() <= before
    assert f"clab-{lab.state.lab}-mgmt" not in netns_list()
    links = lab.runtime.exec(lab.state, fw, ["ip", "-o", "link"]).stdout
    assert "twinmgmt" not in links
    state = json.loads((lab.state.path / "state.json").read_text())
    assert state["firewall_loaded_via"] == "ssh"
    assert f"clab-{lab.state.lab}-mgmt" not in state["resources"]["netns"]


def test_up_config_via_ssh_from_the_cli(make_policy, no_leftovers) -> None:
    need_root_netns()
    policy = make_policy()
    lab = policy.stem
    no_leftovers(lab)
    runner = CliRunner()
    try:
        result = runner.invoke(
            app, ["up", str(policy), "--runtime", "netns", "--config-via", "ssh"]
        )
        assert result.exit_code == 0, result.output
        assert "over ssh" in result.output
        result = runner.invoke(app, ["test", "--lab", lab, "--quiet"])
        assert result.exit_code == 0, result.output
    finally:
        runner.invoke(app, ["down", "--lab", lab])
