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

from twin.analysis.blast import (
    PathIntent,
    Unreachable,
    check_unreachable,
    path_intents,
    path_line,
)
from twin.analysis.flowspace import (
    Box,
    Change,
    Comparison,
    FlowSpace,
    box_and,
    box_minus,
    compare,
    zone_match,
)
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
    union,
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
    unmatched: tuple[Intent, ...]  # intent broken on addresses the old policy had no zone for
    findings: RuleFindings  # of the new policy
    known: frozenset[str]  # findings the old policy had already
    paths_opened: tuple[Unreachable, ...] = ()  # unreachable lines a path of the new policy breaks
    paths_open: tuple[Unreachable, ...] = ()  # unreachable lines the old policy broke already
    unverifiable: tuple[Unverifiable, ...] = ()  # old intent the new policy cannot be checked on
    hosts_renamed: tuple[tuple[str, str], ...] = ()  # (old, new): the same addresses
    rules_renamed: tuple[tuple[str, str], ...] = ()  # (old, new): the same rule otherwise

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
    fresh = normalize(r for _, added in comparison.added for r in added)
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
        broken = _broken(b, intent)
        # broken on addresses the old policy had no zone for (and no breach shows it)
        if _uncovered([x for x in broken if intersect(x[0], fresh) or intersect(x[1], fresh)],
                      [f.box for f in found]):  # fmt: skip
            unmatched.append(intent)
        elif broken and not found:
            already.append(intent)
    findings = check_rules(b)
    opened, open_before = _paths(old, new, b, lost)
    return DiffResult(
        comparison, tuple(breaches), tuple(already), tuple(unmatched), findings,
        _known(a, findings), opened, open_before, tuple(lost), _hosts_renamed(old, new),
        _rules_renamed(old.policy, new.policy, dict(zone_match(a.zones, b.zones))),
    )  # fmt: skip


def _hosts_renamed(old: Plan, new: Plan) -> tuple[tuple[str, str], ...]:
    """Hosts of the old policy whose addresses a host of another name holds, alone."""
    by_addresses = {frozenset(h.addresses): h.name for h in new.hosts}
    return tuple(
        (h.name, by_addresses[key])
        for h in old.hosts
        if h.name not in new.by_host and (key := frozenset(h.addresses)) in by_addresses
    )


