"""tamper: what changed in the firewall's table since twin loaded it, in words. Pure.

When twin loads a ruleset it keeps a fingerprint of the table as the kernel holds it (every
chain's rules in order, and every chain and set definition), counters blanked and handles left
out. A later read that hashes differently is compared with it, and the difference is named:
rules added (as nft prints them), rules removed (by their twin name), chains or sets changed.
A ruleset that is not the one twin loaded is an unhealthy twin: no verdict on it stands.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOADED = "ruleset.loaded.json"
SHOWN = 4  # changes named in the message; the rest are counted


def fingerprint(items: list[dict[str, Any]]) -> dict[str, Any]:
    """`nft -j list table` items (counters already blanked) → chains' rules and definitions."""
    chains: dict[str, list[str]] = {}
    objects: dict[str, str] = {}
    for item in items:
        ((kind, body),) = item.items()
        bare = {k: v for k, v in body.items() if k not in ("handle", "family", "table")}
        if kind == "rule":
            chains.setdefault(body["chain"], []).append(json.dumps(bare, sort_keys=True))
        else:
            objects[f"{kind} {body.get('name', '')}"] = json.dumps(bare, sort_keys=True)
    return {"chains": chains, "objects": objects}


def handles(items: list[dict[str, Any]]) -> dict[str, int]:
    """Each rule's canonical text (as in `fingerprint`) → its kernel handle, to print it."""
    out: dict[str, int] = {}
    for item in items:
        body = item.get("rule")
        if body is not None:
            bare = {k: v for k, v in body.items() if k not in ("handle", "family", "table")}
            out[json.dumps(bare, sort_keys=True)] = body["handle"]
    return out


def save_loaded(lab_dir: Path, fp: dict[str, Any]) -> None:
    tmp = lab_dir / (LOADED + ".tmp")
    tmp.write_text(json.dumps(fp))
    tmp.replace(lab_dir / LOADED)


def read_loaded(lab_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((lab_dir / LOADED).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and {"chains", "objects"} <= set(data) else None


def describe(
    loaded: dict[str, Any] | None,
    now: dict[str, Any],
    rule_text: Callable[[str, str], str],
) -> str:
    """The changes from `loaded` to `now`, one clause each; `rule_text(chain, canonical)` prints
    a rule of the current table as nft does."""
    if loaded is None:
        return "no record of the loaded table to compare with"
    changes: list[str] = []
    for key in sorted(set(loaded["objects"]) | set(now["objects"])):
        before, after = loaded["objects"].get(key), now["objects"].get(key)
        if before == after:
            continue
        if before is None:
            changes.append(f"{key} added")
        elif after is None:
            changes.append(f"{key} removed")
        else:
            changes.append(f"{key} changed{_fields(before, after)}")
    for chain in sorted(set(loaded["chains"]) | set(now["chains"])):
        was, is_ = Counter(loaded["chains"].get(chain, [])), Counter(now["chains"].get(chain, []))
        for canon in (is_ - was).elements():
            changes.append(f"rule added to chain {chain}: `{rule_text(chain, canon)}`")
        for canon in (was - is_).elements():
            changes.append(f"rule removed from chain {chain}: {_name(canon)}")
        if (
            not (is_ - was)
            and not (was - is_)
            and was
            and list(loaded["chains"][chain]) != list(now["chains"].get(chain, []))
        ):
            changes.append(f"rules of chain {chain} reordered")
    if not changes:
        return "the same rules, read differently"
    more = f"; and {len(changes) - SHOWN} more changes" if len(changes) > SHOWN else ""
    return "; ".join(changes[:SHOWN]) + more


def _fields(before: str, after: str) -> str:
    a, b = json.loads(before), json.loads(after)
    diff = [f"{k} {a.get(k, '-')} → {b.get(k, '-')}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k) and k != "elem"]  # fmt: skip
    if a.get("elem") != b.get("elem"):
        diff.append("elements changed")
    return f" ({', '.join(diff)})" if diff else ""


def _name(canon: str) -> str:
    comment = json.loads(canon).get("comment")
    return f"`{comment}`" if comment else "a rule with no name"
