"""Stateful and anti-spoofing checks with crafted packets (scapy, from `traffic/crafted.py`).

For a few zone pairs whose traffic the policy allows, two packets no real client would send:
a TCP ACK with no connection behind it (the firewall must drop it as `ct-invalid`) and a SYN
from a host of a third zone carrying the allowed client's address (the firewall must drop it
as `anti-spoofing`). Each is judged by the rule the firewall logged for it. In a dual-stack
twin, as many zone pairs again over IPv6.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from traffic.crafted import Crafted, send_crafted
from traffic.nflog import LogRecord
from twin.plan.flows import PlannedFlow
from twin.plan.plan import Plan
from twin.policy.model import ANTI_SPOOFING, CT_INVALID, Verdict

PAIRS = 4  # zone pairs checked (per address family)


@dataclass
class CraftedResult:
    kind: str  # stray-ack | spoofed-syn | link-local | unplanned-address (twin.verify.bypass)
    sender: str  # the host that sent it
    src: str  # the source address written in the packet
    dst: str
    port: int
    expected_rule: str
    rule: str  # what the firewall logged ("" if nothing)
    ok: bool
    observed: str = ""  # the bypass check: what came back (it must be blocked)
    proto: str = "tcp"


@dataclass(frozen=True)
class _Planned:
    packet: Crafted
    kind: str
    sender: str
    dst_host: str
    expected: str


def plan_crafted(plan: Plan, flows: list[PlannedFlow], netns: dict[str, str]) -> list[_Planned]:
    """`netns`: host → its namespace file."""
    rnd = random.Random()
    out: list[_Planned] = []
    seen: set[tuple[str, str, int]] = set()
    for f in flows:
        pair = (f.src_zone, f.dst_zone, f.flow.family)  # each family: PAIRS zone pairs
        if f.predicted is not Verdict.allow or f.flow.proto != "tcp" or f.src_zone == f.dst_zone:
            continue
        if pair in seen or sum(p[2] == f.flow.family for p in seen) == PAIRS:
            continue
        seen.add(pair)
        src, dst = plan.by_host[f.flow.src], plan.by_host[f.flow.dst]
        family = f.flow.family
        s_addr, d_addr = str(src.addr(family)), str(dst.addr(family))
        sport = rnd.randrange(20000, 30000)
        out.append(_Planned(
            Crafted(netns[src.name], s_addr, d_addr, f.flow.port, sport, "A"),
            "stray-ack", src.name, dst.name, CT_INVALID,
        ))  # fmt: skip
        third = next((h for h in plan.hosts if h.zone not in pair[:2] and family in h.families),
                     None)  # fmt: skip
        if third is not None:
            out.append(_Planned(
                Crafted(netns[third.name], s_addr, d_addr, f.flow.port, sport + 1, "S"),
                "spoofed-syn", third.name, dst.name, ANTI_SPOOFING,
            ))  # fmt: skip
    return out


def send(planned: list[_Planned]) -> None:
    send_crafted([p.packet for p in planned])


def judge_crafted(planned: list[_Planned], records: list[LogRecord]) -> list[CraftedResult]:
    logged = {(r.src, r.dst, r.sport, r.dport): r.prefix for r in records if r.proto == "tcp"}
    out = []
    for p in planned:
        c = p.packet
        rule = logged.get((c.src, c.dst, c.sport, c.dport), "")
        out.append(CraftedResult(
            p.kind, p.sender, c.src, p.dst_host, c.dport, p.expected, rule, rule == p.expected,
        ))  # fmt: skip
    return out
