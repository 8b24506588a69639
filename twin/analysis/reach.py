"""reach: which host reaches which, on exactly which services, by which rule. Pure, exact.

A flow's first match depends on its two addresses only through the rules whose addresses
contain them. So in each zone pair the hosts of each side are grouped by the rules (narrowed
to the pair, as in `flowspace`) whose source, or destination, addresses miss them — one group
per side unless rules name single addresses or sub-ranges — and for each pair of groups the
pair's rules are walked once, in order, over the whole service line (tcp 1-65535, udp 1-65535,
icmp; see `intervals`): each rule takes what is still undecided of its services. What the allow
rules take is an `Edge`: every host of `srcs` reaches every host of `dsts` on exactly
`allowed`, each `Piece` decided by its rule. Nothing is sampled: `Plan.decide` gives the same
answer for every flow (the property tests check it).

A host with addresses in both families is grouped, and walked, once per family: an edge holds
flows of one family (`family`), on that family's services (`intervals.family_services`).

A flat zone (`segment: flat`, or named in `flat`) is one L2 segment: its hosts reach each other
directly, on everything, without crossing the firewall (the pieces name `FLAT` instead of a
rule). With `one_segment`, all flat zones share one L2 segment (no firewall between them: the
"one flat network" baseline of `twin compare`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from twin.analysis.flowspace import FlowSpace, Placed
from twin.analysis.intervals import (
    ALL_SERVICES,
    Ranges,
    addr_key,
    contains,
    family_services,
    intersect,
    normalize,
    of_family,
    subtract,
)
from twin.plan.plan import Plan
from twin.policy.model import FLAT_SEGMENT, Action
from twin.policy.resolve import Unresolved, intent_end

FLAT = FLAT_SEGMENT  # the "rule" of a hop between two hosts of a flat zone: no firewall


@dataclass(frozen=True)
class Piece:
    """Services one rule allows on an edge (only what earlier rules left undecided)."""

    services: Ranges
    rule: str


@dataclass(frozen=True)
class Edge:
    """Every host of `srcs` reaches every host of `dsts` on exactly `allowed` (a host never
    needs to reach itself: intrazone edges may list one host on both sides)."""

    src_zone: str
    dst_zone: str
    srcs: tuple[int, ...]  # host indices (`Reach.hosts`)
    dsts: tuple[int, ...]
    pieces: tuple[Piece, ...]  # in rule order
    allowed: Ranges  # the union of the pieces
    family: int = 4  # the address family of its flows


class Reach:
    """The exact host-to-host reachability of one plan."""

    def __init__(self, plan: Plan, flat: Iterable[str] = (), one_segment: bool = False) -> None:
        self.plan = plan
        self.hosts = plan.hosts
        self.index = {h.name: i for i, h in enumerate(plan.hosts)}
        # a flat zone lets its hosts reach each other unfiltered, unless the hosts enforce the
        # policy themselves (then the plan has no flat rule)
        self.flat = (plan.flat_zones if plan.flat_rule else frozenset()) | frozenset(flat)
        self.one_segment = one_segment
        members: dict[str, list[int]] = {z.name: [] for z in plan.zones}
        for i, h in enumerate(plan.hosts):
            members[h.zone].append(i)
        self.members = {z: tuple(hs) for z, hs in members.items()}
        self.zone_of = [h.zone for h in plan.hosts]
        space = FlowSpace(plan)
        keys = {  # per family: each host's address on the address line (-1: none)
            f: [-1 if (a := h.address if f == 4 else h.address6) is None else addr_key(a)
                for h in plan.hosts]
            for f in (4, 6)
        }  # fmt: skip
        edges: list[Edge] = []
        for s, d in space.pairs():
            if (s == d or one_segment) and s in self.flat and d in self.flat:  # one L2 segment
                srcs, dsts = self.members[s], self.members[d]
                if srcs and dsts:
                    piece = Piece(ALL_SERVICES, FLAT)
                    edges.append(Edge(s, d, srcs, dsts, (piece,), ALL_SERVICES))
                continue
            for family in (4, 6):
                edges.extend(self._pair(space, s, d, keys[family], family))
        self.edges = tuple(edges)
        self.out: list[list[int]] = [[] for _ in self.hosts]  # host → edges it is a source of
        for k, e in enumerate(self.edges):
            for src in e.srcs:
                self.out[src].append(k)

    def hosts_of(self, ref: str) -> tuple[int, ...]:
        """A zone, a host name or an address/prefix (an intent end) → host indices (empty when
        it names none)."""
        if ref in self.index:
            return (self.index[ref],)
        if ref in self.members:
            return self.members[ref]
        try:
            return tuple(self.index[h] for h in intent_end(self.plan.policy, ref).hosts)
        except Unresolved:
            return ()

    def pieces(self, src: str, dst: str, family: int | None = None) -> tuple[Piece, ...]:
        """What `src` may send to `dst`, by rule (nothing: the pair is blocked entirely); over
        `family`, or over the first family that allows anything."""
        a, b = self.index[src], self.index[dst]
        for k in self.out[a]:
            e = self.edges[k]
            if b in e.dsts and (family is None or e.family == family):
                return e.pieces
        return ()

    def _pair(self, space: FlowSpace, s: str, d: str, addr: list[int], family: int) -> list[Edge]:
        srcs = tuple(h for h in self.members[s] if addr[h] >= 0)
        dsts = tuple(h for h in self.members[d] if addr[h] >= 0)
        if not srcs or not dsts:
            return []
        placed = space.placed(s, d)
        zs, zd = of_family(space.zones[s], family), of_family(space.zones[d], family)
        src_groups = _groups(srcs, addr, [of_family(p.box[0], family) for p in placed], zs)
        dst_groups = _groups(dsts, addr, [of_family(p.box[1], family) for p in placed], zd)
        out: list[Edge] = []
        for s_miss, s_hosts in src_groups.items():
            for d_miss, d_hosts in dst_groups.items():
                pieces = _first_match(placed, set(s_miss) | set(d_miss), family)
                if pieces:
                    allowed = normalize(i for p in pieces for i in p.services)
                    e = Edge(s, d, tuple(s_hosts), tuple(d_hosts), pieces, allowed, family)
                    out.append(e)
        return out


def _groups(
    hosts: tuple[int, ...], addr: list[int], sides: list[Ranges], zone: Ranges
) -> dict[tuple[int, ...], list[int]]:
    """Hosts keyed by the rules (indices into `sides`) whose addresses miss them."""
    partial = [(i, side) for i, side in enumerate(sides) if side != zone]
    if not partial:
        return {(): list(hosts)}
    groups: dict[tuple[int, ...], list[int]] = {}
    for h in hosts:
        a = addr[h]
        key = tuple(i for i, side in partial if not contains(side, a))
        groups.setdefault(key, []).append(h)
    return groups


def _first_match(placed: tuple[Placed, ...], skip: set[int], family: int) -> tuple[Piece, ...]:
    """Walk the rules that match both groups over the family's service line; keep what allow
    rules take."""
    remaining = family_services(family)
    pieces: list[Piece] = []
    for i, p in enumerate(placed):
        if i in skip:
            continue
        taken = intersect(remaining, p.box[2])
        if not taken:
            continue
        if p.rule.action is Action.allow:
            pieces.append(Piece(taken, p.rule.name))
        remaining = subtract(remaining, p.box[2])
        if not remaining:
            break
    return tuple(pieces)
