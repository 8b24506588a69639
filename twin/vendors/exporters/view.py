"""The vendor-neutral picture of a twin policy that every exporter prints.

Numbered interfaces, one address object per network, one service object per tcp/udp port range,
groups for twin's named objects, and rules that reference them. ICMP is a flag on the rule,
since vendors spell it differently (PAN-OS: an application; FortiGate: a service; VyOS: a
protocol).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.errors import UsageError
from twin.policy.model import ANY, Action, Policy
from twin.policy.resolve import IPv4Net, PortRange, host_addresses, parse_service_literal
from twin.policy.resolve import gateway as zone_gateway


@dataclass(frozen=True)
class XZone:
    name: str
    index: int  # 1-based: ethernet1/N, portN, ethN
    subnet: IPv4Net
    gateway: str


@dataclass
class XRule:
    name: str
    from_: list[str]
    to: list[str]
    source: list[str] | None  # object names; None = any
    destination: list[str] | None
    services: list[str] | None  # tcp/udp service objects and groups; None = any protocol
    icmp: bool  # the rule also matches ICMP (when services is not None)
    action: Action
    log: bool
    disabled: bool
    description: str


@dataclass
class View:
    lab: str
    zones: list[XZone]
    intrazone: Action
    interzone: Action
    addresses: dict[str, IPv4Net] = field(default_factory=dict)
    address_groups: dict[str, list[str]] = field(default_factory=dict)
    services: dict[str, PortRange] = field(default_factory=dict)
    service_groups: dict[str, list[str]] = field(default_factory=dict)
    rules: list[XRule] = field(default_factory=list)


def view(policy: Policy) -> View:
    v6 = [name for name, z in policy.zones.items() if z.subnet6 is not None or z.subnet is None]
    if v6:
        raise UsageError(
            f"policy {policy.name} has IPv6 (zone {v6[0]}): export writes IPv4 objects only so far"
        )
    zones = [
        XZone(name, i, z.subnet, str(zone_gateway(policy, name)))
        for i, (name, z) in enumerate(policy.zones.items(), start=1)
        if z.subnet is not None
    ]
    v = View(policy.name, zones, policy.defaults.intrazone, policy.defaults.interzone)
    b = _ViewBuilder(policy, v)
    for rule in policy.rules:
        src = None if rule.source is None else [b.address(r) for r in rule.source]
        dst = None if rule.destination is None else [b.address(r) for r in rule.destination]
        services: list[str] | None = None
        icmp = False
        if rule.services is not None and ANY not in rule.services:
            services = []
            for ref in rule.services:
                name, has_icmp, is_any = b.service(ref)
                icmp = icmp or has_icmp
                if is_any:
                    services = None
                    break
                if name is not None:
                    services.append(name)
        v.rules.append(
            XRule(
                rule.name,
                list(rule.from_),
                list(rule.to),
                src,
                dst,
                services,
                icmp and services is not None,
                rule.action,
                rule.log,
                rule.disabled,
                rule.description,
            )
        )
    return v


class _ViewBuilder:
    def __init__(self, policy: Policy, v: View) -> None:
        self.policy = policy
        self.v = v
        self.hosts = host_addresses(policy)

    def address(self, ref: str) -> str:
        p, v = self.policy, self.v
        if ref in v.addresses or ref in v.address_groups:
            return ref
        if ref in self.hosts:
            v.addresses[ref] = IPv4Net(f"{self.hosts[ref].v4}/32")
            return ref
        if ref in p.zones:
            name = f"net-{ref}"
            v.addresses[name] = p.zones[ref].subnet  # type: ignore[assignment]  # IPv4 (view)
            return name
        if ref in p.addresses:
            items = p.addresses[ref]
            single = items[0] if len(items) == 1 else None
            if single is not None and _cidr(single) is not None:
                v.addresses[ref] = _cidr(single)  # type: ignore[assignment]
            else:
                v.address_groups[ref] = []  # reserve the name before recursing
                v.address_groups[ref] = [self.address(i) for i in items]
            return ref
        net = IPv4Net(ref)
        name = (
            f"h-{net.network_address}"
            if net.prefixlen == 32
            else f"n-{net.network_address}-{net.prefixlen}"
        )
        v.addresses[name] = net
        return name

    def service(self, ref: str) -> tuple[str | None, bool, bool]:
        """→ (vendor service name or None when only ICMP, has ICMP, is any protocol)."""
        literal = parse_service_literal(ref)
        if ref == ANY:
            return None, False, True
        if literal is not None:
            names = [self._range(r) for r in literal if r.proto != "icmp"]
            return (names[0] if names else None), any(r.proto == "icmp" for r in literal), False
        items = self.policy.services[ref]
        members: list[str] = []
        icmp = False
        for item in items:
            name, has_icmp, is_any = self.service(item)
            if is_any:
                return None, False, True
            icmp = icmp or has_icmp
            if name is not None and name not in members:
                members.append(name)
        if not members:
            return None, icmp, False
        if len(members) == 1:
            return members[0], icmp, False
        self.v.service_groups[ref] = members
        return ref, icmp, False

    def _range(self, r: PortRange) -> str:
        name = f"{r.proto}-all" if (r.lo, r.hi) == (1, 65535) else str(r).replace("/", "-")
        self.v.services[name] = r
        return name


def _cidr(text: str) -> IPv4Net | None:
    try:
        return IPv4Net(text)
    except ValueError:
        return None
