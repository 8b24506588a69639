"""walkplan: what a live walk of the blast radius sends, hop by hop. Pure.

From each foothold (a host, a zone: all its hosts; or, without one, every zone in turn) the
breadth-first walk of `blast` reaches every host by a shortest path: together those paths are a
tree, and every path the static analysis reports is one of its branches. A live walk sends each
tree hop as one concrete flow (`Hop`: source, destination, protocol, port, the rule that allows
it), from inside the host the hop before it reached, one batch per depth.

The other way round, each foothold also gets `Refusal`s: flows from every host it reaches
(itself included) to every host it can never reach, on each counted service of the catalogue
(the services the policy names and the lateral-movement ports): each must be blocked, by the
rule the policy says. So a live twin that lets through what the analysis says is out of reach
fails too.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.analysis.blast import Blast, Hop
from twin.analysis.intervals import contains, service_key
from twin.plan.flows import family_ports, probe_ports


@dataclass(frozen=True)
class Step:
    """One hop of one foothold's tree: sent once its source was reached live (depth 1: always,
    the source is the foothold)."""

    walk: int  # index into WalkPlan.footholds
    depth: int  # 1 for a hop from the foothold itself
    hop: Hop


@dataclass(frozen=True)
class Refusal:
    """A flow the policy blocks toward a host the foothold can never reach, with the rule."""

    walk: int
    src: str
    dst: str
    proto: str
    port: int
    rule: str
    family: int = 4  # the address family it is sent over


@dataclass(frozen=True)
class WalkPlan:
    footholds: tuple[tuple[str, tuple[str, ...]], ...]  # (name, its hosts)
    steps: tuple[Step, ...]  # by depth, then foothold
    refusals: tuple[Refusal, ...]

    @property
    def depth(self) -> int:
        return max((s.depth for s in self.steps), default=0)

    def at(self, depth: int) -> list[Step]:
        return [s for s in self.steps if s.depth == depth]


def walk_plan(blast: Blast, foothold: str | None = None) -> WalkPlan:
    reach = blast.reach
    plan = reach.plan
    names = [foothold] if foothold is not None else list(reach.members)
    services = [
        (proto, port)
        for proto, port in probe_ports(plan)
        if contains(blast.mask, service_key(proto, port))
    ]
    footholds: list[tuple[str, tuple[str, ...]]] = []
    steps: list[Step] = []
    refusals: list[Refusal] = []
    for w, name in enumerate(names):
        start = reach.hosts_of(name)
        footholds.append((name, tuple(reach.hosts[h].name for h in start)))
        walk = blast.walk(start)
        for h in sorted(walk.parent, key=lambda h: (walk.dist[h], h)):
            k, prev = walk.parent[h]
            steps.append(Step(w, walk.dist[h], blast.hop(k, prev, h)))
        out_of_reach = [h for h in range(len(reach.hosts)) if h not in walk.dist]
        for s in sorted(walk.dist):
            for d in out_of_reach:
                x, y = reach.hosts[s], reach.hosts[d]
                for family in (f for f in x.families if f in y.families):
                    for proto, port in family_ports(services, family):
                        rule = plan.decide(x.name, y.name, proto, port, family)
                        refusals.append(Refusal(w, x.name, y.name, proto, port, rule.name, family))
    steps.sort(key=lambda s: (s.depth, s.walk))
    return WalkPlan(tuple(footholds), tuple(steps), tuple(refusals))
