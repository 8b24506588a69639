"""walk: the blast radius walked for real on a running twin (`twin blast --live`).

A `WalkPlan` (twin.analysis.walkplan) is sent one batch per depth: the probe of a hop at depth
d leaves from inside the host a hop of depth d-1 reached *live* (a hop the twin refused reaches
nothing, and the hops behind it are not sent: they are `unwalked`). Then one batch of
refusals: flows toward hosts out of reach, each of which must be blocked.

Each probe has two witnesses, as in `verify`: what came back, and the firewall's NFLOG record of
its 5-tuple (the rule that decided it). A hop passes when the flow passed and the record names
the hop's rule (a hop inside a flat zone: no record, it never crosses the firewall); a refusal
when it was blocked as its rule says, by that rule. A probe whose record contradicts what came
back, or that left none, is sent again on a fresh 5-tuple with three times the wait; still
contradicted, it is `inconclusive` (exit 3, never a failure). Anything else that differs from
the static analysis is a failure (exit 1).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from traffic.nflog import LogRecord, NflogReaders
from traffic.prober import Outcome, Probe, run_probes
from twin.analysis.walkplan import Refusal, Step, WalkPlan
from twin.errors import EnvironmentProblem
from twin.lab.state import LabState
from twin.plan.plan import Plan
from twin.policy.model import FLAT_SEGMENT, Action
from twin.runtime.base import Runtime
from twin.verify.verdicts import PASSED, Observed
from twin.verify.verify import (
    DEFAULT_TIMEOUT,
    firewall_actions,
    forget_connections,
    nflog_readers,
)

SEEN_IF = {
    Action.allow: PASSED,
    Action.deny: (Observed.filtered,),
    Action.reject: (Observed.rejected,),
}
Key = tuple[str, str, str, int, int]  # src host, dst host, proto, port, address family


@dataclass
class Probed:
    """One flow as the live twin treated it."""

    src: str
    dst: str
    proto: str
    port: int
    expected_rule: str  # the static analysis's rule (flat-segment: no firewall)
    observed: Observed
    logged: str  # the rule the firewall logged ("" if none)
    ok: bool
    reason: str = ""


@dataclass
class LiveWalk:
    lab: str
    hops: dict[Key, Probed] = field(default_factory=dict)
    refusals: dict[Key, Probed] = field(default_factory=dict)
    unwalked: list[Step] = field(default_factory=list)  # behind a hop the twin refused
    batches: int = 0
    seconds: float = 0.0  # first send to last verdict
    reprobed: int = 0

    @property
    def failures(self) -> list[Probed]:
        every = [*self.hops.values(), *self.refusals.values()]
        return [p for p in every if not p.ok and p.observed is not Observed.inconclusive]

    @property
    def inconclusive(self) -> list[Probed]:
        every = [*self.hops.values(), *self.refusals.values()]
        return [p for p in every if p.observed is Observed.inconclusive]

    @property
    def exit_code(self) -> int:
        if self.failures or self.unwalked:
            return 1
        return 3 if self.inconclusive else 0


def walk_live(
    runtime: Runtime,
    state: LabState,
    plan: Plan,
    walks: WalkPlan,
    timeout: float = DEFAULT_TIMEOUT,
) -> LiveWalk:
    """Send the walk for real, depth after depth, then the refusals; judge each probe."""
    netns = {h.name: runtime.netns(state, h.name) for h in plan.hosts}
    addr = {(h.name, f): str(h.addr(f)) for h in plan.hosts for f in h.families}
    subnets = plan.lab_subnets
    actions = firewall_actions(plan)
    reader = nflog_readers(runtime, state, plan)  # the hosts' too, when they enforce
    live = LiveWalk(plan.lab)
    reached = [set(hosts) for _, hosts in walks.footholds]

    def send(keys: Sequence[Key], rules: Sequence[str]) -> list[Probed]:
        probes = [Probe(netns[s], addr[(s, f)], addr[(d, f)], p, n) for s, d, p, n, f in keys]
        started = time.monotonic()
        outcomes = run_probes(probes, subnets, timeout=timeout)
        records = _records(reader, probes, outcomes, rules)
        again = [i for i, r in enumerate(rules) if _doubt(r, outcomes[i], records[i], actions)]
        if again:
            resent = [probes[i] for i in again]
            forget_connections(runtime, state, plan)
            second = run_probes(resent, subnets, timeout=min(0.9, timeout * 3))
            for i, out, rec in zip(
                again, second, _records(reader, resent, second, [rules[i] for i in again]),
                strict=True,
            ):  # fmt: skip
                outcomes[i], records[i] = out, rec
            live.reprobed += len(again)
        live.seconds += time.monotonic() - started
        live.batches += 1
        return [
            _judge(k, r, o, rec, actions)
            for k, r, o, rec in zip(keys, rules, outcomes, records, strict=True)
        ]

    forget_connections(runtime, state, plan)  # no probe passes on an earlier run's entry
    with reader.start():
        for depth in range(1, walks.depth + 1):
            batch: dict[Key, str] = {}
            for step in walks.at(depth):
                h = step.hop
                if h.src in reached[step.walk]:
                    batch[(h.src, h.dst, h.proto, h.port, h.family)] = h.rule
                else:
                    live.unwalked.append(step)
            if batch:
                live.hops.update(zip(batch, send(list(batch), list(batch.values())), strict=True))
            for step in walks.at(depth):
                h = step.hop
                done = live.hops.get((h.src, h.dst, h.proto, h.port, h.family))
                if done is not None and done.ok and h.src in reached[step.walk]:
                    reached[step.walk].add(h.dst)
        refusals = _refusals(walks.refusals)
        if refusals:
            live.refusals.update(
                zip(refusals, send(list(refusals), list(refusals.values())), strict=True)
            )
    return live


def _refusals(refusals: Sequence[Refusal]) -> dict[Key, str]:
    return {(r.src, r.dst, r.proto, r.port, r.family): r.rule for r in refusals}


def _records(
    reader: NflogReaders, probes: list[Probe], outcomes: list[Outcome], rules: Sequence[str]
) -> list[LogRecord | None]:
    """Each probe's NFLOG record, matched by 5-tuple (ICMP: echo id and sequence)."""
    expect = sum(1 for r in rules if r != FLAT_SEGMENT)
    try:
        records = reader.drain(settle=0.01, expect=expect)
    except OSError as exc:
        raise EnvironmentProblem(f"reading the firewall's log: {exc.strerror or exc}") from None
    by_key = {(r.src, r.dst, r.proto, r.sport, r.dport): r for r in records}
    return [
        by_key.get(
            (p.src, p.dst, p.proto, o.sport, o.seq if p.proto in ("icmp", "icmpv6") else p.port)
        )
        for p, o in zip(probes, outcomes, strict=True)
    ]


