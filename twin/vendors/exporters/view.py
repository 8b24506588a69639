"""The vendor-neutral picture of a twin policy that every exporter prints.

Numbered interfaces, one address object per network, one service object per tcp/udp port range,
groups for twin's named objects, and rules that reference them. ICMP is a flag on the rule,
since vendors spell it differently (PAN-OS: an application; FortiGate: a service; VyOS: a
protocol); so is ICMPv6. Address objects hold one network of one family; a host or a zone
with addresses of both families is a group of two (`families` says which a name covers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.policy.model import ANY, Action, Policy
from twin.policy.resolve import (
    IPNet,
    IPv4Net,
    IPv6Net,
    PortRange,
    address_literal,
    host_addresses,
    parse_service_literal,
)
from twin.policy.resolve import gateway as zone_gateway
from twin.policy.resolve import gateway6 as zone_gateway6


@dataclass(frozen=True)
class XZone:
    name: str
    index: int  # 1-based: ethernet1/N, portN, ethN
    subnet: IPv4Net | None
    gateway: str
    subnet6: IPv6Net | None = None
    gateway6: str = ""


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
    icmp6: bool = False  # the rule also matches ICMPv6 (when services is not None)


@dataclass
class View:
    lab: str
    zones: list[XZone]
    intrazone: Action
    interzone: Action
    addresses: dict[str, IPNet] = field(default_factory=dict)
    address_groups: dict[str, list[str]] = field(default_factory=dict)
    services: dict[str, PortRange] = field(default_factory=dict)
    service_groups: dict[str, list[str]] = field(default_factory=dict)
    rules: list[XRule] = field(default_factory=list)

    @property
    def dual_stack(self) -> bool:
        return any(z.subnet6 is not None for z in self.zones)

    def families(self, name: str, _depth: int = 0) -> set[int]:
        """The address families an object or group covers."""
        if name in self.addresses:
            return {self.addresses[name].version}
        members = self.address_groups.get(name, []) if _depth < 32 else []
        return {f for m in members for f in self.families(m, _depth + 1)}


def view(policy: Policy) -> View:
    zones = [
        XZone(
            name, i, z.subnet, str(zone_gateway(policy, name) or ""), z.subnet6,
            str(zone_gateway6(policy, name) or ""),
        )
        for i, (name, z) in enumerate(policy.zones.items(), start=1)
    ]  # fmt: skip
    v = View(policy.name, zones, policy.defaults.intrazone, policy.defaults.interzone)
    b = _ViewBuilder(policy, v)
    for rule in policy.rules:
        src = None if rule.source is None else [b.address(r) for r in rule.source]
        dst = None if rule.destination is None else [b.address(r) for r in rule.destination]
        services: list[str] | None = None
        icmp = icmp6 = False
        if rule.services is not None and ANY not in rule.services:
            services = []
            for ref in rule.services:
                name, echo, is_any = b.service(ref)
                icmp, icmp6 = icmp or "icmp" in echo, icmp6 or "icmpv6" in echo
                if is_any:
                    services = None
                    break
                if name is not None:
                    services.append(name)
        v.rules.append(
            XRule(
                rule.name, list(rule.from_), list(rule.to), src, dst, services,
                icmp and services is not None, rule.action, rule.log, rule.disabled,
                rule.description, icmp6 and services is not None,
            )
        )  # fmt: skip
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
            nets = [ipaddress_net(a) for a in self.hosts[ref].addresses]
            return self._named(ref, ref, nets)
        if ref in p.zones:
            return self._named(ref, f"net-{ref}", list(p.zones[ref].subnets))
        if ref in p.addresses:
            items = p.addresses[ref]
            single = address_literal(items[0]) if len(items) == 1 else None
            if single is not None:
                v.addresses[ref] = single
            else:
                v.address_groups[ref] = []  # reserve the name before recursing
                v.address_groups[ref] = [self.address(i) for i in items]
            return ref
        net = address_literal(ref)
        assert net is not None  # the policy was validated
        return self._net(net)

    def _named(self, ref: str, name: str, nets: list[IPNet]) -> str:
        """One object under `name`, or a group of one object per network."""
        if len(nets) == 1:
            self.v.addresses[name] = nets[0]
            return name
        self.v.address_groups[name] = [self._net(n) for n in nets]
        return name

    def _net(self, net: IPNet) -> str:
        whole = net.num_addresses == 1
        text = str(net.network_address).replace(":", ".")  # a name: no ':' (PAN-OS, FortiGate)
        name = f"h-{text}" if whole else f"n-{text}-{net.prefixlen}"
        self.v.addresses[name] = net
        return name

    def service(self, ref: str) -> tuple[str | None, set[str], bool]:
        """→ (vendor service name or None when only ICMP, the echo protocols it has (icmp,
        icmpv6), is any protocol)."""
        literal = parse_service_literal(ref)
        if ref == ANY:
            return None, set(), True
        if literal is not None:
            names = [self._range(r) for r in literal if r.proto in ("tcp", "udp")]
            echo = {str(r.proto) for r in literal if r.proto in ("icmp", "icmpv6")}
            return (names[0] if names else None), echo, False
        items = self.policy.services[ref]
        members: list[str] = []
        echoes: set[str] = set()
        for item in items:
            name, echo, is_any = self.service(item)
            if is_any:
                return None, set(), True
            echoes |= echo
            if name is not None and name not in members:
                members.append(name)
        if not members:
            return None, echoes, False
        if len(members) == 1:
            return members[0], echoes, False
        self.v.service_groups[ref] = members
        return ref, echoes, False

    def _range(self, r: PortRange) -> str:
        name = f"{r.proto}-all" if (r.lo, r.hi) == (1, 65535) else str(r).replace("/", "-")
        self.v.services[name] = r
        return name


def ipaddress_net(addr: object) -> IPNet:
    net = address_literal(str(addr))
    assert net is not None
    return net
