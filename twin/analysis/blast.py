"""blast: assume breach — what an attacker holding a host (or a zone) can reach. Pure, exact.

Built on `reach` (every host pair, its exact services, the deciding rules). A host is *reached*
when a foothold may send it a flow on a counted service, and every reached host becomes a new
foothold (worst case: whoever reaches a service runs code there), to a fixed point. Counted
services (`via`): `any` (the default) — every allowed tcp port, udp port or icmp; `ports` — tcp
and udp ports only (an echo reply runs no code).

Crown jewels: each zone with `sensitive: true`, and each host with it outside such a zone. The
shortest path (fewest hops) from a foothold to a jewel is a chain of `Hop`s, each a concrete flow
(source host, destination host, protocol, port) with the rule that allows it: what a live walk
probes hop by hop, from inside the host the previous hop reached.

An `unreachable` intent line holds when no path of any length leads from its `from` to its `to`,
counting every service (`via any`, whatever the report counts); a `service:` on the line
restricts the last hop only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from twin.analysis.intervals import (
    ALL_SERVICES,
    UDP_BASE,
    Ranges,
    contains,
    intersect,
    port_ranges,
    service_key,
    service_label,
    service_ranges,
)
from twin.analysis.reach import Reach
from twin.plan.flows import LATERAL
from twin.policy.model import Policy
from twin.policy.names import intent_names
from twin.policy.resolve import resolve_service

VIA: dict[str, Ranges] = {
    "any": ALL_SERVICES,
    "ports": ((1, 65535), (UDP_BASE + 1, UDP_BASE + 65535)),
}


@dataclass(frozen=True)
class Hop:
    """One step of a path: a flow the policy allows, and the rule that allows it."""

    src: str
    src_zone: str
    dst: str
    dst_zone: str
    proto: str
    port: int  # 0 for icmp
    service: str  # what that rule allows on this hop (counted services only), e.g. tcp/8080
    rule: str
    family: int = 4  # the address family of the flow


Path = tuple[Hop, ...]


def path_line(path: Path) -> str:
    """web1 → app1 tcp/8080 (web-to-app) → db1 tcp/5432 over IPv6 (app-to-db)"""
    if not path:
        return "(inside)"
    return path[0].src + "".join(
        f" → {h.dst} {h.service}{' over IPv6' * (h.family == 6)} ({h.rule})" for h in path
    )


@dataclass(frozen=True)
class Jewel:
    name: str  # the zone, or a host marked sensitive outside a sensitive zone
    kind: Literal["zone", "host"]
    hosts: tuple[int, ...]


@dataclass(frozen=True)
class Walk:
    """A breadth-first walk from some footholds: every host reached, at how many hops, how."""

    sources: tuple[int, ...]
    dist: dict[int, int]  # host → hops (0 for the footholds themselves)
    parent: dict[int, tuple[int, int]]  # host → (edge, the host it was reached from)


class Blast:
    """Fixed points and shortest paths over one `Reach`, counting `via` services."""

    def __init__(self, reach: Reach, via: str = "any") -> None:
        self.reach = reach
        self.via = via
        self.mask = VIA[via]
        self.counted = [bool(intersect(e.allowed, self.mask)) for e in reach.edges]
        self.out = [[k for k in ks if self.counted[k]] for ks in reach.out]
        self._into: list[list[int]] | None = None
        self.jewels = _jewels(reach)

    @property
    def into(self) -> list[list[int]]:
        """host → the counted edges that reach it."""
        if self._into is None:
            self._into = [[] for _ in self.reach.hosts]
            for k, e in enumerate(self.reach.edges):
                if self.counted[k]:
                    for h in e.dsts:
                        self._into[h].append(k)
        return self._into

    def walk(self, sources: Iterable[int]) -> Walk:
        """Breadth first from `sources`: each edge is expanded once, from its nearest source."""
        start = tuple(sources)
        dist = dict.fromkeys(start, 0)
        parent: dict[int, tuple[int, int]] = {}
        seen: set[int] = set()
        frontier, hops = list(start), 0
        while frontier:
            hops += 1
            nxt: list[int] = []
            for h in frontier:
                for k in self.out[h]:
                    if k in seen:
                        continue
                    seen.add(k)
                    for d in self.reach.edges[k].dsts:
                        if d not in dist:
                            dist[d] = hops
                            parent[d] = (k, h)
                            nxt.append(d)
            frontier = nxt
        return Walk(start, dist, parent)

    def path(self, walk: Walk, host: int) -> Path:
        """The hops `walk` took to reach `host` (() for a foothold itself)."""
        hops: list[Hop] = []
        while host in walk.parent:
            k, prev = walk.parent[host]
            hops.append(self.hop(k, prev, host))
            host = prev
        return tuple(reversed(hops))

    def toward(self, targets: Iterable[int]) -> tuple[dict[int, int], dict[int, tuple[int, int]]]:
        """Breadth first backwards from `targets`: hops from every host to the nearest target,
        and its first step (edge, next host)."""
        dist = dict.fromkeys(targets, 0)
        step: dict[int, tuple[int, int]] = {}
        seen: set[int] = set()
        frontier, hops = list(dist), 0
        while frontier:
            hops += 1
            nxt: list[int] = []
            for t in frontier:
                for k in self.into[t]:
                    if k in seen:
                        continue
                    seen.add(k)
                    for s in self.reach.edges[k].srcs:
                        if s not in dist:
                            dist[s] = hops
                            step[s] = (k, t)
                            nxt.append(s)
            frontier = nxt
        return dist, step

    def follow(self, step: dict[int, tuple[int, int]], host: int) -> Path:
        hops: list[Hop] = []
        while host in step:
            k, nxt = step[host]
            hops.append(self.hop(k, host, nxt))
            host = nxt
        return tuple(hops)

    def hop(self, k: int, src: int, dst: int, last: Ranges = ALL_SERVICES) -> Hop:
        """Edge `k` from `src` to `dst` as one concrete flow, by the first rule (in rule order)
        that allows a counted service (within `last`)."""
        hosts = self.reach.hosts
        want = intersect(self.mask, last)
        edge = self.reach.edges[k]
        for piece in edge.pieces:
            services = intersect(piece.services, want)
            if services:
                proto, port = concrete(services)
                a, b = hosts[src], hosts[dst]
                label = service_label(services)
                return Hop(
                    a.name, a.zone, b.name, b.zone, proto, port, label, piece.rule, edge.family
                )
        raise AssertionError("a counted edge allows a counted service")

    def closures(self) -> list[int]:
        """Every host's fixed point at once, as bit sets (bit h: host h), itself included:
        strongly connected components (iterative Tarjan) of hosts and edges, then each
        component's closure from those it reaches, in the order Tarjan completes them."""
        n = len(self.reach.hosts)
        edges = self.reach.edges

        def succ(v: int) -> Sequence[int]:
            return [n + k for k in self.out[v]] if v < n else edges[v - n].dsts

        comp = [-1] * (n + len(edges))
        closure: list[int] = []
        for members in _components(n + len(edges), succ):
            c = len(closure)
            for v in members:
                comp[v] = c
            bits = sum(1 << v for v in members if v < n)
            for v in members:
                for w in succ(v):
                    if comp[w] != c:
                        bits |= closure[comp[w]]
            closure.append(bits)
        return [closure[comp[h]] for h in range(n)]

    def direct(self, host: int) -> int:
        """The hosts one hop away, as a bit set (itself excluded)."""
        bits = 0
        for k in self.out[host]:
            for d in self.reach.edges[k].dsts:
                bits |= 1 << d
        return bits & ~(1 << host)


