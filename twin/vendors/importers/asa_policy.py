"""ASA access rules → ordered twin rules per (ingress interface, egress interface), exactly.

What the device does with a new flow from interface A to interface B (A ≠ B), ASA 8.3+ routed:
1. same security level and no `same-security-traffic permit inter-interface`: dropped, whatever
   the ACLs say;
2. A's inbound ACL (`access-group X in interface A`), then the global ACL (`access-group X
   global`), first match wins, implicit deny at the end; with neither, the implicit rule:
   permitted from a higher to a lower security level, dropped from lower to higher;
3. what 2 permits must also be permitted by B's outbound ACL (`access-group X out interface B`),
   first match, implicit deny.
Traffic between two hosts of one interface's subnet never crosses the firewall: the twin's
intrazone default is allow. The twin's interzone default (deny) is every implicit deny.

Step 3 is a conjunction of two first-match lists, written as one: an inbound permit becomes, in
order, its intersection with each outbound entry (that entry's action), then a deny of its rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.policy.model import ANY, Action
from twin.policy.resolve import IPv4Net
from twin.vendors.device import Approx, DevRule
from twin.vendors.importers.asa_ace import Ace, Side
from twin.vendors.importers.asa_objects import SvcSet
from twin.vendors.netsets import intersect_nets, intersect_ports


@dataclass
class Zone:
    name: str  # nameif
    level: int
    line: int


@dataclass
class Bindings:
    zones: dict[str, Zone]
    acls: dict[str, list[Ace]]
    inbound: dict[str, str] = field(default_factory=dict)  # nameif → ACL
    outbound: dict[str, str] = field(default_factory=dict)
    global_acl: str | None = None
    same_inter: bool = False


def compose(b: Bindings) -> list[DevRule]:
    rules: list[DevRule] = []
    many = _bound_more_than_once(b)
    for a in b.zones.values():
        dests = [z for z in b.zones.values() if z.name != a.name and _levels_pass(b, a, z)]
        entries = _inbound(b, a.name)
        plain = [z.name for z in dests if z.name not in b.outbound]
        if entries is None:
            lower = [z for z in plain if b.zones[z].level <= a.level]  # equal: inter permitted
            if lower:
                rules.append(_implicit(a, lower))
        else:
            for ace in entries:
                tos = _tos(ace, plain)
                if tos and _from_ok(ace, a.name):
                    rules.append(_rule(ace, _suffix(ace, a, many), [a.name], tos))
        for z in dests:
            if z.name in b.outbound:
                rules.extend(_with_outbound(b, a, z, entries, many))
    return rules


def _levels_pass(b: Bindings, a: Zone, z: Zone) -> bool:
    return a.level != z.level or b.same_inter


def _inbound(b: Bindings, zone: str) -> list[Ace] | None:
    """A's inbound entries then the global ones; None: neither is configured (implicit rule)."""
    names = [n for n in (b.inbound.get(zone), b.global_acl) if n is not None]
    if not names:
        return None
    return [ace for n in names for ace in b.acls.get(n, [])]


def _bound_more_than_once(b: Bindings) -> set[str]:
    count: dict[str, int] = {}
    for acl in [*b.inbound.values(), *b.outbound.values()]:
        count[acl] = count.get(acl, 0) + 1
    return {a for a, n in count.items() if n > 1} | ({b.global_acl} if b.global_acl else set())


def _suffix(ace: Ace, a: Zone, many: set[str]) -> str:
    return ace.name + (f"@{a.name}" if ace.acl in many else "")


def _from_ok(ace: Ace, zone: str) -> bool:
    return ace.src.ifc is None or ace.src.ifc == zone


def _tos(ace: Ace, allowed: list[str]) -> list[str]:
    return [z for z in allowed if ace.dst.ifc is None or ace.dst.ifc == z]


def _implicit(a: Zone, tos: list[str]) -> DevRule:
    return DevRule(
        f"implicit-permit@{a.name}",
        a.line,
        [a.name],
        tos,
        Action.allow,
        description=(
            f"no access-group on {a.name!r} (security-level {a.level}): the ASA permits "
            "traffic to lower security levels"
        ),
    )


