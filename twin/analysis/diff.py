"""diff: what a policy change does, statically and exactly (no lab). Pure.

`diff_plans(old, new)` → every flow class whose decision changes (newly blocked, newly allowed,
blocked differently), each with its old and new deciding rule; the intent lines the change
breaks (first in every report); intent lines broken before the change already; the rules of
the new policy that can never match or change nothing; the `unreachable` lines a new path of
any length breaks (`blast`). The intent is that of both files, so a change cannot slip through
by deleting the line it breaks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from twin.analysis.blast import Unreachable, check_unreachable, path_intents, path_line
from twin.analysis.flowspace import Box, Change, Comparison, FlowSpace, box_and, compare, zone_match
from twin.analysis.intervals import (
    Ranges,
    addr_key,
    contains,
    intersect,
    nets_ranges,
    normalize,
    of_family,
    range_nets,
    service_label,
    service_ranges,
    subtract,
)
from twin.analysis.reach import Reach
from twin.analysis.rulecheck import RuleFindings, check_rules, placements, rule_status
from twin.plan.plan import Plan
from twin.policy.model import Action, Policy, Verdict
from twin.policy.names import intent_names
from twin.policy.resolve import intent_end, resolve_service

DECISION = {Action.allow: Verdict.allow, Action.deny: Verdict.block, Action.reject: Verdict.block}


@dataclass(frozen=True)
class Intent:
    name: str
    text: str
    src_zone: str
    dst_zone: str
    box: Box
    verdict: Verdict


@dataclass(frozen=True)
class Unverifiable:
    """An intent line of the old policy naming what the new one lacks, whose addresses no one
    zone of the new policy holds: it cannot be checked, and the diff fails (exit 1)."""

    name: str
    text: str
    why: str


@dataclass(frozen=True)
class Breach:
    """Part of a change that contradicts an intent line."""

    intent: Intent
    change: Change
    box: Box


@dataclass(frozen=True)
class DiffResult:
    comparison: Comparison
    breaches: tuple[Breach, ...]  # intent broken by the change
    already_broken: tuple[Intent, ...]  # intent the new policy breaks where nothing changed
    unmatched: tuple[Intent, ...]  # intent broken on zones the change adds or re-addresses
    findings: RuleFindings  # of the new policy
    known: frozenset[str]  # findings the old policy had already
    paths_opened: tuple[Unreachable, ...] = ()  # unreachable lines a path of the new policy breaks
    paths_open: tuple[Unreachable, ...] = ()  # unreachable lines the old policy broke already
    unverifiable: tuple[Unverifiable, ...] = ()  # old intent the new policy cannot be checked on

    @property
    def violates_intent(self) -> bool:
        return bool(self.breaches or self.unmatched or self.paths_opened)

    @property
    def exit_code(self) -> int:
        """1 when the change breaks intent or leaves intent unverifiable, else 0."""
        return 1 if self.violates_intent or self.unverifiable else 0

    @property
    def changes(self) -> tuple[Change, ...]:
        return self.comparison.changes


def diff_plans(old: Plan, new: Plan) -> DiffResult:
    a, b = FlowSpace(old), FlowSpace(new)
    comparison = compare(a, b)
    lost: list[Unverifiable] = []
    intents = merged_intents(old, new, b, lost)
    breaches: list[Breach] = []
    already: list[Intent] = []
    unmatched: list[Intent] = []
    moved = set(comparison.zones_changed)
    for intent in intents:
        found = [
            Breach(intent, c, cut)
            for c in comparison.changes
            if (c.src_zone, c.dst_zone) == (intent.src_zone, intent.dst_zone)
            and DECISION[c.new_action] != intent.verdict
            and DECISION[c.old_action] == intent.verdict
            and (cut := box_and(c.box, intent.box)) is not None
        ]
        breaches.extend(found)
        if not found and _broken(b, intent):
            zones = {intent.src_zone, intent.dst_zone}
            (unmatched if zones & moved else already).append(intent)
    findings = check_rules(b)
    opened, open_before = _paths(old, new)
    return DiffResult(
        comparison, tuple(breaches), tuple(already), tuple(unmatched), findings,
        _known(a, findings), opened, open_before, tuple(lost),
    )  # fmt: skip


def _paths(old: Plan, new: Plan) -> tuple[tuple[Unreachable, ...], tuple[Unreachable, ...]]:
    """The `unreachable` lines of both files that the new policy breaks: by the change, or
    already before it. Reachability is computed only when such lines exist."""
    lines = path_intents(new.policy)
    seen = {(x.src, x.dst, x.last) for x in lines}
    lines += [x for x in path_intents(old.policy) if (x.src, x.dst, x.last) not in seen]
    broken = [c for c in check_unreachable(Reach(new), lines=lines) if not c.holds] if lines else []
    if not broken:
        return (), ()
    names = {(c.name, c.text) for c in broken}
    before = {
        (c.name, c.text): c.holds
        for c in check_unreachable(
            Reach(old), lines=[x for x in lines if (x.name, x.text) in names]
        )
    }
    opened = tuple(c for c in broken if before.get((c.name, c.text), True))
    return opened, tuple(c for c in broken if c not in opened)


def _known(old: FlowSpace, findings: RuleFindings) -> frozenset[str]:
    """The findings of the new policy that the old one had already (only the zone pairs of
    those rules are computed in the old policy)."""
    where = placements(old)
    return frozenset(n for n in findings.names if rule_status(old, n, where) is not None)


def merged_intents(
    old: Plan, new: Plan, new_space: FlowSpace, unverifiable: list[Unverifiable] | None = None
) -> list[Intent]:
    """The new policy's intent, plus the old lines it lost: deleting the line a change breaks
    does not hide the breach. Old lines are placed in the new policy by address (a renamed
    zone or a removed host is still checked); those that cannot be go to `unverifiable`."""
    intents = intent_lines(new)
    seen = {(i.src_zone, i.dst_zone, i.box, i.verdict) for i in intents}
    return intents + [
        i
        for i in intent_lines(old, new_space, unverifiable)
        if (i.src_zone, i.dst_zone, i.box, i.verdict) not in seen
    ]


def intent_lines(
    plan: Plan, space: FlowSpace | None = None, unverifiable: list[Unverifiable] | None = None
) -> list[Intent]:
    """The plan's `expect:` lines as boxes; with `space` (another plan), placed in its zones by
    address. A line on a zone re-addressed under the same name is left out (that zone is not
    compared); one naming a zone or host the other plan lacks, whose addresses no one of its
    zones holds, is unverifiable."""
    match = zone_match({z.name: nets_ranges(z.nets) for z in plan.zones}, space.zones) if (
        space is not None
    ) else {}  # fmt: skip
    out: list[Intent] = []
    names = intent_names(plan.policy.expect)
    for i, exp in enumerate(plan.policy.expect):
        if not exp.flow:
            continue  # an unreachable line is about paths, not flow classes
        name = names[i]
        text = f"{exp.from_} -> {exp.to} {exp.service}: {exp.verdict.value}"
        ends = [_end(plan, ref) for ref in (exp.from_, exp.to)]
        svc = service_ranges(resolve_service(plan.policy, exp.service))
        if space is None:
            (sz, src), (dz, dst) = ends
            out.append(Intent(name, text, sz, dz, (src, dst, svc), exp.verdict))
            continue
        placed = [_place_end(ref, z, r, match, space) for ref, (z, r) in
                  zip((exp.from_, exp.to), ends, strict=True)]  # fmt: skip
        if any(p is None for p in placed):
            continue
        why = [p for p in placed if isinstance(p, str)]
        if why:
            if unverifiable is not None:
                unverifiable.append(Unverifiable(name, text, "; ".join(why)))
            continue
        srcs, dsts = (p for p in placed if isinstance(p, list))
        for sz, src in srcs:  # one line per zone pair its addresses now span
            for dz, dst in dsts:
                out.append(Intent(name, text, sz, dz, (src, dst, svc), exp.verdict))
    return out


def _place_end(
    ref: str, zone: str, ranges: Ranges, match: dict[str, str], space: FlowSpace
) -> list[tuple[str, Ranges]] | str | None:
    """One end of an old intent line in the new policy, by address: the (zone, addresses) it
    spans there; None when its zone was re-addressed under the same name; why, when some of its
    addresses are in no zone of the new policy."""
    if zone in match:
        return [(match[zone], ranges)]
    if zone in space.zones:
        return None
    pieces = [(name, cut) for name, held in space.zones.items() if (cut := intersect(ranges, held))]
    left = subtract(ranges, normalize(tuple(r for _, cut in pieces for r in cut)))
    if not left:
        return pieces
    where = ", ".join(str(n) for n in range_nets(left))
    what = f"zone {ref}" if ref == zone else f"host {ref} (zone {zone})"
    return f"{what} is gone and no zone of the new policy holds {where}"


def _end(plan: Plan, ref: str) -> tuple[str, Ranges]:
    """An intent end → its zone and its addresses (a host: each of its addresses; an address
    or prefix: the part of it in its zone)."""
    host = plan.by_host.get(ref)
    if host is not None:
        return host.zone, normalize((addr_key(a), addr_key(a)) for a in host.addresses)
    if ref in plan.by_zone:
        return ref, nets_ranges(plan.by_zone[ref].nets)
    end = intent_end(plan.policy, ref)
    zone = plan.by_host[end.hosts[0]].zone
    assert end.net is not None
    return zone, intersect(nets_ranges([end.net]), nets_ranges(plan.by_zone[zone].nets))


def _broken(space: FlowSpace, intent: Intent) -> bool:
    return any(
        DECISION[c.action] != intent.verdict and box_and(c.box, intent.box) is not None
        for c in space.classes(intent.src_zone, intent.dst_zone)
    )


# --- presentation -------------------------------------------------------------------------


def addresses(plan: Plan, zone: str, ranges: Ranges) -> list[str]:
    """A zone's name when the set is the whole zone (`web (IPv6)`: all of one family of a
    dual-stack zone); else CIDRs, host names for hosts."""
    whole = nets_ranges(plan.by_zone[zone].nets)
    if ranges == whole:
        return [zone]
    for family in (4, 6):
        if ranges == of_family(whole, family):
            return [f"{zone} (IPv{family})"]
    hosts = {str(a): h.name for h in plan.hosts if h.zone == zone for a in h.addresses}
    out = []
    for net in range_nets(ranges):
        text = str(net.network_address) if net.num_addresses == 1 else str(net)
        out.append(f"{hosts[text]} ({text})" if text in hosts else text)
    return out


def hosts_in(plan: Plan, zone: str, ranges: Ranges) -> list[str]:
    return [
        h.name
        for h in plan.hosts
        if h.zone == zone and any(contains(ranges, addr_key(a)) for a in h.addresses)
    ]


def change_json(plan: Plan, c: Change, box: Box | None = None) -> dict[str, Any]:
    src, dst, svc = box or c.box
    return {
        "kind": c.kind,
        "src_zone": c.src_zone,
        "dst_zone": c.dst_zone,
        "sources": addresses(plan, c.src_zone, src),
        "destinations": addresses(plan, c.dst_zone, dst),
        "services": service_label(svc),
        "src_hosts": hosts_in(plan, c.src_zone, src),
        "dst_hosts": hosts_in(plan, c.dst_zone, dst),
        "old_rule": c.old_rule,
        "old_action": c.old_action.value,
        "new_rule": c.new_rule,
        "new_action": c.new_action.value,
    }


def diff_json(
    result: DiffResult, new: Plan, old_file: str = "", new_file: str = ""
) -> dict[str, Any]:
    f = result.findings
    by_kind = {k: result.comparison.of_kind(k) for k in ("newly-blocked", "newly-allowed")}
    return {
        "old": old_file,
        "new": new_file,
        "violates_intent": result.violates_intent,
        "intent_violations": [
            {"intent": b.intent.name, "text": b.intent.text, "expects": b.intent.verdict.value}
            | change_json(new, b.change, b.box)
            for b in result.breaches
        ],
        "paths_opened": [_path_json(u) for u in result.paths_opened],
        "already_violated": [{"intent": i.name, "text": i.text} for i in result.already_broken]
        + [_path_json(u) for u in result.paths_open],
        "violated_on_changed_zones": [{"intent": i.name, "text": i.text} for i in result.unmatched],
        "newly_blocked": [change_json(new, c) for c in by_kind["newly-blocked"]],
        "newly_allowed": [change_json(new, c) for c in by_kind["newly-allowed"]],
        "block_changed": [change_json(new, c) for c in result.comparison.of_kind("block-changed")],
        "zones_changed": list(result.comparison.zones_changed),
        "zones_renamed": [{"old": a, "new": b} for a, b in result.comparison.renamed],
        "intent_unverifiable": [
            {"intent": u.name, "text": u.text, "why": u.why} for u in result.unverifiable
        ],
        "shadowed": [
            {"rule": s.rule, "by": list(s.by), "new": s.rule not in result.known}
            for s in f.shadowed
        ],
        "redundant": [
            {
                "rule": r.rule,
                "action": r.action.value,
                "instead": list(r.instead),
                "new": r.rule not in result.known,
            }
            for r in f.redundant
        ],
    }


def _path_json(u: Unreachable) -> dict[str, Any]:
    path = u.path or ()
    return {
        "intent": u.name,
        "text": u.text,
        "path": path_line(path),
        "hops": [dataclasses.asdict(h) for h in path],
    }


def same_topology(a: Policy, b: Policy) -> list[str]:
    """What differs between two policies besides rules, services, addresses and intent."""
    out = []
    if a.firewall != b.firewall:
        out.append("firewall")
    if a.zones != b.zones:
        changed = sorted(z for z in set(a.zones) | set(b.zones) if a.zones.get(z) != b.zones.get(z))
        out.extend(f"zone {z}" for z in changed)
    return out