def _doubt(rule: str, out: Outcome, rec: LogRecord | None, actions: dict[str, Action]) -> bool:
    """Send it again? The firewall's record contradicts the prober, or is missing where the
    flow crosses the firewall; a flat hop that did not pass."""
    if rec is not None:
        said = actions.get(rec.prefix)
        return said is not None and out.verdict not in SEEN_IF[said]
    if rule == FLAT_SEGMENT:
        return out.verdict not in PASSED
    return True


def _judge(
    key: Key, rule: str, out: Outcome, rec: LogRecord | None, actions: dict[str, Action]
) -> Probed:
    src, dst, proto, port, _ = key
    logged = rec.prefix if rec is not None else ""
    said = actions.get(logged)
    if said is not None and out.verdict not in SEEN_IF[said]:
        why = f"firewall logged {said.value} ({logged}), prober saw {out.verdict}: twice"
        return Probed(src, dst, proto, port, rule, Observed.inconclusive, logged, False, why)
    want = actions.get(rule, Action.allow)  # flat-segment: allow, on no firewall
    problems = []
    if out.verdict not in SEEN_IF[want]:
        problems.append(f"static: {rule} {want.value}s it; live: {out.verdict}")
    if rule == FLAT_SEGMENT and logged:
        problems.append(f"crossed the firewall (logged {logged}): the zone is not flat")
    elif rule not in (FLAT_SEGMENT, logged):
        problems.append(f"firewall logged {logged or 'no rule'}, static analysis says {rule}")
    return Probed(src, dst, proto, port, rule, Observed(out.verdict), logged, not problems,
                  "; ".join(problems))  # fmt: skip