def _with_outbound(
    b: Bindings, a: Zone, z: Zone, entries: list[Ace] | None, many: set[str]
) -> list[DevRule]:
    out_acl = b.outbound[z.name]
    outs = [s for s in b.acls.get(out_acl, []) if _from_ok(s, a.name) and _tos(s, [z.name])]
    if entries is None:
        if a.level < z.level or (a.level == z.level and not b.same_inter):
            return []  # the implicit deny decides first
        return [_rule(s, f"{s.name}@{a.name}", [a.name], [z.name]) for s in outs]
    rules: list[DevRule] = []
    for r in entries:
        if not (_from_ok(r, a.name) and _tos(r, [z.name])):
            continue
        name = f"{_suffix(r, a, many)}>{z.name}"
        if r.action is Action.deny:
            rules.append(_rule(r, name, [a.name], [z.name]))
            continue
        for s in outs:
            both = _intersect(r, s)
            if both is not None:
                rules.append(_rule(both, f"{name}&{s.name}", [a.name], [z.name], base=r))
        rest = _rule(r, f"{name}&{out_acl}-implicit-deny", [a.name], [z.name])
        rest.action = Action.deny
        rest.description = f"permitted by {r.name} but not by {out_acl} (out on {z.name})"
        rules.append(rest)
    return rules


def _intersect(r: Ace, s: Ace) -> Ace | None:
    src = _sides(r.src, s.src)
    dst = _sides(r.dst, s.dst)
    if src is None or dst is None:
        return None
    svc = SvcSet()
    for one in (r.svc, s.svc):
        svc.src_ports |= one.src_ports
        svc.icmp_types |= one.icmp_types
        svc.unknown.extend(one.unknown)
    if r.svc.any or s.svc.any:
        other = s.svc if r.svc.any else r.svc
        svc.any, svc.ranges, svc.other = other.any, list(other.ranges), list(other.other)
    else:
        svc.ranges = list(intersect_ports(r.svc.ranges, s.svc.ranges))
        svc.other = [p for p in r.svc.other if p in s.svc.other]
        if not svc.ranges and not svc.other:
            return None
    refs = None if svc.any else [str(x) for x in svc.merged()]
    return Ace(
        s.acl, s.index, s.line, s.action, s.text, src, dst, svc, refs, s.log,
        r.inactive or s.inactive, s.remark, r.time_range or s.time_range,
        [*r.problems, *s.problems],
    )  # fmt: skip


def _sides(x: Side, y: Side) -> Side | None:
    problem = x.problem or y.problem
    if x.ipv6 or y.ipv6:
        return Side([], [], ipv6=True)
    if x.nets is None:
        return Side(y.refs, y.nets, problem=problem)
    if y.nets is None:
        return Side(x.refs, x.nets, problem=problem)
    nets = [n for n in intersect_nets(x.nets, y.nets) if isinstance(n, IPv4Net)]
    if not nets and not problem:
        return None
    return Side([str(n) for n in nets], nets, problem=problem)


def _rule(
    ace: Ace, name: str, froms: list[str], tos: list[str], base: Ace | None = None
) -> DevRule:
    r = DevRule(
        name,
        ace.line,
        froms,
        tos,
        ace.action,
        source=ace.src.refs or [ANY],
        destination=ace.dst.refs or [ANY],
        services=ace.svc_refs if ace.svc_refs is not None else [ANY],
        log=ace.log,
        disabled=ace.inactive,
        description=" ".join(x for x in (ace.remark, f"(with {base.name})" if base else "") if x),
    )
    problems = [*ace.problems, ace.src.problem, ace.dst.problem, *ace.svc.unknown]
    problems = [p for p in problems if p]
    if ace.src.ipv6 or ace.dst.ipv6:
        r.ipv6_only = "an IPv6 address (any6 or an IPv6 literal)"
    svc = ace.svc
    if not svc.any and not svc.ranges and not problems:
        if svc.ipv6:
            r.ipv6_only = "protocol icmp6"
        elif svc.other:
            problems.append(
                f"protocol {', '.join(sorted(set(svc.other)))} only: the twin tests tcp, udp, icmp"
            )
    if problems:
        r.unsupported = "; ".join(dict.fromkeys(problems))
    if svc.src_ports:
        r.approximated.append(Approx("source-port condition not enforced by the twin"))
    if svc.icmp_types:
        r.approximated.append(Approx("ICMP type condition: the twin matches every ICMP type"))
    if ace.time_range:
        r.approximated.append(Approx(f"time-range {ace.time_range}: applied at all times"))
    if svc.other and (svc.ranges or svc.any):
        r.approximated.append(
            Approx(
                f"protocol {', '.join(sorted(set(svc.other)))} also matched: not modelled",
                wider=False,
                narrower=True,
            )
        )
    return r
