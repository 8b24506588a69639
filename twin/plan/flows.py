"""Which flows to send (pure): the zone matrix, intrazone samples, and every intent line.

Ports probed: every port the policy names (rules, services, intent; both ends of a range) plus
the usual lateral-movement ports. Each flow carries the policy's own prediction (first match)
and the intent lines that cover it. A flow has an address family: a host pair sharing two
families is probed over each (IPv4's icmp echo becomes icmpv6 over IPv6).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.plan.plan import Plan, RulePlan
from twin.policy.model import Action, Verdict
from twin.policy.names import intent_names
from twin.policy.resolve import PortRange, Unresolved, intent_end, resolve_service

LATERAL: tuple[tuple[str, int], ...] = (
    ("tcp", 22), ("tcp", 80), ("tcp", 443), ("tcp", 445), ("tcp", 3389),
    ("tcp", 3306), ("tcp", 5432), ("tcp", 8080), ("udp", 53), ("icmp", 0),
)  # fmt: skip

PREDICTED_CLASS = {
    Action.allow: Verdict.allow,
    Action.deny: Verdict.block,
    Action.reject: Verdict.block,
}


@dataclass(frozen=True)
class Flow:
    src: str
    dst: str
    proto: str
    port: int
    family: int = 4  # the address family: 4 or 6


ECHO = {4: ("icmp", 0), 6: ("icmpv6", 0)}


def family_ports(ports: list[tuple[str, int]], family: int) -> list[tuple[str, int]]:
    """The probes of `ports` that exist in `family`: icmp is IPv4's echo, icmpv6 IPv6's."""
    other = ECHO[10 - family]
    return [p for p in ports if p != other]


@dataclass
class PlannedFlow:
    flow: Flow
    src_zone: str
    dst_zone: str
    rule: RulePlan  # the policy's first match
    intents: list[tuple[int, str, Verdict]] = field(default_factory=list)  # (index, name, verdict)

    @property
    def predicted(self) -> Verdict:
        return PREDICTED_CLASS[self.rule.action]


def _concrete(ranges: tuple[PortRange, ...], named: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Ports to probe for a service: ends of each range; for whole protocols, the named ports."""
    out: list[tuple[str, int]] = []
    for r in ranges:
        if r.proto in ("icmp", "icmpv6"):
            out.append((r.proto, 0))
        elif (r.lo, r.hi) == (1, 65535):
            out.extend(p for p in named if p[0] == r.proto)
        else:
            out.extend({(r.proto, r.lo), (r.proto, r.hi)})
    return sorted(set(out))


def probe_ports(plan: Plan) -> list[tuple[str, int]]:
    """Every (proto, port) the policy names, plus the lateral-movement set (icmp and icmpv6:
    each when a host has that family)."""
    policy = plan.policy
    named: set[tuple[str, int]] = {*LATERAL, ECHO[6]}
    refs = [*policy.services, *(e.service for e in policy.expect if e.flow)]
    refs += [s for r in policy.rules for s in (r.services or [])]
    for ref in refs:
        named.update(_concrete(resolve_service(policy, ref), []))
    for family in (4, 6):  # no echo of a family no host speaks
        if not any(family in h.families for h in plan.hosts):
            named.discard(ECHO[family])
    return sorted(named)


FULL_MATRIX_MAX_HOSTS = 64


def hosts_of(plan: Plan, ref: str) -> list[str]:
    """A zone, a host or an address (intent ends) → host names."""
    if ref in plan.by_host:
        return [ref]
    if ref in plan.by_zone:
        return [h.name for h in plan.hosts if h.zone == ref]
    return list(end_of(plan, ref)[0])


def end_of(plan: Plan, ref: str) -> tuple[tuple[str, ...], frozenset[int]]:
    """An intent end → its hosts and the families it speaks of (an address: its own)."""
    try:
        end = intent_end(plan.policy, ref)
    except Unresolved:
        return (), frozenset()
    return end.hosts, end.families


def matrix_mode(plan: Plan, mode: str = "auto") -> str:
    """`full`: every host to every host of other zones; `zones`: one representative host pair
    per ordered zone pair. `auto` is full up to 64 hosts."""
    if mode == "auto":
        return "full" if len(plan.hosts) <= FULL_MATRIX_MAX_HOSTS else "zones"
    return mode


def plan_flows(plan: Plan, mode: str = "auto") -> list[PlannedFlow]:
    """Every flow to probe, each with its predicted rule and the intent lines covering it."""
    full = matrix_mode(plan, mode) == "full"
    ports = probe_ports(plan)
    flows: dict[Flow, PlannedFlow] = {}

    by_family = {f: family_ports(ports, f) for f in (4, 6)}

    def add(src: str, dst: str, proto: str, port: int, family: int) -> PlannedFlow:
        f = Flow(src, dst, proto, port, family)
        if f not in flows:
            s, d = plan.by_host[src], plan.by_host[dst]
            rule = plan.decide(src, dst, proto, port, family)
            flows[f] = PlannedFlow(f, s.zone, d.zone, rule)
        return flows[f]

    def pair(src: str, dst: str, allowed: frozenset[int] = frozenset({4, 6})) -> list[int]:
        s, d = plan.by_host[src], plan.by_host[dst]
        return [f for f in s.families if f in d.families and f in allowed]

    reps = [h for h in plan.hosts if full or h.name == hosts_of(plan, h.zone)[0]]
    for s in reps:
        for d in reps:
            if s.zone != d.zone:
                for family in pair(s.name, d.name):
                    for proto, port in by_family[family]:
                        add(s.name, d.name, proto, port, family)
    for zone in plan.zones:
        members = hosts_of(plan, zone.name)[:2]
        if len(members) == 2:
            for a, b in ((members[0], members[1]), (members[1], members[0])):
                for family in pair(a, b):
                    for proto, port in by_family[family]:
                        add(a, b, proto, port, family)
    names = intent_names(plan.policy.expect)
    for index, exp in enumerate(plan.policy.expect):
        if not exp.flow:
            continue  # an unreachable line is about paths (twin blast), not one flow
        name = names[index]
        (srcs, src_fams), (dsts, dst_fams) = end_of(plan, exp.from_), end_of(plan, exp.to)
        if not full:  # one representative per side, as in the matrix
            srcs, dsts = srcs[:1], dsts[:2] if exp.from_ == exp.to else dsts[:1]
        service = resolve_service(plan.policy, exp.service)
        for src in srcs:
            for dst in dsts:
                if src == dst:
                    continue
                for family in pair(src, dst, src_fams & dst_fams):
                    for proto, port in _concrete(service, by_family[family]):
                        if (proto, port) != ECHO[10 - family]:
                            flow = add(src, dst, proto, port, family)
                            flow.intents.append((index, name, exp.verdict))
    return list(flows.values())


def static_violations(flows: list[PlannedFlow]) -> dict[str, list[PlannedFlow]]:
    """Intent lines the policy itself breaks (no lab needed): name → offending flows."""
    out: dict[str, list[PlannedFlow]] = {}
    for f in flows:
        for _, name, verdict in f.intents:
            if verdict != f.predicted:
                out.setdefault(name, []).append(f)
    return out
