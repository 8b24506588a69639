"""Judging a sweep (pure): each port's verdict and the firewall's record of it against the
policy's first match and the intent, two witnesses as in `twin.verify.verify`, then consecutive
ports with one outcome merged into a row (`twin.verify.swept.SweptRange`).

The fast path reads a whole segment (ports one rule decides and the same intent lines cover)
from the verdict and record arrays at once: when every port came back as its rule says and was
logged under that rule for this very probe (the record's source port is the probe's), the
segment is one row. Only segments where something differs are judged port by port.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from traffic.judged import CODE, VERDICTS, Judged
from traffic.prober import CLOSED, FILTERED, OPEN, REJECTED, Sweep
from twin.plan.plan import Plan
from twin.plan.sweep import Segment, SweepTarget, segments
from twin.policy.model import Action
from twin.verify.swept import ALLOWED, CROSSED, SweptRange
from twin.verify.verify import firewall_actions

V_OPEN, V_CLOSED, V_FILTERED, V_REJECTED = (CODE[v] for v in (OPEN, CLOSED, FILTERED, REJECTED))
WANT = {
    Action.allow: (V_OPEN, V_CLOSED),
    Action.deny: (V_FILTERED,),
    Action.reject: (V_REJECTED,),
}
CLASS = {OPEN: "allow", CLOSED: "allow", CROSSED: "allow", FILTERED: "block", REJECTED: "block"}


@dataclass
class Probed:
    """A target's probes while the sweep runs: verdicts, and the rule its log record named."""

    t: SweepTarget
    sweep: Sweep
    judged: Judged | None = None
    rule: array = field(default_factory=lambda: array("H"))  # type: ignore[type-arg]
    rsport: array = field(default_factory=lambda: array("H"))  # type: ignore[type-arg]
    index: dict[int, int] = field(default_factory=dict, repr=False)  # port → slot (a list)

    def __post_init__(self) -> None:
        if not self.rule:
            self.rule = array("H", bytes(2 * len(self.t.ports)))
            self.rsport = array("H", bytes(2 * len(self.t.ports)))

    def slot(self, port: int) -> int:
        """Where a port's verdict and record are kept (-1: not a port of this target)."""
        ports = self.t.ports
        if isinstance(ports, range):
            return port - ports.start if port in ports else -1
        if not self.index:
            self.index.update({p: k for k, p in enumerate(ports)})
        return self.index.get(port, -1)


def logged_rule(w: Probed, k: int, ids: dict[int, str]) -> str:
    """The rule the firewall logged for slot k of this probe ("" if no record of this probe)."""
    assert w.judged is not None
    if w.rsport[k] != w.judged.sports[k]:
        return ""  # a record of another 5-tuple (or none)
    return ids.get(w.rule[k], "")


def doubts(plan: Plan, work: list[Probed], ids: dict[int, str]) -> list[tuple[int, int]]:
    """(target, slot) of every probe whose record is missing or contradicts what came back."""
    actions = firewall_actions(plan)
    out = []
    for ti, w in enumerate(work):
        assert w.judged is not None
        for seg, a, b in spans(plan, w):
            if consistent(w, seg, a, b, ids):
                continue
            for k in range(a, b):
                said = actions.get(logged_rule(w, k, ids))
                if said is None or w.judged.verdicts[k] not in WANT[said]:
                    out.append((ti, k))
    return out


def spans(plan: Plan, w: Probed) -> Iterator[tuple[Segment, int, int]]:
    """Each segment of the target with the slots [a, b) of its ports."""
    ports = w.t.ports
    k = 0
    for seg in segments(plan, w.t):
        a = k
        while k < len(ports) and ports[k] <= seg.hi:
            k += 1
        if k > a:
            yield seg, a, k


def consistent(w: Probed, seg: Segment, a: int, b: int, ids: dict[int, str]) -> bool:
    """The fast path: every port of the span came back as its rule says and was logged under
    that rule, for this very probe (source ports match)."""
    assert w.judged is not None
    verdicts = w.judged.verdicts[a:b]
    if sum(verdicts.count(c) for c in WANT[seg.rule.action]) != b - a:
        return False
    rid = next((i for i, n in ids.items() if n == seg.rule.name), -1)
    return w.rule[a:b].count(rid) == b - a and w.rsport[a:b] == w.judged.sports[a:b]


