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

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

# Names end up in interface names, nft comments and NFLOG prefixes, container and namespace
# names. They are checked here and never escaped later: what passes cannot inject anything.
LAB_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?$")
NODE_NAME = re.compile(r"^[a-z](?:[a-z0-9_-]{0,30}[a-z0-9])?$")
OBJECT_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62})$")
SERVICE_LITERAL = re.compile(r"^(tcp|udp)(?:/(\d{1,5})(?:-(\d{1,5}))?)?$|^(icmp|any)$")


class Action(enum.StrEnum):
    allow = "allow"
    deny = "deny"
    reject = "reject"


class Verdict(enum.StrEnum):
    """What the intent says about a flow."""

    allow = "allow"
    block = "block"


class FirewallKind(enum.StrEnum):
    nftables = "nftables"
    vyos = "vyos"


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _host_entry(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(_as_list)]


def _check(pattern: re.Pattern[str], what: str, value: str) -> str:
    if not pattern.match(value):
        raise ValueError(f"{what} {value!r} is not allowed; use {_describe(pattern)}")
    return value


def _describe(pattern: re.Pattern[str]) -> str:
    return {
        LAB_NAME.pattern: "1-20 of a-z 0-9 '-', starting and ending with a letter or digit",
        NODE_NAME.pattern: "1-32 of a-z 0-9 '-' '_', starting with a letter",
        OBJECT_NAME.pattern: "1-63 of A-Z a-z 0-9 '_' '.' '-', starting with a letter or digit",
    }[pattern.pattern]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Firewall(_Strict):
    kind: FirewallKind = FirewallKind.nftables
    name: str = "fw"
    image: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check(NODE_NAME, "firewall name", v)


class Defaults(_Strict):
    interzone: Action = Action.deny
    intrazone: Action = Action.allow


class Host(_Strict):
    name: str
    address: ipaddress.IPv4Address | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check(NODE_NAME, "host name", v)


class Zone(_Strict):
    subnet: ipaddress.IPv4Network
    hosts: Annotated[list[Annotated[Host, BeforeValidator(_host_entry)]], Field(min_length=1)]
    gateway: ipaddress.IPv4Address | None = None
    description: str = ""

    @field_validator("subnet", mode="before")
    @classmethod
    def _subnet(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                ipaddress.IPv4Network(v, strict=True)
            except ValueError as exc:
                raise ValueError(f"{v!r} is not an IPv4 subnet ({exc})") from None
            net = ipaddress.IPv4Network(v)
            if net.prefixlen > 29:
                raise ValueError(f"{v} is too small: a zone needs at least a /29")
        return v


class Rule(_Strict):
    name: str
    from_: Annotated[StrList, Field(alias="from", min_length=1)]
    to: Annotated[StrList, Field(min_length=1)]
    services: StrList | None = None
    source: StrList | None = None
    destination: StrList | None = None
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
    service: str
    verdict: Verdict
    name: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else _check(OBJECT_NAME, "expect name", v)


class Policy(_Strict):
    name: str
    description: str = ""
    firewall: Firewall = Firewall()
    defaults: Defaults = Defaults()
    zones: Annotated[dict[str, Zone], Field(min_length=1)]
    addresses: dict[str, StrList] = {}
    services: dict[str, StrList] = {}
    rules: list[Rule] = []
    expect: list[Expect] = []

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check(LAB_NAME, "lab name", v)

    @field_validator("zones")
    @classmethod
    def _zone_names(cls, v: dict[str, Zone]) -> dict[str, Zone]:
        for name in v:
            _check(NODE_NAME, "zone name", name)
        return v

    @field_validator("addresses", "services")
    @classmethod
    def _object_names(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for name in v:
            _check(OBJECT_NAME, "object name", name)
        return v
