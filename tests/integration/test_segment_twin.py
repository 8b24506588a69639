"""`segment: flat` on a real twin: hosts of a flat zone reach each other on the bridge, never
through the firewall; an isolated zone beside it is still enforced, intrazone rules included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.test_docker_twin import bring_down, docker_labs, node_image, up
from twin import pipeline
from twin.verify.verify import Verification

pytestmark = pytest.mark.integration

INTRA_DENY = [
    {"name": "web-intra-deny", "from": "web", "to": "web", "action": "deny", "log": True},
    {"name": "app-intra-deny", "from": "app", "to": "app", "action": "deny", "log": True},
]


def flat_web(data: dict[str, Any]) -> None:
    data["zones"]["web"]["segment"] = "flat"
    data["rules"] = INTRA_DENY + data["rules"]


def check(run: Verification) -> None:
    assert run.ok, [f"{r.src}->{r.dst} {r.proto}/{r.port}: {r.reason}" for r in run.failures[:5]]
    assert not run.inconclusive and not run.warnings
    inside_web = [r for r in run.results if r.src_zone == r.dst_zone == "web"]
    inside_app = [r for r in run.results if r.src_zone == r.dst_zone == "app"]
    assert len(inside_web) >= 20 and len(inside_app) >= 20
    # flat: everything passes although web-intra-deny is first in the rulebase, and the
    # firewall never saw it (no NFLOG record, no counter)
    for r in inside_web:
        assert (r.observed, r.rule, r.predicted_rule) == ("open", "", "flat-segment"), r
    assert "web-intra-deny" not in run.counters
    # isolated: the intrazone deny is enforced, counted and attributed
    for r in inside_app:
        assert (r.observed, r.rule) == ("filtered", "app-intra-deny"), r
    assert run.counters["app-intra-deny"] >= len(inside_app)
    # leaving the flat zone still crosses the firewall
    out = next(r for r in run.results if (r.src, r.dst, r.proto, r.port) == (
        "web1", "app1", "tcp", 8080))  # fmt: skip
    assert (out.observed, out.rule) == ("open", "web-to-app")


def test_a_flat_zone_bypasses_the_firewall_and_an_isolated_one_does_not(
    make_policy: Callable[..., Any], lab_up: Callable[..., Any]
) -> None:
    lab = lab_up(make_policy(flat_web))
    check(pipeline.test(lab))


def test_the_same_on_docker(
    make_policy: Callable[..., Any], docker_labs: Callable[[str], None]
) -> None:
    lab = up(make_policy(flat_web), "docker", docker_labs)
    try:
        check(pipeline.test(lab))
    finally:
        bring_down(lab.state.lab)


__all__ = ["docker_labs", "node_image"]  # fixtures, used by name
