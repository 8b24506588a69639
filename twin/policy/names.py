"""Stable names for intent lines: the user's name, or one derived from the line's content.

An unnamed line used to be called `expect[3]`, a name that moved when a line was inserted above
it. A derived name reads like the line (`web->db postgres blocked`) and stays the same wherever
the line sits; two identical unnamed lines are told apart by a count (`… #2`). A derived name
holds spaces and `->`, which a user's name (1-63 of letters, digits, `_.-`) cannot: the two
never collide.
"""

from __future__ import annotations

from collections import Counter

from twin.policy.model import Expect, Verdict

WORD = {Verdict.allow: "allowed", Verdict.block: "blocked", Verdict.unreachable: "unreachable"}


def derived_name(exp: Expect) -> str:
    service = "" if exp.verdict is Verdict.unreachable and exp.service == "any" else exp.service
    return f"{exp.from_}->{exp.to} {service + ' ' if service else ''}{WORD[exp.verdict]}"


def intent_names(expect: list[Expect]) -> list[str]:
    """One name per line of `expect`, in order."""
    seen: Counter[str] = Counter()
    out = []
    for exp in expect:
        if exp.name:
            out.append(exp.name)
            continue
        name = derived_name(exp)
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out
