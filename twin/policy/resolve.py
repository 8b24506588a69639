"""Resolve the names a rule uses (services, addresses, hosts, zones) to ports and networks.

Used twice: by `load` to find bad references (with the file line), and by `plan` to expand the
rules. Errors here are plain `Unresolved(message, hint)`; the caller adds the location.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from twin.errors import TwinError, did_you_mean
from twin.policy.model import Policy, Zone
from twin.policy.syntax import SERVICE_LITERAL

Proto = Literal["tcp", "udp", "icmp", "icmpv6"]
PROTOS: tuple[Proto, ...] = ("tcp", "udp", "icmp", "icmpv6")
ICMP: dict[int, Proto] = {4: "icmp", 6: "icmpv6"}  # the echo of each address family
IPv4Net = ipaddress.IPv4Network
IPv6Net = ipaddress.IPv6Network
IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
FAMILIES = (4, 6)
# Looks like a protocol/port but is not one (`tcp:80`, `TCP/80`, `icmp/8`, `tcp/100000`).
LITERAL_LIKE = re.compile(r"^(?i:tcp|udp|icmp|icmpv6|any)(?:[/:]|$)|^[^/]*/")
MAX_NESTING = 32  # groups of groups: deeper is a mistake (and Python's stack has limits)
LITERAL_HINT = "write tcp/443, udp/53, tcp/8000-8080, tcp, udp, icmp, icmpv6 or any (ports 1-65535)"


class Unresolved(TwinError):
    """A name a rule uses that resolves to nothing (or loops); `load` words it per rule."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def port_text(proto: str, port: int) -> str:
    """One flow's service as twin prints it: `tcp/443`, `udp/53`, `icmp`, `icmpv6`."""
    return proto if proto in ("icmp", "icmpv6") else f"{proto}/{port}"


def range_text(lo: int, hi: int) -> str:
    """A port interval as firewalls write it: `443`, `8000-8080`."""
    return str(lo) if lo == hi else f"{lo}-{hi}"


@dataclass(frozen=True, order=True)
class PortRange:
    """A protocol and an inclusive port interval; icmp and icmpv6 have the single 'port' 0."""

    proto: Proto
    lo: int = 0
    hi: int = 0

    def __str__(self) -> str:
        if self.proto in ("icmp", "icmpv6"):
            return self.proto
        if (self.lo, self.hi) == (1, 65535):
            return self.proto
        return f"{self.proto}/{range_text(self.lo, self.hi)}"


