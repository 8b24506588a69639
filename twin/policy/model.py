"""The policy file as the user writes it: pydantic models, strict, frozen.

Only shape and local validity live here (types, name syntax, literal syntax). Cross references
(unknown zones, overlaps, addresses outside their zone) are checked in `load`, which knows the
file and the line of every value.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from twin.errors import TwinError
from twin.policy.syntax import IMAGE_REF, LAB_NAME, NODE_NAME, OBJECT_NAME


class Invalid(TwinError, ValueError):
    """A value error that also says how to fix it; `load` shows the hint. A ValueError too:
    pydantic turns it into a validation error of the field it was raised for."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


# The word for every zone, host or service; no zone, host, address or service may be called it.
ANY = "any"
RESERVED_NAMES = frozenset({ANY})
SERVICE_WORDS = frozenset({"tcp", "udp", "icmp", ANY})  # a service literal, not a name
# Names of twin's own rules (defaults and the checks before the rules): no policy rule takes them.
INTERZONE_DEFAULT = "interzone-default"
INTRAZONE_DEFAULT = "intrazone-default"
ANTI_SPOOFING = "anti-spoofing"
CT_INVALID = "ct-invalid"
# What decides a flow between two hosts of a flat zone: nothing on the firewall (they share a
# plain bridge and never reach its forward chain). A pseudo rule: allow, never logged.
FLAT_SEGMENT = "flat-segment"
RESERVED_RULES = frozenset(
    {INTERZONE_DEFAULT, INTRAZONE_DEFAULT, ANTI_SPOOFING, CT_INVALID, FLAT_SEGMENT}
)


class Action(enum.StrEnum):
    allow = "allow"
    deny = "deny"
    reject = "reject"


class Verdict(enum.StrEnum):
    """What the intent says: about a flow (allow, block), or about every path of any length
    through hosts an attacker can take over (unreachable: see `twin.analysis.blast`)."""

    allow = "allow"
    block = "block"
    unreachable = "unreachable"


class Segment(enum.StrEnum):
    """How a zone's hosts share L2. `isolated`: every packet between two of them crosses the
    firewall (private-VLAN ports), so intrazone rules apply. `flat`: a plain bridge, as in a
    VLAN: they reach each other directly; only traffic leaving the subnet meets the firewall."""

    isolated = "isolated"
    flat = "flat"


class FirewallKind(enum.StrEnum):
    nftables = "nftables"
    vyos = "vyos"


class Enforcement(enum.StrEnum):
    """Where the policy is enforced: the central firewall (a zone-based firewall), each host's
    own rules (as an agent would program them: Illumio, Guardicore, NSX), or both."""

    central = "central"
    host = "host"
    both = "both"


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _host_entry(value: Any) -> Any:
    if isinstance(value, str):
        return {"name": value}
    if isinstance(value, bool | int | float):
        hint = "quote it" + (": YAML reads no/yes/on/off unquoted as booleans" * (value in (0, 1)))
        shown = f"the boolean {str(value).lower()}" if isinstance(value, bool) else repr(value)
        raise Invalid(f"a host is a name or {{name: ..., address: ...}}, not {shown}", hint)
    return value


StrList = Annotated[list[str], BeforeValidator(_as_list)]
# A list the user wrote must say something: `services: []` would make a rule match nothing.
Members = Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]


def _check(pattern: re.Pattern[str], what: str, value: str) -> str:
    if not pattern.fullmatch(value):
        # ascii(): a homoglyph or an invisible character shows as the escape it is
        raise Invalid(f"{what} {value!a} is not allowed", f"use {_describe(pattern)}")
    return value


ZoneName = Annotated[str, AfterValidator(lambda v: _check(NODE_NAME, "zone name", v))]
ObjectName = Annotated[str, AfterValidator(lambda v: _check(OBJECT_NAME, "object name", v))]


def _ipv4(value: Any) -> Any:
    """Addresses are written as text: YAML would read `address: 5` as the int 5 (0.0.0.5)."""
    if isinstance(value, ipaddress.IPv4Address):
        return value
    if not isinstance(value, str):
        raise Invalid(f"{value!r} is not an IPv4 address", "write it like 10.1.0.5")
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise Invalid(
            f"{value!r} is not an IPv4 address", "write four numbers 0-255, like 10.1.0.5"
        ) from None


