"""A vendor firewall's configuration, vendor-neutral: what the importers produce.

Names here are the vendor's own (any text); `build` maps them to twin's safe names. Every item
keeps the line of the vendor file it came from, for the import report and for errors.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from twin.model import Action
from twin.objects import IPv4Net, PortRange

ANY = "any"
APPLICATION_DEFAULT = "application-default"


@dataclass
class DevInterface:
    name: str
    addresses: list[ipaddress.IPv4Interface]
    line: int | None = None


@dataclass
class DevZone:
    name: str
    interfaces: list[str]
    line: int | None = None
    intrazone: Action | None = None  # FortiGate `intrazone allow|deny`; None: the global default


@dataclass
class DevAddress:
    """An address object (networks) or a static group (members); `unsupported` says why neither."""

    name: str
    line: int | None = None
    networks: tuple[IPv4Net, ...] = ()
    members: tuple[str, ...] | None = None
    unsupported: str = ""
    any: bool = False  # FortiGate's `all`


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
    approximated: list[str] = field(default_factory=list)  # what a parser already approximated


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
    rules: list[DevRule] = field(default_factory=list)
    intrazone: DevDefault = field(default_factory=lambda: DevDefault(Action.allow))
    interzone: DevDefault = field(default_factory=lambda: DevDefault(Action.deny))
    hostname: str = ""
