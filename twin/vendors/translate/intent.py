"""Intent from the device: one sample flow per imported rule, as `expect:` lines marked derived.

For each rule the import kept (exact or approximated), a flow from a host its source matches to
a host its destination matches, on its first service; a host is added where the zone has none
on such an address. The line's verdict is what the *device* decides for that flow, walking the
vendor's own rule order: a sample that a skipped rule, or an approximated rule whose device
meaning may differ, could decide is left out (the device's answer is not known), and counted.
So an imported policy is testable at once, and a later edit shows its blast radius.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from twin.plan.build import build_plan
from twin.plan.plan import Plan, RulePlan
from twin.policy.load import validate_policy
from twin.policy.model import Action, Policy
from twin.policy.resolve import IPNet, port_text
from twin.vendors.report import Direction, ImportReport, Kind, Outcome, RuleOutcome
from twin.vendors.translate.names import Namespace

MAX_HOSTS_PER_ZONE = 8
ANY_SERVICE_SAMPLE = ("tcp", 443)


@dataclass(frozen=True)
class Sample:
    outcome: RuleOutcome
    rule: str  # the twin rule it samples
    src: str
    dst: str
    proto: str
    port: int
    family: int = 4

    @property
    def service(self) -> str:
        return port_text(self.proto, self.port)


def derive(
    data: dict[str, Any], policy: Policy, report: ImportReport, names: Namespace, file: str
) -> Policy:
    """Add hosts and derived `expect:` lines to `data`; the policy validated again."""
    plan = build_plan(policy)
    wanted: list[tuple[RuleOutcome, RulePlan, str, str, Addr | None, Addr | None, str,
                       int]] = []  # fmt: skip
    by_name = {r.name: r for r in plan.rules}
    for o in report.rules:
        if o.outcome not in (Outcome.exact, Outcome.approximated) or not o.twin_rules:
            continue
        rp = by_name.get(o.twin_rules[0])
        if rp is None:
            continue
        pick = _pick(plan, rp)
        if pick is not None:
            wanted.append((o, rp, *pick))
    samples: list[Sample] = []
    for o, rp, sz, dz, s_addr, d_addr, proto, port in wanted:
        src = _host(data, plan, names, sz, s_addr, None)
        dst = _host(data, plan, names, dz, d_addr, src)
        v6 = proto == "icmpv6" or any(x is not None and x.version == 6 for x in (s_addr, d_addr))
        if src is not None and dst is not None:
            samples.append(Sample(o, rp.name, src, dst, proto, port, 6 if v6 else 4))
    policy = validate_policy(data, {}, file)
    plan = build_plan(policy)
    expect: list[dict[str, Any]] = []
    left_out = 0
    taken: set[tuple[str, str, str]] = set()
    for s in samples:
        action = _device_decides(plan, report, s)
        if action is None:
            left_out += 1
            continue
        key = (s.src, s.dst, f"{s.service}/{s.family}")
        if key in taken:
            continue
        taken.add(key)
        ends = (s.src, s.dst)
        if plan.dual_stack:  # a host name speaks of both families: its address, of one
            ends = (
                str(plan.by_host[s.src].addr(s.family)),
                str(plan.by_host[s.dst].addr(s.family)),
            )
        expect.append(
            {
                "name": f"derived.{s.rule}"[:63],
                "from": ends[0],
                "to": ends[1],
                "service": s.service,
                "verdict": "allow" if action is Action.allow else "block",
                "derived": True,
            }
        )
    if expect:
        data["expect"] = expect
    report.counts["expect"] = len(expect)
    if left_out:
        report.add(
            Kind.assumed,
            "intent",
            f"{left_out} sample flows left out of the derived intent: a skipped or approximated "
            "rule could decide them on the device",
        )
    return validate_policy(data, {}, file)


Addr = ipaddress.IPv4Address | ipaddress.IPv6Address


def _pick(plan: Plan, rp: RulePlan) -> tuple[str, str, Addr | None, Addr | None, str, int] | None:
    """A sample flow of the rule: over IPv4 where its addresses allow one, else over IPv6."""
    pairs = [(s, d) for s in sorted(rp.src_zones) for d in sorted(rp.dst_zones)]
    if rp.scope == "rule":
        pairs.sort(key=lambda p: p[0] == p[1])  # another zone first: intrazone needs 2 hosts
    for family in (4, 6) if plan.dual_stack else (4,):
        zones = {z.name: z.subnet if family == 4 else z.subnet6 for z in plan.zones}
        for sz, dz in pairs:
            if sz == dz and sz in plan.flat_zones:
                continue  # hosts of a flat zone never reach the device: nothing of it to sample
            s_addr = _point(rp.sources, zones[sz])
            d_addr = _point(rp.destinations, zones[dz])
            proto, port = _service(rp, family)
            if s_addr is False or d_addr is False or not proto:
                continue
            return sz, dz, _addr(s_addr), _addr(d_addr), proto, port
    return None


def _addr(found: Addr | bool) -> Addr | None:
    """The sample's address (None: any host of the zone will do)."""
    return None if isinstance(found, bool) else found


