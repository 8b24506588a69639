"""Interval sets over integers: the arithmetic under the exact flow-space analysis. Pure.

A `Ranges` is a tuple of inclusive `(lo, hi)` intervals, sorted, disjoint and never adjacent,
so that equal sets have equal tuples. Addresses are IPv4 integers. Services are one line of
integers: tcp port p is p, udp port p is UDP_BASE + p, icmp is the single point ICMP_KEY.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from twin.policy.resolve import IPv4Net, PortRange, Proto

Interval = tuple[int, int]
Ranges = tuple[Interval, ...]

UDP_BASE = 65536
ICMP_KEY = 2 * UDP_BASE
ALL_SERVICES: Ranges = ((1, 65535), (UDP_BASE + 1, ICMP_KEY))  # tcp 1-65535, udp 1-65535, icmp
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


def net_range(net: IPv4Net) -> Interval:
    first = int(net.network_address)
    return (first, first + net.num_addresses - 1)


def nets_ranges(nets: Iterable[IPv4Net]) -> Ranges:
    return normalize(net_range(n) for n in nets)


def range_nets(a: Ranges) -> list[IPv4Net]:
    """The fewest CIDR blocks covering exactly `a`."""
    out: list[IPv4Net] = []
    for lo, hi in a:
        out.extend(
            ipaddress.summarize_address_range(ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi))
        )
    return out


# --- services -------------------------------------------------------------------------------


def service_key(proto: str, port: int) -> int:
    """A probe's (protocol, port) as a point of the service line (icmp ignores the port)."""
    return ICMP_KEY if proto == "icmp" else _BASE[proto] + port


def service_ranges(services: Iterable[PortRange] | None) -> Ranges:
    """A rule's services (None: any protocol) → the service line."""
    if services is None:
        return ALL_SERVICES
    return normalize(
        (ICMP_KEY, ICMP_KEY)
        if s.proto == "icmp"
        else (_BASE[s.proto] + s.lo, _BASE[s.proto] + s.hi)
        for s in services
    )


def port_ranges(a: Ranges) -> list[PortRange]:
    """The service line back to protocol/port ranges (tcp first, then udp, then icmp)."""
    out: list[PortRange] = []
    for proto, base in _BASES:
        for lo, hi in intersect(a, ((base + 1, base + 65535),)):
            out.append(PortRange(proto, lo - base, hi - base))
    if contains(a, ICMP_KEY):
        out.append(PortRange("icmp"))
    return out


def service_label(a: Ranges) -> str:
    """`any`, or e.g. `tcp/22, tcp/8000-8080, udp, icmp`."""
    if a == ALL_SERVICES:
        return "any"
    return ", ".join(str(r) for r in port_ranges(a))