def judge(plan: Plan, w: Probed, ids: dict[int, str]) -> list[SweptRange]:
    """The target's rows: consecutive ports with the same outcome, one row."""
    assert w.judged is not None
    actions = firewall_actions(plan)
    rows: list[SweptRange] = []
    ports = w.t.ports
    for seg, a, b in spans(plan, w):
        if consistent(w, seg, a, b, ids) and ports[b - 1] - ports[a] == b - 1 - a:
            span = w.judged.verdicts[a:b]
            counts = Counter({VERDICTS[c]: span.count(c) for c in set(span)})
            first = VERDICTS[span[0]]
            span3 = (ports[a], ports[b - 1], b - a)
            rows.append(_row(w, seg, span3, seen=first, logged=seg.rule.name, counts=counts))
            continue
        for k in range(a, b):
            seen_v = VERDICTS[w.judged.verdicts[k]]
            logged = logged_rule(w, k, ids)
            said = actions.get(logged)
            if said is not None and w.judged.verdicts[k] not in WANT[said]:
                if w.t.proto == "udp" and said is Action.allow and seen_v == FILTERED:
                    seen_v = CROSSED
                else:
                    seen_v = "inconclusive"
            one = (ports[k], ports[k], 1)
            row = _row(w, seg, one, seen=seen_v, logged=logged, counts=Counter({seen_v: 1}))
            last = rows[-1] if rows else None
            if (
                last is not None and last.hi + 1 == ports[k] and last.rule == row.rule
                and last.verdict == row.verdict and last.reason == row.reason
                and last.predicted_rule == row.predicted_rule and last.intent == row.intent
            ):  # fmt: skip
                last.hi, last.ports = ports[k], last.ports + 1
                for verdict, n in row.seen.items():
                    last.seen[verdict] = last.seen.get(verdict, 0) + n
            else:
                rows.append(row)
    return rows


def _row(
    w: Probed, seg: Segment, span: tuple[int, int, int], *, seen: str, logged: str,
    counts: Counter[str],
) -> SweptRange:  # fmt: skip
    """Ports lo..hi (n of them) of a segment, all with one outcome."""
    lo, hi, n = span
    rule, t = seg.rule, w.t
    predicted = "allow" if rule.action is Action.allow else "block"
    problems: list[str] = []
    if seen == "inconclusive":
        why = f"firewall logged {logged}, prober saw {max(counts)}: twice, on fresh 5-tuples"
        return SweptRange(
            t.src, t.dst, t.src_zone, t.dst_zone, t.proto, lo, hi, "inconclusive", logged,
            predicted, rule.name, seg.intents[0][1].value if seg.intents else predicted, False,
            n, dict(counts), [name for name, _ in seg.intents], [], why,
        )  # fmt: skip
    cls = CLASS[seen]
    if cls != predicted:
        problems.append(f"policy {predicted}s it ({rule.name}) but the ports were {seen}")
    elif cls == "block" and seen != (FILTERED if rule.action is Action.deny else REJECTED):
        problems.append(f"{rule.name} should {rule.action.value} them, but they were {seen}")
    if logged and logged != rule.name:
        problems.append(f"firewall logged rule {logged}, policy says {rule.name}")
    if cls == "block" and not logged:
        problems.append("blocked, but the firewall logged no rule for them")
    violates = [name for name, verdict in seg.intents if verdict.value != cls]
    problems += [f"violates intent {name}" for name in violates]
    verdict = ALLOWED if cls == "allow" else seen
    expected = seg.intents[0][1].value if seg.intents else predicted
    return SweptRange(
        t.src, t.dst, t.src_zone, t.dst_zone, t.proto, lo, hi, verdict, logged, predicted,
        rule.name, expected, not problems, n, dict(counts), [name for name, _ in seg.intents],
        violates, "; ".join(problems),
    )  # fmt: skip