def _ipv6(value: Any) -> Any:
    if isinstance(value, ipaddress.IPv6Address):
        return value
    if not isinstance(value, str):
        raise Invalid(f"{value!r} is not an IPv6 address", "write it like fd00:10::11")
    try:
        return ipaddress.IPv6Address(value)
    except ValueError:
        raise Invalid(
            f"{value!r} is not an IPv6 address", "write it like fd00:10::11 (no prefix length)"
        ) from None


def _subnet(value: Any) -> Any:
    if isinstance(value, ipaddress.IPv4Network):
        return value
    example = "write it like 10.1.0.0/24"
    if not isinstance(value, str):
        raise Invalid(f"{value!r} is not an IPv4 subnet", example)
    if ":" in value:
        raise Invalid(f"{value!r} is IPv6", "write it as subnet6:, or list both under subnet:")
    if "/" not in value:
        like = value if value.isascii() and value.isprintable() else "10.1.0.0"
        raise Invalid(f"{value!r} has no prefix length", f"write it like {like}/24")
    try:
        net = ipaddress.IPv4Network(value, strict=False)
    except ValueError as exc:
        raise Invalid(f"{value!r} is not an IPv4 subnet ({exc})", example) from None
    if net.network_address != ipaddress.IPv4Address(value.split("/")[0]):
        raise Invalid(f"{value!r} has host bits set", f"write {net}")
    if net.prefixlen > 29:
        raise Invalid(
            f"{value} is too small for a zone",
            "the network, broadcast, gateway and hosts need room: use a /29 or larger",
        )
    return net


def _subnet6(value: Any) -> Any:
    if isinstance(value, ipaddress.IPv6Network):
        return value
    example = "write it like fd00:10::/64"
    if not isinstance(value, str):
        raise Invalid(f"{value!r} is not an IPv6 subnet", example)
    if ":" not in value:
        raise Invalid(f"{value!r} is not IPv6", "write an IPv4 subnet as subnet:")
    if "/" not in value:
        raise Invalid(f"{value!r} has no prefix length", f"write it like {value}/64")
    try:
        net = ipaddress.IPv6Network(value, strict=False)
    except ValueError as exc:
        raise Invalid(f"{value!r} is not an IPv6 subnet ({exc})", example) from None
    if net.network_address != ipaddress.IPv6Address(value.split("/")[0]):
        raise Invalid(f"{value!r} has host bits set", f"write {net}")
    if net.prefixlen > 120:
        raise Invalid(f"{value} is too small for a zone", "use a /120 or larger (a /64 is usual)")
    return net


def _by_family(data: Any, key: str, key6: str, what: str) -> Any:
    """`key` may hold either family, or a list of one of each: split into `key` and `key6`."""
    if not isinstance(data, dict) or key not in data:
        return data
    value = data[key]
    items = value if isinstance(value, list) else [value]
    if not isinstance(value, list) and not (isinstance(value, str) and ":" in value):
        return data
    v4 = [v for v in items if not (isinstance(v, str) and ":" in v)]
    v6 = [v for v in items if isinstance(v, str) and ":" in v]
    if key6 in data and v6:
        raise Invalid(f"{what} given twice for IPv6", f"write it once, under {key6}:")
    if len(v4) > 1 or len(v6) > 1 or not items:
        raise Invalid(
            f"{key} lists {len(v4)} IPv4 and {len(v6)} IPv6 {what}s",
            f"give at most one of each family, e.g. {key}: [10.1.0.0/24, fd00:10::/64]"
            if what == "subnet"
            else f"give at most one of each family, e.g. {key}: [10.1.0.5, fd00:10::5]",
        )
    out = {k: v for k, v in data.items() if k != key}
    if v4:
        out[key] = v4[0]
    if v6:
        out[key6] = v6[0]
    return out


IPv4 = Annotated[ipaddress.IPv4Address, BeforeValidator(_ipv4)]
IPv6 = Annotated[ipaddress.IPv6Address, BeforeValidator(_ipv6)]


