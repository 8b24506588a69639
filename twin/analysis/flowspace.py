"""flowspace: the exact first-match partition of a policy's flow space, per zone pair. Pure.

For a zone pair (S, D) the flow space is, for each address family both zones have,
subnet(S) × subnet(D) × that family's services (tcp and udp ports 1-65535, icmp or icmpv6 as one
point; see `intervals`): one box per family, so no class ever holds a flow that cannot exist (an
IPv4 source with an IPv6 destination, icmpv6 between IPv4 addresses). Walking the pair's rules
in order, each rule takes the part of what is still undecided that it matches (box ∩ rule) and
leaves the rest (box − rule: at most three boxes whose sides are interval sets). Nothing is
sampled: every flow of the pair lies in exactly one class, and the class names the rule that
decides it — the same answer as `Plan.decide`, which the property tests check on random flows.

`compare(old, new)` intersects the classes of two policies wherever the decision (allow, deny,
reject) differs; zone pairs whose rule lists are the same up to names are skipped outright.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from twin.analysis.intervals import (
    ALL_SERVICES,
    V6_BASE,
    Ranges,
    contains,
    family_services,
    intersect,
    nets_ranges,
    normalize,
    of_family,
    service_key,
    service_ranges,
    subtract,
    union,
)
from twin.plan.plan import Plan, RulePlan
from twin.policy.model import Action

Box = tuple[Ranges, Ranges, Ranges]  # sources × destinations × services
Pair = tuple[str, str]
ChangeKind = Literal["newly-blocked", "newly-allowed", "block-changed"]


@dataclass(frozen=True)
class Region:
    """A box of flows inside one zone pair."""

    src_zone: str
    dst_zone: str
    sources: Ranges
    destinations: Ranges
    services: Ranges

    @property
    def box(self) -> Box:
        return (self.sources, self.destinations, self.services)

    def contains(self, src: int, dst: int, service: int) -> bool:
        return (
            contains(self.sources, src)
            and contains(self.destinations, dst)
            and contains(self.services, service)
        )


@dataclass(frozen=True)
class FlowClass(Region):
    """A set of flows of one zone pair decided by one rule."""

    rule: str
    action: Action


@dataclass(frozen=True)
class Placed:
    """A rule narrowed to one zone pair: the box of flows it matches there."""

    rule: RulePlan
    box: Box


def box_and(a: Box, b: Box) -> Box | None:
    s = intersect(a[0], b[0])
    if not s:
        return None
    d = intersect(a[1], b[1])
    if not d:
        return None
    p = intersect(a[2], b[2])
    return (s, d, p) if p else None


def box_minus(a: Box, b: Box, inside: Box | None = None) -> list[Box]:
    """a − b as disjoint boxes; `inside` is a ∩ b when the caller already has it."""
    cut = box_and(a, b) if inside is None else inside
    if cut is None:
        return [a]
    out: list[Box] = []
    if rest := subtract(a[0], b[0]):
        out.append((rest, a[1], a[2]))
    if rest := subtract(a[1], b[1]):
        out.append((cut[0], rest, a[2]))
    if rest := subtract(a[2], b[2]):
        out.append((cut[0], cut[1], rest))
    return out


def first_match(
    placed: tuple[Placed, ...] | list[Placed], domain: Box | list[Box]
) -> list[tuple[Box, RulePlan]]:
    """Split `domain` (a box, or disjoint boxes) by the first rule of `placed` that matches
    each part; what no rule matches is left out."""
    remaining = list(domain) if isinstance(domain, list) else [domain]
    out: list[tuple[Box, RulePlan]] = []
    for p in placed:
        nxt: list[Box] = []
        for box in remaining:
            cut = box_and(box, p.box)
            if cut is None:
                nxt.append(box)
                continue
            out.append((cut, p.rule))
            nxt.extend(box_minus(box, p.box, cut))
        remaining = nxt
        if not remaining:
            break
    return out


def merge_boxes(boxes: list[Box]) -> list[Box]:
    """Join disjoint boxes that agree on two sides (exact: only equal sides are merged)."""
    for axis in (0, 1, 2):
        groups: dict[tuple[Ranges, Ranges], Ranges] = {}
        for b in boxes:
            key = (b[1], b[2]) if axis == 0 else (b[0], b[2]) if axis == 1 else (b[0], b[1])
            groups[key] = union(groups[key], b[axis]) if key in groups else b[axis]
        boxes = [
            (r, k[0], k[1]) if axis == 0 else (k[0], r, k[1]) if axis == 1 else (k[0], k[1], r)
            for k, r in groups.items()
        ]
    return sorted(boxes)


class FlowSpace:
    """The first-match partition of one plan; each zone pair is computed on first use."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.zones: dict[str, Ranges] = {z.name: nets_ranges(z.nets) for z in plan.zones}
        rules = (*plan.rules, plan.flat_rule) if plan.flat_rule else plan.rules
        self.order = {r.name: i for i, r in enumerate(rules)}
        self._placed = _place(plan, self.zones)
        self._classes: dict[Pair, tuple[FlowClass, ...]] = {}

    def pairs(self) -> list[Pair]:
        return list(self._placed)

    def domain(self, src_zone: str, dst_zone: str) -> list[Box]:
        """Every flow that can exist between two zones: a box per family both zones have."""
        out: list[Box] = []
        for family in (4, 6):
            s = of_family(self.zones[src_zone], family)
            d = of_family(self.zones[dst_zone], family)
            if s and d:
                out.append((s, d, family_services(family)))
        return out

    def placed(self, src_zone: str, dst_zone: str) -> tuple[Placed, ...]:
        """The rules that can match in this pair, in order, the pair's default last."""
        return tuple(self._placed[(src_zone, dst_zone)])

    def classes(self, src_zone: str, dst_zone: str) -> tuple[FlowClass, ...]:
        pair = (src_zone, dst_zone)
        if pair not in self._classes:
            pieces = first_match(self._placed[pair], self.domain(*pair))
            by_rule: dict[str, list[Box]] = {}
            rules: dict[str, RulePlan] = {}
            for box, rule in pieces:
                by_rule.setdefault(rule.name, []).append(box)
                rules[rule.name] = rule
            self._classes[pair] = tuple(
                FlowClass(src_zone, dst_zone, *box, name, rules[name].action)
                for name in sorted(by_rule, key=self.order.__getitem__)
                for box in merge_boxes(by_rule[name])
            )
        return self._classes[pair]

    def all_classes(self) -> Iterator[FlowClass]:
        for pair in self._placed:
            yield from self.classes(*pair)

    def zone_of(self, address: int) -> str | None:
        for name, r in self.zones.items():
            if contains(r, address):
                return name
        return None

    def lookup(self, src: int, dst: int, proto: str, port: int) -> FlowClass | None:
        """The class (hence the deciding rule) of one flow; None outside every zone."""
        s, d = self.zone_of(src), self.zone_of(dst)
        if s is None or d is None:
            return None
        key = service_key(proto, port)
        for c in self.classes(s, d):
            if c.contains(src, dst, key):
                return c
        family = 6 if src >= V6_BASE else 4
        if (dst >= V6_BASE) != (family == 6) or not contains(family_services(family), key):
            return None  # no such flow: two families, or the other family's echo
        raise AssertionError("the classes of a pair cover all of it")