ANY_SERVICE: tuple[PortRange, ...] = (
    PortRange("tcp", 1, 65535),
    PortRange("udp", 1, 65535),
    PortRange("icmp"),
    PortRange("icmpv6"),
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
    if word in ("icmp", "icmpv6"):
        return (PortRange("icmp" if word == "icmp" else "icmpv6"),)
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
            f"{did_you_mean(ref, policy.services)}define it under services (known: {known}) or "
            "write e.g. tcp/443, udp/53, icmp, icmpv6",
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


class HostAddr(NamedTuple):
    """A host's zone and its address in each family the zone has (given or by default)."""

    zone: str
    v4: ipaddress.IPv4Address | None
    v6: ipaddress.IPv6Address | None

    @property
    def addresses(self) -> tuple[IPAddr, ...]:
        return tuple(a for a in (self.v4, self.v6) if a is not None)


def host_addresses(policy: Policy) -> dict[str, HostAddr]:
    """host name → (zone, IPv4 address, IPv6 address), filling the default addresses: .11,
    .12, … in IPv4; in IPv6 the same digits (10.1.0.11 → fd00:1::11), by position in a zone
    without IPv4."""
    out: dict[str, HostAddr] = {}
    for zname, zone in policy.zones.items():
        for host, addr in zip(zone.hosts, zone_addresses(zname, zone), strict=True):
            out[host.name] = addr
    return out


def zone_addresses(name: str, zone: Zone) -> list[HostAddr]:
    """Each host's addresses, in the zone's order."""
    v4s: list[ipaddress.IPv4Address | None] = [h.address for h in zone.hosts]
    if zone.subnet is not None:
        defaults = default_addresses(zone.subnet, len(zone.hosts))
        v4s = [h.address or d for h, d in zip(zone.hosts, defaults, strict=True)]
    v6s: list[ipaddress.IPv6Address | None] = [h.address6 for h in zone.hosts]
    if zone.subnet6 is not None:
        defaults6 = default_addresses6(zone.subnet6, zone.subnet, v4s)
        v6s = [h.address6 or d for h, d in zip(zone.hosts, defaults6, strict=True)]
    return [HostAddr(name, v4, v6) for v4, v6 in zip(v4s, v6s, strict=True)]


def default_addresses(subnet: IPv4Net, count: int) -> list[ipaddress.IPv4Address]:
    """.11, .12, … when they fit, else from .2 (the gateway is .1)."""
    start = 11 if subnet.num_addresses - 2 >= 10 + count else 2
    base = int(subnet.network_address)
    return [ipaddress.IPv4Address(base + start + i) for i in range(count)]


def default_addresses6(
    subnet6: IPv6Net, subnet: IPv4Net | None, v4s: list[ipaddress.IPv4Address | None]
) -> list[ipaddress.IPv6Address]:
    """The IPv4 host part's decimal digits read as hex (10.1.0.11 → ::11, .250 → ::250), so the
    two addresses of a host read alike; by position (::11, ::12, …) without an IPv4 address."""
    base = int(subnet6.network_address)
    positional = iter(default_addresses(IPv4Net("0.0.0.0/8"), len(v4s)))
    out = []
    for v4 in v4s:
        number = next(positional)
        if v4 is not None and subnet is not None:
            number = ipaddress.IPv4Address(int(v4) - int(subnet.network_address))
        out.append(ipaddress.IPv6Address(base + int(str(int(number)), 16)))
    return out


def gateway(policy: Policy, zone: str) -> ipaddress.IPv4Address | None:
    z = policy.zones[zone]
    if z.subnet is None:
        return None
    return z.gateway or z.subnet.network_address + 1


def gateway6(policy: Policy, zone: str) -> ipaddress.IPv6Address | None:
    z = policy.zones[zone]
    if z.subnet6 is None:
        return None
    return z.gateway6 or z.subnet6.network_address + 1


def collapse(nets: Iterable[IPNet]) -> tuple[IPNet, ...]:
    """The fewest networks covering `nets`, IPv4 first, then IPv6."""
    items = list(nets)
    v4 = ipaddress.collapse_addresses(n for n in items if isinstance(n, IPv4Net))
    v6 = ipaddress.collapse_addresses(n for n in items if isinstance(n, IPv6Net))
    return (*v4, *v6)


def families_of(nets: Iterable[IPNet]) -> frozenset[int]:
    return frozenset(n.version for n in nets)


def address_literal(ref: str) -> IPNet | None:
    """`10.1.0.5`, `10.1.0.0/24`, `fd00:10::11`, `fd00:10::/64` → a network (host bits must
    be clear); None when `ref` is not an address at all."""
    try:
        return ipaddress.ip_network(ref, strict=True)
    except ValueError:
        pass
    try:
        ipaddress.ip_network(ref, strict=False)
    except ValueError:
        return None
    raise Unresolved(
        f"{ref!r} has host bits set",
        f"write {ipaddress.ip_network(ref, strict=False)} or a single address",
    )


def resolve_address(
    policy: Policy,
    ref: str,
    hosts: dict[str, HostAddr] | None = None,
    _seen: tuple[str, ...] = (),
    _memo: dict[str, tuple[IPNet, ...]] | None = None,
) -> tuple[IPNet, ...]:
    """A host, zone, address object or CIDR/IP literal (either family) → networks (names
    expanded once). A host or a zone stands for its addresses in every family it has."""
    hosts = host_addresses(policy) if hosts is None else hosts
    if ref in hosts:
        return tuple(ipaddress.ip_network(a) for a in hosts[ref].addresses)
    if ref in policy.zones:
        return policy.zones[ref].subnets
    if ref in policy.addresses:
        memo = {} if _memo is None else _memo
        if ref in memo:
            return memo[ref]
        _check_nesting("address", ref, _seen)
        nets: list[IPNet] = []
        for item in policy.addresses[ref]:
            nets.extend(resolve_address(policy, item, hosts, (*_seen, ref), memo))
        memo[ref] = collapse(nets)
        return memo[ref]
    net = address_literal(ref)
    if net is None:
        near = did_you_mean(ref, [*hosts, *policy.zones, *policy.addresses])
        raise Unresolved(
            f"unknown address {ref!r}",
            f"{near}use a host, a zone, a name under addresses, or a CIDR like 10.0.0.0/8 or "
            "fd00::/48",
        )
    return (net,)


class End(NamedTuple):
    """One end of an intent line: the hosts it names and the address families it speaks of."""

    hosts: tuple[str, ...]
    families: frozenset[int]
    net: IPNet | None = None  # when the end is an address or prefix


def intent_end(policy: Policy, ref: str, hosts: dict[str, HostAddr] | None = None) -> End:
    """A zone, a host, or an address/prefix of either family (its hosts, in that family only;
    it must lie in one zone) → the hosts and families it stands for."""
    hosts = host_addresses(policy) if hosts is None else hosts
    if ref in policy.zones:
        zone = policy.zones[ref]
        return End(tuple(h.name for h in zone.hosts), families_of(zone.subnets))
    if ref in hosts:
        return End((ref,), frozenset(a.version for a in hosts[ref].addresses))
    net = address_literal(ref)
    if net is None:
        raise Unresolved(
            f"unknown zone or host {ref!r}",
            f"{did_you_mean(ref, [*policy.zones, *hosts])}zones: {', '.join(policy.zones)}; or "
            "a host name, or an address like 10.1.0.5 or fd00:10::/64",
        )
    inside = [
        (name, h.zone)
        for name, h in hosts.items()
        if (a := h.v4 if net.version == 4 else h.v6) is not None and a in net
    ]
    zones = sorted({z for _, z in inside}, key=list(policy.zones).index)
    if not inside:
        raise Unresolved(f"no host has an address in {ref}", "name a zone, a host or its address")
    if len(zones) > 1:
        raise Unresolved(
            f"{ref} holds hosts of zones {', '.join(zones)}", "write one line per zone"
        )
    return End(tuple(n for n, _ in inside), frozenset({net.version}), net)


def zone_refs(policy: Policy, refs: list[str]) -> tuple[str, ...]:
    """`from`/`to` of a rule: zone names or `any` → zone names (in file order)."""
    if "any" in refs:
        return tuple(policy.zones)
    for ref in refs:
        if ref not in policy.zones:
            known = ", ".join(policy.zones)
            near = did_you_mean(ref, [*policy.zones, "any"])
            raise Unresolved(f"unknown zone {ref!r}", f"{near}zones are: {known}, or any")
    return tuple(z for z in policy.zones if z in refs)
