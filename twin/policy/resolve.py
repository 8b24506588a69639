"""Resolve the names a rule uses (services, addresses, hosts, zones) to ports and networks.

Used twice: by `load` to find bad references (with the file line), and by `plan` to expand the
rules. Errors here are plain `Unresolved(message, hint)`; the caller adds the location.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from twin.policy.model import SERVICE_LITERAL, Policy

Proto = Literal["tcp", "udp", "icmp"]
PROTOS: tuple[Proto, ...] = ("tcp", "udp", "icmp")
IPv4Net = ipaddress.IPv4Network
# Looks like a protocol/port but is not one (`tcp:80`, `TCP/80`, `icmp/8`, `tcp/100000`).
LITERAL_LIKE = re.compile(r"^(?i:tcp|udp|icmp|any)(?:[/:]|$)|^[^/]*/")
MAX_NESTING = 32  # groups of groups: deeper is a mistake (and Python's stack has limits)
LITERAL_HINT = "write tcp/443, udp/53, tcp/8000-8080, tcp, udp, icmp or any (ports 1-65535)"


class Unresolved(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def port_text(proto: str, port: int) -> str:
    """One flow's service as twin prints it: `tcp/443`, `udp/53`, `icmp`."""
    return "icmp" if proto == "icmp" else f"{proto}/{port}"


def range_text(lo: int, hi: int) -> str:
    """A port interval as firewalls write it: `443`, `8000-8080`."""
    return str(lo) if lo == hi else f"{lo}-{hi}"


@dataclass(frozen=True, order=True)
class PortRange:
    """A protocol and an inclusive port interval; icmp has the single 'port' 0."""

    proto: Proto
    lo: int = 0
    hi: int = 0

    def __str__(self) -> str:
        if self.proto == "icmp":
            return "icmp"
        if (self.lo, self.hi) == (1, 65535):
            return self.proto
        return f"{self.proto}/{range_text(self.lo, self.hi)}"


ANY_SERVICE: tuple[PortRange, ...] = (
    PortRange("tcp", 1, 65535),
    PortRange("udp", 1, 65535),
    PortRange("icmp"),
)


@functools.lru_cache(maxsize=4096)  # a big policy names the same few services thousands of times
def parse_service_literal(text: str) -> tuple[PortRange, ...] | None:
    """`tcp/80`, `udp/9000-9010`, `tcp`, `icmp`, `any` → ranges; None if not a literal;
    Unresolved if it looks like one but is out of range."""
    m = SERVICE_LITERAL.fullmatch(text)
    if not m:
        return None
    proto_text, lo, hi, word = m.groups()
    proto: Proto = "tcp" if proto_text == "tcp" else "udp"
    if word == "icmp":
        return (PortRange("icmp"),)
    if word == "any":
        return ANY_SERVICE
    if lo is None:
        return (PortRange(proto, 1, 65535),)
    first, last = int(lo), int(hi if hi is not None else lo)
    if not 1 <= first <= 65535 or not 1 <= last <= 65535:
        raise Unresolved(f"port out of range in {text!r}", "ports are 1-65535")
    if first > last:
        raise Unresolved(f"empty port range {text!r}", f"write {proto}/{last}-{first}")
    return (PortRange(proto, first, last),)


def resolve_service(
    policy: Policy,
    ref: str,
    _seen: tuple[str, ...] = (),
    _memo: dict[str, tuple[PortRange, ...]] | None = None,
) -> tuple[PortRange, ...]:
    """A literal or a service name → merged port ranges. Each name is expanded once per call
    (`_memo`), so groups of groups cost what they contain, not the product of their fan-outs."""
    literal = parse_service_literal(ref)
    if literal is not None:
        return literal
    if ref not in policy.services:
        if LITERAL_LIKE.match(ref):
            raise Unresolved(f"{ref!r} is not a valid service", LITERAL_HINT)
        known = ", ".join(sorted(policy.services)) or "none defined"
        raise Unresolved(
            f"unknown service {ref!r}",
            f"define it under services (known: {known}) or write e.g. tcp/443, udp/53, icmp",
        )
    memo = {} if _memo is None else _memo
    if ref in memo:
        return memo[ref]
    _check_nesting("service", ref, _seen)
    out: list[PortRange] = []
    for item in policy.services[ref]:
        out.extend(resolve_service(policy, item, (*_seen, ref), memo))
    memo[ref] = merge_ranges(out)
    return memo[ref]