def _point(nets: tuple[IPNet, ...] | None, zone: IPNet | None) -> Addr | bool:
    """An address of `nets` inside the zone, of its family (True: any host will do; False:
    none)."""
    if zone is None:
        return False
    if nets is None:
        return True
    last = zone[-1] if zone.version == 4 else None  # IPv6 has no broadcast
    for n in nets:
        if n.version == zone.version and zone.subnet_of(n):  # type: ignore[arg-type]
            return True  # the whole zone (0.0.0.0/0 of a one-family `all`): any host will do
        if n.version == zone.version and n.overlaps(zone):
            part = n if n.subnet_of(zone) else zone  # type: ignore[arg-type]
            for cand in (part[0], part[1], part[2]) if part.num_addresses > 2 else (part[0],):
                if cand not in (zone[0], zone[1], last) and cand in n:
                    return cand
    return False


def _service(rp: RulePlan, family: int = 4) -> tuple[str, int]:
    """The rule's first service that exists in `family` (("", 0): none)."""
    if not rp.services:
        return ANY_SERVICE_SAMPLE
    other = "icmpv6" if family == 4 else "icmp"
    first = next((r for r in rp.services if r.proto != other), None)
    return (first.proto, first.lo) if first is not None else ("", 0)


def _host(  # noqa: PLR0917 - where, which zone, which address, not which host
    data: dict[str, Any],
    plan: Plan,
    names: Namespace,
    zone: str,
    addr: Addr | None,
    other: str | None,
) -> str | None:
    hosts = data["zones"][zone]["hosts"]
    key = "address6" if addr is not None and addr.version == 6 else "address"
    own = plan.by_zone[zone].gateway6 if key == "address6" else plan.by_zone[zone].gateway
    for h in hosts:
        if addr is None and h["name"] != other:
            return str(h["name"])
        if addr is not None and _same(h, key, addr, plan):
            return str(h["name"]) if h["name"] != other else None
    if addr is None or len(hosts) >= MAX_HOSTS_PER_ZONE or addr == own:
        return None
    name = names.claim(f"{zone}-h{len(hosts) + 1}", node=True)
    host: dict[str, Any] = {"name": name, key: str(addr)}
    z = plan.by_zone[zone]
    taken = {str(a) for h in plan.hosts if h.zone == zone for a in h.addresses}
    taken |= {str(h.get(k)) for h in hosts for k in ("address", "address6")}
    taken |= {str(z.gateway), str(z.gateway6), str(addr)}
    for kind, net in (("address", z.subnet), ("address6", z.subnet6)):
        if kind != key and net is not None:  # the other family: an address of its own
            host[kind] = str(next(a for a in net.hosts() if str(a) not in taken))
    hosts.append(host)
    return name


def _same(h: dict[str, Any], key: str, addr: Addr, plan: Plan) -> bool:
    """Is `addr` the host's address of its family (given, or the twin's default)?"""
    if h.get(key):
        return ipaddress.ip_address(h[key]) == addr
    planned = plan.by_host.get(str(h["name"]))
    return planned is not None and addr in planned.addresses


def _device_decides(plan: Plan, report: ImportReport, s: Sample) -> Action | None:
    """The device's verdict for the sample, walking its own rule order; None: not known."""
    src, dst = plan.by_host[s.src], plan.by_host[s.dst]
    sz, dz = src.zone, dst.zone
    by_name = {r.name: r for r in plan.rules}
    for o in report.rules:
        if o.outcome in (Outcome.disabled, Outcome.never):
            continue
        if o.outcome is Outcome.skipped:
            if o.direction is Direction.untested:
                continue  # IPv6 only: never an IPv4 flow
            if _covers(o.from_, sz) and _covers(o.to, dz):
                return None
            continue
        a, b = src.addr(s.family), dst.addr(s.family)
        hit = [
            by_name[n]
            for n in o.twin_rules
            if n in by_name
            and by_name[n].applies(sz, dz)
            and by_name[n].matches(a, b, s.proto, s.port)
        ]
        if hit:
            own = o is s.outcome
            if o.outcome is Outcome.exact or o.direction is Direction.block_more or own:
                return hit[0].action
            return None
        if o.outcome is Outcome.approximated and o.direction is not Direction.allow_more:
            return None  # the device's rule may be wider than the twin's
    return plan.decide(s.src, s.dst, s.proto, s.port, s.family).action  # defaults, intrazone


def _covers(zones: tuple[str, ...], zone: str) -> bool:
    return not zones or "any" in zones or zone in zones
