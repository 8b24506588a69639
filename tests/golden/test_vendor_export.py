"""Every exporter, golden files: one per (policy, target) (`--update-golden` rewrites)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DUALSTACK, REFERENCE, assert_golden
from twin.policy.load import load_policy
from twin.vendors.registry import export_policy

HERE = Path(__file__).resolve().parent / "vendors"
MIXED = Path(__file__).resolve().parent.parent / "data" / "vendors" / "mixed-policy.yml"
TARGETS = {
    "panos": "set",
    "panos-xml": "xml",
    "fortigate": "conf",
    "vyos": "vyos",
    "nftables": "nft",
}
POLICIES = {"reference": REFERENCE, "mixed": MIXED, "dualstack": DUALSTACK}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("policy", POLICIES)
def test_export_golden(policy: str, target: str, update_golden: bool) -> None:
    text = export_policy(target, load_policy(POLICIES[policy]), f"{policy}.yml")
    assert_golden(HERE / f"{policy}.{TARGETS[target]}", text, update_golden)
