"""The data tables (`data/*.yml`): application standard ports and vendors' predefined services."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from twin.policy.resolve import PortRange, parse_service_literal

DATA = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class Application:
    name: str
    ranges: tuple[PortRange, ...]
    exact: bool


def _literals(items: list[str]) -> tuple[PortRange, ...]:
    out: list[PortRange] = []
    for item in items:
        parsed = parse_service_literal(item)
        if parsed is None:
            raise ValueError(f"{item!r} in the data tables is not a service literal")
        out.extend(parsed)
    return tuple(out)


@functools.cache
def applications() -> dict[str, Application]:
    raw = yaml.safe_load((DATA / "applications.yml").read_text())
    return {
        name: Application(name, _literals(spec["ports"]), bool(spec.get("exact", False)))
        for name, spec in raw.items()
    }


@functools.cache
def predefined_services(vendor: str) -> dict[str, tuple[PortRange, ...] | None]:
    """name → ranges (None = any protocol) for one vendor."""
    raw = yaml.safe_load((DATA / "services.yml").read_text()).get(vendor, {})
    return {name: None if "any" in items else _literals(items) for name, items in raw.items()}
