"""rulecheck: rules that can never match, and rules whose action changes nothing. Pure, exact.

Both come from the first-match partition (`flowspace`):
- a rule is **shadowed** when it decides no flow in any zone pair: earlier rules take every flow
  it matches (they are named), or its addresses lie outside its zones (it matches nothing);
- a rule is **redundant** when every flow it decides would get the same action from the rules
  after it (named too): removing it changes no verdict, only the rule name in the log.
The two defaults are never reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.analysis.flowspace import FlowSpace, Pair, Placed, box_and, first_match
from twin.plan.plan import RulePlan
from twin.policy.model import Action


@dataclass(frozen=True)
class Shadowed:
    rule: str
    by: tuple[str, ...]  # the earlier rules that take its flows; () when it matches no flow

    @property
    def text(self) -> str:
        if not self.by:
            return f"{self.rule} can never match: its addresses lie outside its zones"
        return f"{self.rule} can never match: shadowed by {', '.join(self.by)}"


@dataclass(frozen=True)
class Redundant:
    rule: str
    action: Action
    instead: tuple[str, ...]  # the rules that would decide its flows, with the same action

    @property
    def text(self) -> str:
        return (
            f"{self.rule} is redundant: without it, {', '.join(self.instead)} would "
            f"{self.action.value} the same flows"
        )


@dataclass(frozen=True)
class RuleFindings:
    shadowed: tuple[Shadowed, ...]
    redundant: tuple[Redundant, ...]

    @property
    def names(self) -> set[str]:
        return {s.rule for s in self.shadowed} | {r.rule for r in self.redundant}


def check_rules(space: FlowSpace) -> RuleFindings:
    where = placements(space)
    deciding = {c.rule for c in space.all_classes()}
    shadowed: list[Shadowed] = []
    redundant: list[Redundant] = []
    for rule in space.plan.rules:
        if not rule.default:
            found = _status(space, rule, where.get(rule.name, []), rule.name in deciding)
            if isinstance(found, Shadowed):
                shadowed.append(found)
            elif found is not None:
                redundant.append(found)
    return RuleFindings(tuple(shadowed), tuple(redundant))


def rule_status(
    space: FlowSpace, name: str, where: dict[str, list[Pair]] | None = None
) -> Shadowed | Redundant | None:
    """One rule's finding, computing only the zone pairs it sits in (`where`: `placements`)."""
    index = space.order.get(name)
    rule = None if index is None else space.plan.rules[index]
    if rule is None or rule.default:
        return None
    pairs = (placements(space) if where is None else where).get(name, [])
    deciding = any(c.rule == name for pair in pairs for c in space.classes(*pair))
    return _status(space, rule, pairs, deciding)


def placements(space: FlowSpace) -> dict[str, list[Pair]]:
    """rule name → the zone pairs where it can match."""
    where: dict[str, list[Pair]] = {}
    for pair in space.pairs():
        for p in space.placed(*pair):
            where.setdefault(p.rule.name, []).append(pair)
    return where


def _status(
    space: FlowSpace, rule: RulePlan, pairs: list[Pair], deciding: bool
) -> Shadowed | Redundant | None:
    if not deciding:
        return Shadowed(rule.name, _shadowing(space, rule, pairs))
    instead = _fallthrough(space, rule, pairs)
    return None if instead is None else Redundant(rule.name, rule.action, instead)


def _own(space: FlowSpace, rule: RulePlan, pair: Pair) -> tuple[int, Placed]:
    placed = space.placed(*pair)
    index = next(i for i, p in enumerate(placed) if p.rule.name == rule.name)
    return index, placed[index]


def _shadowing(space: FlowSpace, rule: RulePlan, pairs: list[Pair]) -> tuple[str, ...]:
    by: set[str] = set()
    for pair in pairs:
        _, own = _own(space, rule, pair)
        by.update(c.rule for c in space.classes(*pair) if box_and(c.box, own.box) is not None)
    return tuple(sorted(by, key=space.order.__getitem__))


def _fallthrough(space: FlowSpace, rule: RulePlan, pairs: list[Pair]) -> tuple[str, ...] | None:
    """The rules that would decide `rule`'s flows without it, if they all act alike; else None."""
    instead: set[str] = set()
    for pair in pairs:
        index, _ = _own(space, rule, pair)
        later = space.placed(*pair)[index + 1 :]
        for c in space.classes(*pair):
            if c.rule != rule.name:
                continue
            for _, other in first_match(later, c.box):
                if other.action != rule.action:
                    return None
                instead.add(other.name)
    return tuple(sorted(instead, key=space.order.__getitem__))
