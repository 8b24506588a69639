"""Sweeps (pure): which ports to probe between which hosts, and what the policy and the intent
say about every one of them — in port ranges, never one object per port.

A sweep target is one source host, one destination host and one protocol with its ports:
`--ports all` is TCP 1-65535, UDP 1-65535 and ICMP; `top1000` is 1,000 ports per protocol
(every port the policy names, the lateral-movement set, common high service ports, then the
lowest ports); a LIST is `22,80,8000-8100`. Zone pairs are `--from` × `--to` (every ordered pair
of different zones by default); one host pair per zone pair (each zone's first host), or every
host pair with `--matrix full`.

`segments` splits a target's ports where the first-match rule or the set of intent lines
covering them changes: a full TCP sweep of the six-zone reference is a handful of segments.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from twin.errors import UsageError, did_you_mean
from twin.plan.flows import LATERAL, hosts_of, probe_ports
from twin.plan.plan import Plan, RulePlan
from twin.policy.model import Verdict
from twin.policy.names import intent_names
from twin.policy.resolve import PortRange, resolve_service

ALL = range(1, 65536)
TOP = 1000
COMMON_HIGH = (
    1080, 1433, 1521, 1883, 2049, 2181, 2375, 2376, 2379, 3000, 3128, 3268, 3306, 3389, 4443,
    5000, 5060, 5432, 5601, 5672, 5900, 5985, 5986, 6379, 6443, 7001, 8000, 8008, 8080, 8081,
    8443, 8888, 9000, 9090, 9092, 9200, 9300, 9418, 10250, 11211, 15672, 27017,
)  # fmt: skip
LIST = re.compile(r"\A\d+(-\d+)?(,\d+(-\d+)?)*\Z")


@dataclass(frozen=True)
class SweepTarget:
    src: str
    dst: str
    src_zone: str
    dst_zone: str
    proto: str  # tcp | udp | icmp
    ports: Sequence[int]  # icmp: (0,)


@dataclass(frozen=True)
class Segment:
    """Ports lo..hi of a target, all decided by one rule and covered by the same intent lines."""

    lo: int
    hi: int
    rule: RulePlan
    intents: tuple[tuple[str, Verdict], ...]  # (name, verdict) of the lines covering them


def parse_ports(spec: str, plan: Plan) -> dict[str, Sequence[int]]:
    """`all`, `top1000` or a LIST → the ports per protocol (icmp: one probe, port 0)."""
    if spec == "all":
        return {"tcp": ALL, "udp": ALL, "icmp": (0,)}
    if spec == "top1000":
        return {proto: top_ports(plan, proto) for proto in ("tcp", "udp")} | {"icmp": (0,)}
    if not LIST.fullmatch(spec):
        raise UsageError(
            f"--ports {spec!r}: all, top1000, or a list of ports and ranges like 22,80,8000-8100"
        )
    ports: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        a, b = int(lo), int(hi or lo)
        if not 1 <= a <= b <= 65535:
            raise UsageError(f"--ports {spec!r}: {part} is not within 1-65535 (low-high)")
        ports.update(range(a, b + 1))
    listed = sorted(ports)
    return {"tcp": listed, "udp": listed}


def top_ports(plan: Plan, proto: str) -> list[int]:
    """1,000 ports: the policy's and the lateral set's first, then common high service ports,
    then the lowest ports not yet in."""
    named = {p for pr, p in (*probe_ports(plan), *LATERAL) if pr == proto}
    chosen = sorted(named)[:TOP]
    seen = set(chosen)
    for port in (*COMMON_HIGH, *ALL):
        if len(chosen) >= TOP:
            break
        if port not in seen:
            chosen.append(port)
            seen.add(port)
    return sorted(chosen)


def plan_sweep(
    plan: Plan,
    ports: str,
    sources: Sequence[str] = (),
    destinations: Sequence[str] = (),
    matrix: str = "zones",
) -> list[SweepTarget]:
    """Every target: each ordered zone pair of `sources` × `destinations` (default: every zone),
    different zones only; one host pair per zone pair, or every host pair (`matrix` full)."""
    zones = [z.name for z in plan.zones]
    for option, given in (("--from", sources), ("--to", destinations)):
        unknown = [z for z in given if z not in plan.by_zone]
        if unknown:
            raise UsageError(
                f"{option} {unknown[0]!r}: not a zone of lab {plan.lab} "
                f"({did_you_mean(unknown[0], zones)}zones: {', '.join(zones)})"
            )
    by_proto = parse_ports(ports, plan)
    out = []
    for sz in sources or zones:
        for dz in destinations or zones:
            if sz == dz:
                continue
            # sweeps go over IPv4 (a dual-stack twin's IPv6 is probed by the matrix)
            srcs, dsts = ([h for h in hosts_of(plan, z) if plan.by_host[h].address is not None]
                          for z in (sz, dz))  # fmt: skip
            if matrix != "full":
                srcs, dsts = srcs[:1], dsts[:1]
            for s in srcs:
                for d in dsts:
                    out += [SweepTarget(s, d, sz, dz, proto, p) for proto, p in by_proto.items()]
    return out


def segments(plan: Plan, target: SweepTarget) -> list[Segment]:
    """The target's whole port line (1-65535; icmp: 0) cut where the deciding rule or the
    covering intent lines change, in port order."""
    proto = target.proto
    lo_end, hi_end = (0, 0) if proto == "icmp" else (1, 65535)
    cuts = {lo_end, hi_end + 1}
    for rule in plan.by_pair[(target.src_zone, target.dst_zone)]:
        for r in rule.services or ():
            if r.proto == proto:
                cuts.update((r.lo, r.hi + 1))
    covering = _intents(plan, target)
    for _, _, ranges in covering:
        for r in ranges:
            if r.proto == proto:
                cuts.update((r.lo, r.hi + 1))
    points = sorted(c for c in cuts if lo_end <= c <= hi_end + 1)
    out: list[Segment] = []
    for a, b in itertools.pairwise(points):
        rule = plan.decide(target.src, target.dst, proto, a)
        lines = tuple(
            (name, verdict)
            for name, verdict, ranges in covering
            if any(r.proto == proto and r.lo <= a <= r.hi for r in ranges)
        )
        if out and out[-1].rule == rule and out[-1].intents == lines:
            out[-1] = Segment(out[-1].lo, b - 1, rule, lines)
        else:
            out.append(Segment(a, b - 1, rule, lines))
    return out


def _intents(plan: Plan, target: SweepTarget) -> list[tuple[str, Verdict, tuple[PortRange, ...]]]:
    """The allow/block intent lines whose two ends hold the target's hosts."""
    names = intent_names(plan.policy.expect)
    out = []
    for i, exp in enumerate(plan.policy.expect):
        if not exp.flow:
            continue
        if target.src in hosts_of(plan, exp.from_) and target.dst in hosts_of(plan, exp.to):
            out.append((names[i], exp.verdict, resolve_service(plan.policy, exp.service)))
    return out