def _place(plan: Plan, zones: dict[str, Ranges]) -> dict[Pair, list[Placed]]:
    placed: dict[Pair, list[Placed]] = {(s, d): [] for s in zones for d in zones}
    defaults = [r for r in plan.rules if r.default]
    for rule in plan.rules:
        if rule.default:
            continue
        srcs = None if rule.sources is None else nets_ranges(rule.sources)
        dsts = None if rule.destinations is None else nets_ranges(rule.destinations)
        svc = service_ranges(rule.services)
        for s in rule.src_zones:
            sr = zones[s] if srcs is None else intersect(srcs, zones[s])
            if not sr:
                continue
            for d in rule.dst_zones:
                dr = zones[d] if dsts is None else intersect(dsts, zones[d])
                if dr:
                    placed[(s, d)].append(Placed(rule, (sr, dr, svc)))
    for (s, d), rules in placed.items():
        rule = next(r for r in defaults if r.applies(s, d))
        rules.append(Placed(rule, (zones[s], zones[d], ALL_SERVICES)))
    flat = plan.flat_rule
    if flat is not None:  # it decides everything inside a flat zone, before any rule
        for z in plan.flat_zones:
            placed[(z, z)].insert(0, Placed(flat, (zones[z], zones[z], ALL_SERVICES)))
    return placed


# --- comparing two policies -------------------------------------------------------------------


@dataclass(frozen=True)
class Change(Region):
    """Flows of one zone pair whose decision differs between two policies."""

    old_rule: str
    old_action: Action
    new_rule: str
    new_action: Action

    @property
    def kind(self) -> ChangeKind:
        if self.new_action == Action.allow:
            return "newly-allowed"
        return "newly-blocked" if self.old_action == Action.allow else "block-changed"


@dataclass(frozen=True)
class Comparison:
    old: FlowSpace
    new: FlowSpace
    changes: tuple[Change, ...]  # zones named as in the new policy
    zones_changed: tuple[str, ...]  # zones of either policy with no zone of the same addresses
    renamed: tuple[tuple[str, str], ...] = ()  # (old, new) zone names with the same subnet
    # an old zone re-addressed, split or merged → the new zones holding some of its addresses
    moved: tuple[tuple[str, tuple[str, ...]], ...] = ()
    gone: tuple[tuple[str, Ranges], ...] = ()  # old zone → its addresses in no new zone
    added: tuple[tuple[str, Ranges], ...] = ()  # new zone → its addresses in no old zone

    def of_kind(self, kind: ChangeKind) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    def find(self, src: int, dst: int, proto: str, port: int) -> Change | None:
        key = service_key(proto, port)
        return next((c for c in self.changes if c.contains(src, dst, key)), None)


