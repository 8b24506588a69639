"""What translating one vendor rule found so far: notes, rewrites, untested parts, ports."""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.policy.model import Action
from twin.policy.resolve import PortRange
from twin.vendors.device import Approx, DevRule


@dataclass
class Ctx:
    """What translating one rule found, before its twin rules are written."""

    rule: DevRule
    notes: list[Approx] = field(default_factory=list)
    rewrites: list[str] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)
    dest_ports: list[PortRange] = field(default_factory=list)  # port-forwarding VIPs' ports

    @property
    def allow(self) -> bool:
        return self.rule.action is Action.allow
