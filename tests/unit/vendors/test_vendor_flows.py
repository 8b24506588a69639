"""Hand-checked flows of real configurations hold in the imported policy, statically: each
flow's first-match verdict is the one the device gives, and the derived intent holds too."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vendor_flows import flow_files, imported_with_flows, load_flows
from twin.plan.build import build_plan
from twin.plan.flows import plan_flows, static_violations

FILES = flow_files()


def test_five_real_configs_per_vendor_with_five_flows_each() -> None:
    per_vendor: dict[str, int] = {}
    for path in FILES:
        spec, flows = load_flows(path)
        assert len(flows) >= 5, path.name
        vendor = spec["file"].split("/")[0]
        per_vendor[vendor] = per_vendor.get(vendor, 0) + 1
    assert all(per_vendor.get(v, 0) >= 5 for v in ("panos", "fortigate", "asa")), per_vendor


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_hand_checked_flows_hold_statically(path: Path) -> None:
    policy, flows = imported_with_flows(path, "flows")
    plan = build_plan(policy)
    hosts = {e.name: (e.from_, e.to) for e in policy.expect}
    for i, f in enumerate(flows):
        src, dst = hosts[f"hand.{i}"]
        proto, _, port = f.service.partition("/")
        rule = plan.decide(src, dst, proto, int(port or 0))
        got = "allow" if rule.action.value == "allow" else "block"
        assert got == f.verdict, (
            f"{f.src} -> {f.dst} {f.service}: twin {got} by {rule.name}, "
            f"device {f.verdict} ({f.why})"
        )
    assert static_violations(plan_flows(plan)) == {}