def _components(count: int, succ: Callable[[int], Sequence[int]]) -> Iterator[list[int]]:
    """Tarjan's strongly connected components, iteratively; each is yielded after every
    component it reaches."""
    index = [-1] * count
    low = [0] * count
    on_stack = [False] * count
    stack: list[int] = []
    counter = 0
    for root in range(count):
        if index[root] != -1:
            continue
        work: list[tuple[int, Iterator[int]]] = [(root, iter(succ(root)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            v, it = work[-1]
            for w in it:
                if index[w] == -1:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, iter(succ(w))))
                    break
                if on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
            else:
                work.pop()
                if work and low[v] < low[work[-1][0]]:
                    low[work[-1][0]] = low[v]
                if low[v] == index[v]:
                    members: list[int] = []
                    while True:
                        w = stack.pop()
                        on_stack[w] = False
                        members.append(w)
                        if w == v:
                            break
                    yield members


def concrete(services: Ranges) -> tuple[str, int]:
    """One flow of a service set to probe: a usual lateral-movement port when there is one,
    else the first port (tcp before udp), else icmp."""
    for proto, port in LATERAL:
        if contains(services, service_key(proto, port)):
            return proto, port
    first = port_ranges(services)[0]
    return first.proto, first.lo


def _jewels(reach: Reach) -> tuple[Jewel, ...]:
    policy = reach.plan.policy
    out = [Jewel(z, "zone", reach.members[z]) for z, zone in policy.zones.items() if zone.sensitive]
    out += [
        Jewel(h.name, "host", (reach.index[h.name],))
        for z, zone in policy.zones.items()
        if not zone.sensitive
        for h in zone.hosts
        if h.sensitive
    ]
    return tuple(out)


# --- intent: unreachable ----------------------------------------------------------------------


@dataclass(frozen=True)
class PathIntent:
    """An `unreachable` line, resolved against the policy that wrote it."""

    name: str
    text: str
    src: str | tuple[str, ...]  # zone, host or address; or host names (an old line, placed)
    dst: str | tuple[str, ...]
    last: Ranges  # the services the last hop may not use


def path_intents(policy: Policy) -> list[PathIntent]:
    out: list[PathIntent] = []
    names = intent_names(policy.expect)
    for i, exp in enumerate(policy.expect):
        if exp.flow:
            continue
        last = service_ranges(resolve_service(policy, exp.service))
        text = f"{exp.from_} -> {exp.to}" + (f" {exp.service}" * (exp.service != "any"))
        out.append(PathIntent(names[i], f"{text}: unreachable", exp.from_, exp.to, last))
    return out


@dataclass(frozen=True)
class Unreachable:
    """One `unreachable` intent line, checked: `path` is a way in when it does not hold."""

    name: str
    text: str
    path: Path | None

    @property
    def holds(self) -> bool:
        return self.path is None


def check_unreachable(
    reach: Reach, worst: Blast | None = None, lines: list[PathIntent] | None = None
) -> list[Unreachable]:
    """Each `unreachable` line (default: the policy's own), with a shortest path that breaks
    it. A line whose ends this policy does not have is left out."""
    blast = worst if worst is not None and worst.via == "any" else Blast(reach, "any")
    out: list[Unreachable] = []
    for line in path_intents(reach.plan.policy) if lines is None else lines:
        srcs, dsts = (
            reach.hosts_of(end) if isinstance(end, str) else tuple(reach.index[h] for h in end)
            for end in (line.src, line.dst)
        )
        if srcs and dsts:
            out.append(Unreachable(line.name, line.text, way_in(blast, srcs, dsts, line.last)))
    return out


def way_in(
    blast: Blast, sources: tuple[int, ...], targets: tuple[int, ...], last: Ranges
) -> Path | None:
    """A shortest path from `sources` into `targets` whose last hop is on `last`; None if none."""
    walk = blast.walk(sources)
    wanted = set(targets)
    best: tuple[int, int, int, int] | None = None  # (hops, edge, from, to)
    for k, e in enumerate(blast.reach.edges):
        if not blast.counted[k] or not intersect(intersect(e.allowed, blast.mask), last):
            continue
        inside = [t for t in e.dsts if t in wanted]
        if not inside:
            continue
        for s in e.srcs:
            if s in walk.dist and (best is None or walk.dist[s] + 1 < best[0]):
                t = next((t for t in inside if t != s), None)
                if t is not None:
                    best = (walk.dist[s] + 1, k, s, t)
    if best is None:
        return None
    _, k, s, t = best
    return (*blast.path(walk, s), blast.hop(k, s, t, last))
