"""Shared by the vendor tests: import a test config, decide a flow by address."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from twin.plan.plan import Plan
from twin.policy.model import Action
from twin.vendors.registry import parse
from twin.vendors.translate.build import Imported, build_policy

DATA = Path(__file__).resolve().parents[2] / "data" / "vendors"


def imported(vendor: str, name: str, **kw: object) -> Imported:
    path = DATA / name
    vsys = kw.pop("vsys", None) or kw.pop("vdom", None)
    dev = parse(vendor, path.read_text(), str(path), vsys)  # type: ignore[arg-type]
    return build_policy(dev, "imp", **kw)  # type: ignore[arg-type]


def decide(  # noqa: PLR0917 - a flow between two zones is seven values
    plan: Plan, src_zone: str, dst_zone: str, src: str, dst: str, proto: str, port: int
) -> tuple[Action, str]:
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    for rule in plan.rules:
        if rule.applies(src_zone, dst_zone) and rule.matches(s, d, proto, port):
            return rule.action, rule.name
    raise AssertionError("the defaults match every flow")
