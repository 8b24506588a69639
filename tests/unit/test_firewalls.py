"""The table of firewall kinds: every kind the policy file accepts has one adapter, and each
adapter declares what it is and can do; the rest of twin reads those declarations."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REFERENCE
from twin.firewalls.base import Firewall
from twin.firewalls.table import FIREWALLS, firewall_named, firewall_of
from twin.lab.directory import LabDir
from twin.plan.build import build_plan
from twin.policy.load import load_policy
from twin.policy.model import FirewallKind
from twin.render.topology import render_lab

DECLARED = ("kind", "suffix", "template", "netmiko_type")


def test_every_kind_has_one_adapter_declaring_everything() -> None:
    assert set(FIREWALLS) == set(FirewallKind)
    for kind, fw in FIREWALLS.items():
        assert isinstance(fw, Firewall)
        assert fw.kind is kind and firewall_of(kind.value) is fw and firewall_named(fw.name) is fw
        for constant in DECLARED:
            assert getattr(type(fw), constant, None), f"{type(fw).__name__} lacks {constant}"
        templates = Path(__file__).resolve().parents[2] / "templates"
        assert (templates / fw.template).is_file()
    assert firewall_named("panos") is None


def test_the_rendered_lab_follows_the_adapter() -> None:
    policy = load_policy(REFERENCE)
    for kind, fw in FIREWALLS.items():
        changed = policy.model_copy(
            update={"firewall": policy.firewall.model_copy(update={"kind": kind})}
        )
        plan = build_plan(changed)
        files = render_lab(plan)
        assert LabDir.config_name(plan.firewall, fw.suffix) in files
        topology = files[LabDir.TOPOLOGY]
        assert f"twin-firewall: {fw.name}" in topology
        assert ("cmd: /sbin/init" in topology) is fw.own_init
        assert all(z.bridge == fw.bridge(z.name, i) for i, z in enumerate(plan.zones, start=1))
