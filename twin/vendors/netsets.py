"""Set arithmetic on address and port space, exact: complements for negate-* fields."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from twin.policy.resolve import IPv4Net, PortRange, merge_ranges

FULL: dict[str, tuple[int, int]] = {"tcp": (1, 65535), "udp": (1, 65535), "icmp": (0, 0)}


def exclude(universe: Iterable[IPv4Net], remove: Iterable[IPv4Net]) -> list[IPv4Net]:
    """`universe` minus `remove`, as the fewest CIDR blocks (sorted)."""
    removed = list(ipaddress.collapse_addresses(remove))
    out: list[IPv4Net] = []
    for block in ipaddress.collapse_addresses(universe):
        pieces = [block]
        for r in removed:
            nxt: list[IPv4Net] = []
            for p in pieces:
                if p.subnet_of(r):
                    continue
                if r.subnet_of(p):
                    nxt.extend(p.address_exclude(r))
                else:
                    nxt.append(p)
            pieces = nxt
        out.extend(pieces)
    return list(ipaddress.collapse_addresses(out))


def intersect_nets(a: Iterable[IPv4Net], b: Iterable[IPv4Net]) -> list[IPv4Net]:
    out: list[IPv4Net] = []
    bl = list(b)
    for x in a:
        for y in bl:
            if x.subnet_of(y):
                out.append(x)
            elif y.subnet_of(x):
                out.append(y)
    return list(ipaddress.collapse_addresses(out))


def range_to_nets(first: str, last: str) -> list[IPv4Net]:
    lo, hi = ipaddress.IPv4Address(first), ipaddress.IPv4Address(last)
    if lo > hi:
        raise ValueError(f"empty range {first}-{last}")
    return list(ipaddress.summarize_address_range(lo, hi))


def complement_ports(ranges: Iterable[PortRange]) -> tuple[PortRange, ...]:
    """tcp/udp/icmp minus `ranges` (other IP protocols are out of twin's reach)."""
    merged = merge_ranges(list(ranges))
    out: list[PortRange] = []
    for proto, (lo, hi) in FULL.items():
        own = [r for r in merged if r.proto == proto]
        if proto == "icmp":
            if not own:
                out.append(PortRange("icmp"))
            continue
        cursor = lo
        for r in own:
            if r.lo > cursor:
                out.append(PortRange(proto, cursor, r.lo - 1))  # type: ignore[arg-type]
            cursor = max(cursor, r.hi + 1)
        if cursor <= hi:
            out.append(PortRange(proto, cursor, hi))  # type: ignore[arg-type]
    return tuple(out)


def intersect_ports(a: Iterable[PortRange], b: Iterable[PortRange]) -> tuple[PortRange, ...]:
    out: list[PortRange] = []
    bl = list(b)
    for x in a:
        for y in bl:
            if x.proto == y.proto and max(x.lo, y.lo) <= min(x.hi, y.hi):
                out.append(PortRange(x.proto, max(x.lo, y.lo), min(x.hi, y.hi)))
    return merge_ranges(out)