def _describe(pattern: re.Pattern[str]) -> str:
    return {
        LAB_NAME.pattern: "1-20 of a-z 0-9, no '-': nodes are named clab-<lab>-<node>",
        NODE_NAME.pattern: "1-32 of a-z 0-9 '-' '_', starting with a letter",
        OBJECT_NAME.pattern: "1-63 of A-Z a-z 0-9 '_' '.' '-', starting with a letter or digit",
    }[pattern.pattern]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Firewall(_Strict):
    kind: FirewallKind = FirewallKind.nftables
    name: str = "fw"
    image: str | None = None
    enforcement: Enforcement = Enforcement.central

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check(NODE_NAME, "firewall name", v)

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        if v is not None and not IMAGE_REF.fullmatch(v):
            raise Invalid(
                f"image {v!r} is not an image reference",
                "write it like twin-node:latest or registry.example:5000/team/node:1.2",
            )
        return v


class Defaults(_Strict):
    interzone: Action = Action.deny
    intrazone: Action = Action.allow


class Host(_Strict):
    name: str
    address: IPv4 | None = None
    address6: IPv6 | None = None
    sensitive: bool = False  # a crown jewel (blast-radius analysis)

    @model_validator(mode="before")
    @classmethod
    def _families(cls, data: Any) -> Any:
        return _by_family(data, "address", "address6", "address")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check(NODE_NAME, "host name", v)


class Zone(_Strict):
    """A zone has an IPv4 subnet, an IPv6 one (`subnet6`), or both; `subnet:` may also hold
    the IPv6 one, or a list of one of each."""

    subnet: ipaddress.IPv4Network | None = None
    subnet6: ipaddress.IPv6Network | None = None
    hosts: Annotated[list[Annotated[Host, BeforeValidator(_host_entry)]], Field(min_length=1)]
    gateway: IPv4 | None = None
    gateway6: IPv6 | None = None
    description: str = ""
    sensitive: bool = False  # its hosts are crown jewels (blast-radius analysis)
    segment: Segment = Segment.isolated

    @model_validator(mode="before")
    @classmethod
    def _families(cls, data: Any) -> Any:
        data = _by_family(
            _by_family(data, "subnet", "subnet6", "subnet"), "gateway", "gateway6", "gateway"
        )
        if isinstance(data, dict) and data.get("subnet") is None and data.get("subnet6") is None:
            raise Invalid("missing key 'subnet'", "add subnet: 10.1.0.0/24")
        return data

    @field_validator("subnet", mode="before")
    @classmethod
    def _subnet(cls, v: Any) -> Any:
        return None if v is None else _subnet(v)  # None: a policy as model_dump wrote it

    @field_validator("subnet6", mode="before")
    @classmethod
    def _subnet6(cls, v: Any) -> Any:
        return None if v is None else _subnet6(v)  # None: a policy as model_dump wrote it

    @property
    def subnets(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(n for n in (self.subnet, self.subnet6) if n is not None)


class Rule(_Strict):
    name: str
    from_: Annotated[StrList, Field(alias="from", min_length=1)]
    to: Annotated[StrList, Field(min_length=1)]
    services: Members | None = None
    source: Members | None = None
    destination: Members | None = None
    action: Action
    log: bool = False
    disabled: bool = False
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check(OBJECT_NAME, "rule name", v)


class Expect(_Strict):
    from_: Annotated[str, Field(alias="from")]
    to: str
    service: str = "any"  # required for allow/block (checked in `load`)
    verdict: Verdict
    name: str | None = None
    derived: bool = False  # written by `twin import` from the device's own decisions

    @property
    def flow(self) -> bool:
        """An allow/block line speaks of single flows; an unreachable line of paths."""
        return self.verdict is not Verdict.unreachable

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else _check(OBJECT_NAME, "expect name", v)


class Policy(_Strict):
    name: str
    description: str = ""
    firewall: Firewall = Firewall()
    defaults: Defaults = Defaults()
    zones: Annotated[dict[ZoneName, Zone], Field(min_length=1)]
    addresses: dict[ObjectName, Members] = {}
    services: dict[ObjectName, Members] = {}
    rules: list[Rule] = []
    expect: list[Expect] = []

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check(LAB_NAME, "lab name", v)
