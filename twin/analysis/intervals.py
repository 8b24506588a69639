"""Interval sets over integers: the arithmetic under the exact flow-space analysis. Pure.

A `Ranges` is a tuple of inclusive `(lo, hi)` intervals, sorted, disjoint and never adjacent,
so that equal sets have equal tuples. Addresses of both families share one line: an IPv4
address is its integer, an IPv6 address its integer plus V6_BASE (2**32), so the two never
overlap and a range never straddles them. Services are one line of integers: tcp port p is p,
udp port p is UDP_BASE + p, icmp (IPv4's echo) the single point ICMP_KEY, icmpv6 ICMP6_KEY.
A flow's family follows from its addresses; `family_services` is what each family can carry.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from twin.policy.resolve import IPAddr, IPNet, PortRange, Proto

Interval = tuple[int, int]
Ranges = tuple[Interval, ...]

UDP_BASE = 65536
ICMP_KEY = 2 * UDP_BASE
ICMP6_KEY = ICMP_KEY + 1
# tcp 1-65535, udp 1-65535, icmp, icmpv6
ALL_SERVICES: Ranges = ((1, 65535), (UDP_BASE + 1, ICMP6_KEY))
SERVICES4: Ranges = ((1, 65535), (UDP_BASE + 1, ICMP_KEY))  # what an IPv4 flow can be
SERVICES6: Ranges = ((1, 65535), (UDP_BASE + 1, UDP_BASE + 65535), (ICMP6_KEY, ICMP6_KEY))
V6_BASE = 1 << 32
FAMILY_SPACE: dict[int, Ranges] = {
    4: ((0, V6_BASE - 1),),
    6: ((V6_BASE, V6_BASE + (1 << 128) - 1),),
}
_BASES: tuple[tuple[Proto, int], ...] = (("tcp", 0), ("udp", UDP_BASE))
_BASE: dict[str, int] = dict(_BASES)


def normalize(intervals: Iterable[Interval]) -> Ranges:
    """Any intervals → the canonical form (sorted, overlapping and adjacent ones joined)."""
    out: list[Interval] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def intersect(a: Ranges, b: Ranges) -> Ranges:
    if len(a) == 1 and len(b) == 1:
        lo, hi = max(a[0][0], b[0][0]), min(a[0][1], b[0][1])
        return ((lo, hi),) if lo <= hi else ()
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def subtract(a: Ranges, b: Ranges) -> Ranges:
    out: list[Interval] = []
    j = 0
    for lo, hi in a:
        while j < len(b) and b[j][1] < lo:
            j += 1
        cur, k = lo, j
        while k < len(b) and b[k][0] <= hi and cur <= hi:
            if b[k][0] > cur:
                out.append((cur, b[k][0] - 1))
            cur = max(cur, b[k][1] + 1)
            k += 1
        if cur <= hi:
            out.append((cur, hi))
    return tuple(out)


def union(a: Ranges, b: Ranges) -> Ranges:
    return normalize((*a, *b))


def size(a: Ranges) -> int:
    return sum(hi - lo + 1 for lo, hi in a)


def contains(a: Ranges, value: int) -> bool:
    return any(lo <= value <= hi for lo, hi in a)


# --- addresses ------------------------------------------------------------------------------


def addr_key(addr: IPAddr) -> int:
    """An address as a point of the address line (IPv6 above every IPv4 address)."""
    return int(addr) + (V6_BASE if addr.version == 6 else 0)


def net_range(net: IPNet) -> Interval:
    first = addr_key(net.network_address)
    return (first, first + net.num_addresses - 1)


def nets_ranges(nets: Iterable[IPNet]) -> Ranges:
    return normalize(net_range(n) for n in nets)


def of_family(a: Ranges, family: int) -> Ranges:
    """The part of an address set in one family."""
    return intersect(a, FAMILY_SPACE[family])


def family_services(family: int) -> Ranges:
    return SERVICES4 if family == 4 else SERVICES6


def range_nets(a: Ranges) -> list[IPNet]:
    """The fewest CIDR blocks covering exactly `a` (IPv4 ones first)."""
    out: list[IPNet] = []
    for lo, hi in of_family(a, 4):
        out.extend(
            ipaddress.summarize_address_range(ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi))
        )
    for lo, hi in of_family(a, 6):
        first, last = ipaddress.IPv6Address(lo - V6_BASE), ipaddress.IPv6Address(hi - V6_BASE)
        out.extend(ipaddress.summarize_address_range(first, last))
    return out


# --- services -------------------------------------------------------------------------------


_ECHO_KEY = {"icmp": ICMP_KEY, "icmpv6": ICMP6_KEY}


def service_key(proto: str, port: int) -> int:
    """A probe's (protocol, port) as a point of the service line (icmp ignores the port)."""
    echo = _ECHO_KEY.get(proto)
    return echo if echo is not None else _BASE[proto] + port


def service_ranges(services: Iterable[PortRange] | None) -> Ranges:
    """A rule's services (None: any protocol) → the service line."""
    if services is None:
        return ALL_SERVICES
    return normalize(
        (_ECHO_KEY[s.proto],) * 2
        if s.proto in _ECHO_KEY
        else (_BASE[s.proto] + s.lo, _BASE[s.proto] + s.hi)
        for s in services
    )


def port_ranges(a: Ranges) -> list[PortRange]:
    """The service line back to protocol/port ranges (tcp, udp, icmp, icmpv6)."""
    out: list[PortRange] = []
    for proto, base in _BASES:
        for lo, hi in intersect(a, ((base + 1, base + 65535),)):
            out.append(PortRange(proto, lo - base, hi - base))
    if contains(a, ICMP_KEY):
        out.append(PortRange("icmp"))
    if contains(a, ICMP6_KEY):
        out.append(PortRange("icmpv6"))
    return out


def service_label(a: Ranges) -> str:
    """`any` (every service, or every service of one family), or e.g. `tcp/22, udp, icmp`."""
    if a in (ALL_SERVICES, SERVICES4, SERVICES6):
        return "any"
    return ", ".join(str(r) for r in port_ranges(a))
