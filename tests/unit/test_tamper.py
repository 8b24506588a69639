"""What changed in the firewall's table since twin loaded it, named from nft's JSON items."""

from __future__ import annotations

import copy
from typing import Any

from twin.tamper import describe, fingerprint, handles


def rule(chain: str, handle: int, *expr: dict[str, Any], comment: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"family": "inet", "table": "twin", "chain": chain, "handle": handle}
    body["expr"] = list(expr)
    if comment:
        body["comment"] = comment
    return {"rule": body}


CHAIN = {"chain": {"family": "inet", "table": "twin", "name": "forward", "handle": 1,
                   "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}  # fmt: skip
LOADED = [
    {"table": {"family": "inet", "name": "twin", "handle": 2}},
    CHAIN,
    rule("forward", 22, {"counter": {}}, {"drop": None}, comment="anti-spoofing"),
    rule("forward", 23, {"counter": {}}, comment="unmatched"),
]
HOLE = rule("forward", 56, {"match": {"left": {"payload": {"field": "sport"}}}}, {"accept": None})


def text_of(items: list[dict[str, Any]]):
    by_canon = handles(items)
    return lambda chain, canon: f"<handle {by_canon[canon]} of {chain}>"


def test_same_table_with_other_handles_is_unchanged() -> None:
    reloaded = copy.deepcopy(LOADED)
    for item in reloaded:
        next(iter(item.values()))["handle"] += 100
    assert fingerprint(reloaded) == fingerprint(LOADED)


def test_added_removed_and_changed_are_named() -> None:
    now = [*copy.deepcopy(LOADED[:2]), HOLE, LOADED[3]]
    now[1]["chain"]["policy"] = "accept"
    said = describe(fingerprint(LOADED), fingerprint(now), text_of(now))
    assert "chain forward changed (policy drop → accept)" in said
    assert "rule added to chain forward: `<handle 56 of forward>`" in said
    assert "rule removed from chain forward: `anti-spoofing`" in said


def test_reordered_rules_and_missing_record() -> None:
    now = [LOADED[0], LOADED[1], LOADED[3], LOADED[2]]
    assert describe(fingerprint(LOADED), fingerprint(now), text_of(now)) == (
        "rules of chain forward reordered"
    )
    assert "no record" in describe(None, fingerprint(now), text_of(now))


def test_many_changes_are_counted_past_the_first_few() -> None:
    now = [*LOADED, *(rule("forward", 100 + i, {"counter": {}}, {"mark": i}) for i in range(9))]
    said = describe(fingerprint(LOADED), fingerprint(now), text_of(now))
    assert said.count("rule added") == 4 and said.endswith("and 5 more changes")