def _rules_renamed(old: Policy, new: Policy, zones: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Rules of the old policy found in the new one under another name, nothing else changed
    (zones named as renamed). A renamed rule decides the same flows; its counters, log prefix
    and the name logs and reports give it are new."""
    old_names, new_names = {r.name for r in old.rules}, {x.name for x in new.rules}
    gone = [r for r in old.rules if r.name not in new_names]
    came = {x.name: x for x in new.rules if x.name not in old_names}
    out = []
    for r in gone:
        moved = {"from_": [zones.get(z, z) for z in r.from_], "to": [zones.get(z, z) for z in r.to]}
        for name, x in came.items():
            if r.model_copy(update=moved | {"name": name}) == x:
                out.append((r.name, name))
                del came[name]
                break
    return tuple(out)


def _paths(
    old: Plan, new: Plan, space: FlowSpace, unverifiable: list[Unverifiable]
) -> tuple[tuple[Unreachable, ...], tuple[Unreachable, ...]]:
    """The `unreachable` lines of both files that the new policy breaks: by the change, or
    already before it. The old file's lines are placed on the new policy's hosts by address
    (and by name, as flow lines are); one that cannot be is unverifiable. Reachability is
    computed only when such lines exist."""
    lines = path_intents(new.policy)
    seen = {(x.src, x.dst, x.last) for x in lines}
    original: dict[tuple[str, str], PathIntent] = {}
    for x in path_intents(old.policy):
        if (x.src, x.dst, x.last) in seen:
            continue
        placed = _path_line(x, old, space)
        if isinstance(placed, str):
            unverifiable.append(Unverifiable(x.name, x.text, placed))
        else:
            lines.append(placed)
            original[(x.name, x.text)] = x
    broken = [c for c in check_unreachable(Reach(new), lines=lines) if not c.holds] if lines else []
    if not broken:
        return (), ()
    names = {(c.name, c.text) for c in broken}
    before = {
        (c.name, c.text): c.holds
        for c in check_unreachable(
            Reach(old),
            lines=[original.get((x.name, x.text), x) for x in lines if (x.name, x.text) in names],
        )
    }
    opened = tuple(c for c in broken if before.get((c.name, c.text), True))
    return opened, tuple(c for c in broken if c not in opened)


def _path_line(line: PathIntent, old: Plan, space: FlowSpace) -> PathIntent | str:
    """An old `unreachable` line on the new policy: each end → the new policy's hosts whose
    addresses its old addresses hold (or that carry its name, re-addressed); why, when some
    of its addresses are in no zone of the new policy and its name is gone."""
    match = zone_match({z.name: nets_ranges(z.nets) for z in old.zones}, space.zones)
    ends: list[tuple[str, ...]] = []
    for ref in (line.src, line.dst):
        assert isinstance(ref, str)
        placed = _place_end(ref, *_end(old, ref), match, space)
        if isinstance(placed, str):
            return placed
        hosts = tuple(
            h.name
            for h in space.plan.hosts
            if any(z == h.zone and contains(r, addr_key(a)) for z, r in placed for a in h.addresses)
        )
        if not hosts:
            return f"{ref} is gone: no host of the new policy has its addresses"
        ends.append(hosts)
    return dataclasses.replace(line, src=ends[0], dst=ends[1])


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
    address, and by name where a zone or host kept its name but not its addresses. A line one of
    whose ends can be placed neither way (addresses in no zone of the other plan, name gone) is
    unverifiable."""
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
) -> list[tuple[str, Ranges]] | str:
    """One end of an old intent line in the new policy: the (zone, addresses) it spans there —
    by address (its old addresses, wherever they are now), and by name when its zone or host
    kept its name but not its addresses; why, when some of its addresses are in no zone of the
    new policy and its name is gone."""
    if zone in match and not _readdressed_host(ref, ranges, space.plan):
        return [(match[zone], ranges)]
    pieces = [(name, cut) for name, held in space.zones.items() if (cut := intersect(ranges, held))]
    named = _by_name(ref, zone, match, space)
    if named is not None:
        pieces.append(named)
    left = subtract(ranges, normalize(tuple(r for _, cut in pieces for r in cut)))
    if left and named is None:
        where = ", ".join(str(n) for n in range_nets(left))
        what = f"zone {ref}" if ref == zone else f"host {ref} (zone {zone})"
        return f"{what} is gone and no zone of the new policy holds {where}"
    joined: dict[str, Ranges] = {}
    for z, r in pieces:
        joined[z] = union(joined[z], r) if z in joined else r
    return list(joined.items())


def _by_name(
    ref: str, zone: str, match: dict[str, str], space: FlowSpace
) -> tuple[str, Ranges] | None:
    """The zone or host the new policy holds under the name of a re-addressed one."""
    host = space.plan.by_host.get(ref)
    if host is not None:
        return host.zone, normalize((addr_key(a), addr_key(a)) for a in host.addresses)
    if ref == zone and ref in space.zones and ref not in match.values():
        return ref, space.zones[ref]
    return None


def _readdressed_host(ref: str, ranges: Ranges, new: Plan) -> bool:
    """A host whose old addresses are no host's in the new policy, and whose name still is."""
    host = new.by_host.get(ref)
    if host is None:
        return False
    return normalize((addr_key(a), addr_key(a)) for a in host.addresses) != ranges and not any(
        contains(ranges, addr_key(a)) for h in new.hosts for a in h.addresses
    )


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


def _uncovered(boxes: list[Box], cover: list[Box]) -> bool:
    """Whether some flow of `boxes` lies in none of `cover`."""
    for c in cover:
        boxes = [rest for b in boxes for rest in box_minus(b, c)]
    return bool(boxes)


def _broken(space: FlowSpace, intent: Intent) -> list[Box]:
    """The flows of the intent line the policy decides against it."""
    return [
        cut
        for c in space.classes(intent.src_zone, intent.dst_zone)
        if DECISION[c.action] != intent.verdict and (cut := box_and(c.box, intent.box)) is not None
    ]


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
        "zones_moved": [{"old": a, "new": list(b)} for a, b in result.comparison.moved],
        "not_compared": {
            key: [{"zone": z, "addresses": [str(n) for n in range_nets(r)]} for z, r in held]
            for key, held in (("gone", result.comparison.gone), ("added", result.comparison.added))
        },
        "hosts_renamed": [{"old": a, "new": b} for a, b in result.hosts_renamed],
        "rules_renamed": [{"old": a, "new": b} for a, b in result.rules_renamed],
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
