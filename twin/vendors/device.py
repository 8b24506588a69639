"""A vendor firewall's configuration, vendor-neutral: what the importers produce.

Names here are the vendor's own (any text); `build` maps them to twin's safe names. Every item
keeps the line of the vendor file it came from, for the import report and for errors.

A reader never aborts on what it cannot model: it records it (`unsupported` on an object or a
rule, an `Approx` on a rule, a `Note` on the config) and `translate` decides, per rule, whether
the rule is imported exactly, approximated (allow rules only, with the direction of the error)
or skipped. Every importer (PAN-OS, FortiGate, ASA) produces this one shape.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from twin.policy.model import ANY, Action
from twin.policy.resolve import IPNet, PortRange, address_literal
from twin.vendors.report import Note

APPLICATION_DEFAULT = "application-default"


@dataclass
class DevInterface:
    name: str
    addresses: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]  # either family
    line: int | None = None


@dataclass
class DevZone:
    name: str
    interfaces: list[str]
    line: int | None = None
    intrazone: Action | None = None  # FortiGate `intrazone allow|deny`; None: the global default


@dataclass(frozen=True)
class Approx:
    """A condition of a rule the twin cannot enforce exactly. `wider`: the twin rule matches
    flows the device rule does not (a dropped condition); `narrower`: the reverse (a kept subset,
    e.g. the known applications of a rule). An allow rule is imported with it and reported with
    the direction of the error; a deny rule that would need one is skipped instead."""

    message: str
    wider: bool = True
    narrower: bool = False


@dataclass(frozen=True)
class DevVip:
    """A destination NAT the device applies before its policy (FortiGate VIP, ASA static NAT):
    a policy naming the object is tested against the real servers `mapped`. `ports` maps the
    external port range to the mapped one when the NAT forwards ports."""

    external: tuple[IPNet, ...]
    mapped: tuple[IPNet, ...]
    proto: str = ""  # tcp | udp when ports are forwarded
    ports: tuple[tuple[int, int], tuple[int, int]] | None = None  # (ext lo-hi, mapped lo-hi)
    narrower: str = ""  # a condition the NAT adds (source filter, service filter): reported


@dataclass
class DevAddress:
    """An address object (networks, either family) or a static group (members); `unsupported`
    says why neither. `ipv6`: IPv6 values a reader keeps apart (ASA: not tested)."""

    name: str
    line: int | None = None
    networks: tuple[IPNet, ...] = ()
    members: tuple[str, ...] | None = None
    unsupported: str = ""
    any: bool = False  # FortiGate's `all`
    ipv6: tuple[str, ...] = ()
    vip: DevVip | None = None  # a VIP: `networks` are its mapped (real) servers


@dataclass
class DevService:
    """A service object (ranges), a group (members), or `any`; `approximated` when twin's
    L4 view is wider than the object (source ports, ICMP types)."""

    name: str
    line: int | None = None
    ranges: tuple[PortRange, ...] = ()
    members: tuple[str, ...] | None = None
    any: bool = False
    unsupported: str = ""
    approximated: str = ""


@dataclass
class DevRule:
    name: str
    line: int | None
    from_: list[str]
    to: list[str]
    action: Action
    source: list[str] = field(default_factory=lambda: [ANY])
    destination: list[str] = field(default_factory=lambda: [ANY])
    services: list[str] = field(default_factory=lambda: [ANY])
    applications: list[str] = field(default_factory=lambda: [ANY])
    negate_source: bool = False
    negate_destination: bool = False
    negate_service: bool = False
    log: bool = False
    disabled: bool = False
    rule_type: str = "universal"  # universal | intrazone | interzone
    description: str = ""
    unsupported: str = ""  # set by a parser for what it already knows it cannot represent
    approximated: list[Approx] = field(default_factory=list)  # what a parser already approximated
    ipv6_only: str = ""  # why the rule matches IPv6 traffic only (never an IPv4 flow)
    ipv6_part: str = ""  # the rule also matches IPv6 traffic, which the twin does not test
    nat_applied: bool = False  # the reader already wrote its destinations post-NAT


@dataclass
class DevNat:
    """A destination NAT rule (PAN-OS): flows matching the original packet (`from_` zones,
    `source`, `destination`, `service`) go to `translated` (and `translated_port`). Security
    rules match the pre-NAT destination, so `translate` writes their public destinations as the
    servers they reach. Source-only NAT rules are not kept (they change no policy decision)."""

    name: str
    line: int | None
    from_: list[str]
    source: list[str]
    destination: list[str]
    service: str
    translated: list[str]
    translated_port: int | None = None
    disabled: bool = False
    unsupported: str = ""


@dataclass
class DevDefault:
    action: Action
    line: int | None = None


@dataclass
class DeviceConfig:
    vendor: str  # "PAN-OS" | "FortiGate"
    file: str
    interfaces: dict[str, DevInterface] = field(default_factory=dict)
    zones: dict[str, DevZone] = field(default_factory=dict)
    addresses: dict[str, DevAddress] = field(default_factory=dict)
    services: dict[str, DevService] = field(default_factory=dict)
    app_groups: dict[str, list[str]] = field(default_factory=dict)
    app_filters: set[str] = field(default_factory=set)  # PAN-OS application filters (dynamic)
    applications: dict[str, tuple[PortRange, ...]] = field(default_factory=dict)  # custom apps
    rules: list[DevRule] = field(default_factory=list)
    intrazone: DevDefault = field(default_factory=lambda: DevDefault(Action.allow))
    interzone: DevDefault = field(default_factory=lambda: DevDefault(Action.deny))
    hostname: str = ""
    nat: list[DevNat] = field(default_factory=list)
    has_policy: bool = False  # the file has a security policy table (even an empty one)
    notes: list[Note] = field(default_factory=list)  # what the reader itself has to report
    names6: dict[str, str] = field(default_factory=dict)  # FortiGate IPv6 name → addresses key

    @property
    def ipv6(self) -> bool:
        """Does the device route or filter IPv6? An interface has an IPv6 address, or a rule
        names an IPv6 network (through its objects and groups). Then the twin is dual stack."""
        if any(a.version == 6 for i in self.interfaces.values() for a in i.addresses):
            return True
        return any(self._v6(ref, 0) for r in self.rules for ref in (*r.source, *r.destination))

    def networks(self, ref: str, depth: int = 0) -> list[IPNet]:
        """The networks an address reference stands for (objects and groups flattened)."""
        obj = self.addresses.get(ref)
        if obj is None:
            try:
                net = address_literal(ref)
            except ValueError:
                return []
            return [net] if net is not None else []
        if depth > 32:
            return []
        if obj.members is not None:
            return [n for m in obj.members for n in self.networks(m, depth + 1)]
        return list(obj.networks)

    def _v6(self, ref: str, depth: int) -> bool:
        obj = self.addresses.get(ref)
        if obj is None:
            try:
                net = address_literal(ref.split("-", 1)[0].strip())
            except ValueError:
                return False
            return net is not None and net.version == 6
        if depth > 32:
            return False
        if obj.members is not None:
            return any(self._v6(m, depth + 1) for m in obj.members)
        return any(n.version == 6 for n in obj.networks)