def compare(old: Plan | FlowSpace, new: Plan | FlowSpace) -> Comparison:
    """Every flow whose decision changes from `old` to `new`, with both rules. Flows are
    compared by address: a renamed, split, merged or re-addressed zone is compared wherever
    its addresses are in a zone of both policies. A flow from or to an address in no old zone
    was blocked (no interface, no route): allowed now, it is newly allowed, its old rule
    `NO_ZONE`. Addresses in no new zone are `gone`; in no old zone, `added`."""
    a = old if isinstance(old, FlowSpace) else FlowSpace(old)
    b = new if isinstance(new, FlowSpace) else FlowSpace(new)
    match = zone_match(a.zones, b.zones)
    changed = tuple(sorted((set(a.zones) - set(match)) | (set(b.zones) - set(match.values()))))
    over = zone_overlap(a.zones, b.zones)
    keyed: dict[Pair, dict[tuple[str, Action, str, Action], list[Box]]] = {}
    for s, d in a.pairs():
        for ns in over[s]:
            for nd in over[d]:
                exact = match.get(s) == ns and match.get(d) == nd
                if exact and _signature(a, s, d) == _signature(b, ns, nd):
                    continue  # same rules on the same addresses: nothing changes
                _pair_changes(a.classes(s, d), b.classes(ns, nd), keyed.setdefault((ns, nd), {}))
    added = dict(_outside(b.zones, a.zones))
    if added:
        _new_addresses(b, added, keyed)
    out = [
        Change(ns, nd, s, d, p, old_rule, old_action, new_rule, new_action)
        for (ns, nd), by_rules in keyed.items()
        for (old_rule, old_action, new_rule, new_action), boxes in by_rules.items()
        for s, d, p in merge_boxes(boxes)
    ]
    renamed = tuple((z, n) for z, n in sorted(match.items()) if z != n)
    moved = tuple((z, tuple(over[z])) for z in sorted(a.zones) if z not in match)
    return Comparison(
        a, b, tuple(out), changed, renamed, moved, _outside(a.zones, b.zones), tuple(added.items())
    )


NO_ZONE = "(no zone)"  # the old "rule" of a flow from or to an address no old zone held


def _new_addresses(
    b: FlowSpace,
    added: dict[str, Ranges],
    keyed: dict[Pair, dict[tuple[str, Action, str, Action], list[Box]]],
) -> None:
    """The flows the new policy allows from or to addresses that were in no zone of the old
    one (no interface, no route: blocked) are newly allowed."""
    for ns, nd in b.pairs():
        fs, fd = added.get(ns, ()), added.get(nd, ())
        if not (fs or fd):
            continue
        for c in b.classes(ns, nd):
            if c.action != Action.allow:
                continue
            boxes = [(cut, c.destinations, c.services)] if (cut := intersect(c.sources, fs)) else []
            rest, to = subtract(c.sources, fs), intersect(c.destinations, fd)
            if rest and to:
                boxes.append((rest, to, c.services))
            if boxes:
                by = keyed.setdefault((ns, nd), {})
                by.setdefault((NO_ZONE, Action.deny, c.rule, c.action), []).extend(boxes)


def zone_match(old: dict[str, Ranges], new: dict[str, Ranges]) -> dict[str, str]:
    """Old zone → the new zone holding exactly its addresses: itself, or its new name when it
    was renamed (zones never overlap, so the match is one to one)."""
    by_range = {r: name for name, r in new.items()}
    out = {}
    for name, r in old.items():
        if new.get(name) == r:
            out[name] = name
        elif r in by_range:
            out[name] = by_range[r]
    return out


def zone_overlap(old: dict[str, Ranges], new: dict[str, Ranges]) -> dict[str, list[str]]:
    """Old zone → the new zones holding some of its addresses, in the new policy's order."""
    return {z: [n for n, held in new.items() if intersect(r, held)] for z, r in old.items()}


def _outside(these: dict[str, Ranges], other: dict[str, Ranges]) -> tuple[tuple[str, Ranges], ...]:
    """Each zone of `these` → its addresses in no zone of `other` (zones without any left out)."""
    held = normalize(r for held in other.values() for r in held)
    return tuple((z, left) for z, r in these.items() if (left := subtract(r, held)))


def _signature(space: FlowSpace, s: str, d: str) -> tuple[tuple[Action, Box], ...]:
    return tuple((p.rule.action, p.box) for p in space.placed(s, d))


def _pair_changes(
    old: tuple[FlowClass, ...],
    new: tuple[FlowClass, ...],
    keyed: dict[tuple[str, Action, str, Action], list[Box]],
) -> None:
    """Add to `keyed` (by old and new rule) the flows both sides hold whose decision differs."""
    for x in old:
        for y in new:
            if x.action != y.action and (cut := box_and(x.box, y.box)) is not None:
                keyed.setdefault((x.rule, x.action, y.rule, y.action), []).append(cut)