def _check_nesting(kind: str, ref: str, seen: tuple[str, ...]) -> None:
    if ref in seen:
        cycle = " -> ".join((*seen, ref))
        raise Unresolved(f"{kind} {ref!r} contains itself ({cycle})", "break the cycle")
    if len(seen) >= MAX_NESTING:
        raise Unresolved(
            f"{kind} {seen[0]!r} nests more than {MAX_NESTING} levels deep",
            f"flatten the {kind} groups",
        )


def merge_ranges(ranges: list[PortRange]) -> tuple[PortRange, ...]:
    """Sorted, with overlapping or adjacent intervals of the same protocol joined."""
    out: list[PortRange] = []
    for r in sorted(ranges):
        if out and out[-1].proto == r.proto and r.lo <= out[-1].hi + 1:
            last = out[-1]
            out[-1] = PortRange(r.proto, last.lo, max(last.hi, r.hi))
        else:
            out.append(r)
    return tuple(out)


def host_addresses(policy: Policy) -> dict[str, tuple[str, ipaddress.IPv4Address]]:
    """host name → (zone, address), filling the default addresses (.11, .12, …)."""
    out: dict[str, tuple[str, ipaddress.IPv4Address]] = {}
    for zname, zone in policy.zones.items():
        defaults = default_addresses(zone.subnet, len(zone.hosts))
        for host, addr in zip(zone.hosts, defaults, strict=True):
            out[host.name] = (zname, host.address or addr)
    return out


def default_addresses(subnet: IPv4Net, count: int) -> list[ipaddress.IPv4Address]:
    """.11, .12, … when they fit, else from .2 (the gateway is .1)."""
    start = 11 if subnet.num_addresses - 2 >= 10 + count else 2
    base = int(subnet.network_address)
    return [ipaddress.IPv4Address(base + start + i) for i in range(count)]


def gateway(policy: Policy, zone: str) -> ipaddress.IPv4Address:
    z = policy.zones[zone]
    return z.gateway or z.subnet.network_address + 1


def resolve_address(
    policy: Policy,
    ref: str,
    hosts: dict[str, tuple[str, ipaddress.IPv4Address]] | None = None,
    _seen: tuple[str, ...] = (),
    _memo: dict[str, tuple[IPv4Net, ...]] | None = None,
) -> tuple[IPv4Net, ...]:
    """A host, zone, address object or CIDR/IP literal → networks (names expanded once)."""
    hosts = host_addresses(policy) if hosts is None else hosts
    if ref in hosts:
        return (IPv4Net(f"{hosts[ref][1]}/32"),)
    if ref in policy.zones:
        return (policy.zones[ref].subnet,)
    if ref in policy.addresses:
        memo = {} if _memo is None else _memo
        if ref in memo:
            return memo[ref]
        _check_nesting("address", ref, _seen)
        nets: list[IPv4Net] = []
        for item in policy.addresses[ref]:
            nets.extend(resolve_address(policy, item, hosts, (*_seen, ref), memo))
        memo[ref] = tuple(ipaddress.collapse_addresses(nets))
        return memo[ref]
    try:
        return (IPv4Net(ref, strict=True),)
    except ValueError:
        pass
    try:
        IPv4Net(ref, strict=False)
    except ValueError:
        raise Unresolved(
            f"unknown address {ref!r}",
            "use a host, a zone, a name under addresses, or a CIDR like 10.0.0.0/8",
        ) from None
    raise Unresolved(
        f"{ref!r} has host bits set", f"write {IPv4Net(ref, strict=False)} or a single address"
    )


def zone_refs(policy: Policy, refs: list[str]) -> tuple[str, ...]:
    """`from`/`to` of a rule: zone names or `any` → zone names (in file order)."""
    if "any" in refs:
        return tuple(policy.zones)
    for ref in refs:
        if ref not in policy.zones:
            known = ", ".join(policy.zones)
            raise Unresolved(f"unknown zone {ref!r}", f"zones are: {known}, or any")
    return tuple(z for z in policy.zones if z in refs)
