"""Set arithmetic on address and port space, exact: complements for negate-* fields. Address
sets may hold both families; each is worked out on its own (they never overlap)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from twin.policy.resolve import IPNet, PortRange, collapse, merge_ranges

FULL: dict[str, tuple[int, int]] = {"tcp": (1, 65535), "udp": (1, 65535), "icmp": (0, 0)}


def exclude(universe: Iterable[IPNet], remove: Iterable[IPNet]) -> list[IPNet]:
    """`universe` minus `remove`, as the fewest CIDR blocks (sorted, IPv4 first)."""
    removed = collapse(remove)
    out: list[IPNet] = []
    for block in collapse(universe):
        pieces = [block]
        for r in removed:
            if r.version != block.version:
                continue
            nxt: list[IPNet] = []
            for p in pieces:
                if p.subnet_of(r):  # type: ignore[arg-type]  # same family
                    continue
                if r.subnet_of(p):  # type: ignore[arg-type]
                    nxt.extend(p.address_exclude(r))  # type: ignore[arg-type]
                else:
                    nxt.append(p)
            pieces = nxt
        out.extend(pieces)
    return list(collapse(out))


def intersect_nets(a: Iterable[IPNet], b: Iterable[IPNet]) -> list[IPNet]:
    out: list[IPNet] = []
    bl = list(b)
    for x in a:
        for y in bl:
            if x.version != y.version:
                continue
            if x.subnet_of(y):  # type: ignore[arg-type]  # same family
                out.append(x)
            elif y.subnet_of(x):  # type: ignore[arg-type]
                out.append(y)
    return list(collapse(out))


def range_to_nets(first: str, last: str) -> list[IPNet]:
    """An address range of either family → the fewest CIDR blocks."""
    lo, hi = ipaddress.ip_address(first), ipaddress.ip_address(last)
    if lo.version != hi.version or lo > hi:  # type: ignore[operator,unused-ignore]
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
