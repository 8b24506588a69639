"""Map vendor names (spaces, slashes, capitals, 63+ characters) to twin's safe name syntax.

Twin names end up in interface names, nft comments and NFLOG prefixes: what passes the model's
regexes cannot inject anything. The mapping is deterministic, unique per namespace and reported.
"""

from __future__ import annotations

import re

from twin.policy.syntax import NODE_NAME, OBJECT_NAME

_NODE_BAD = re.compile(r"[^a-z0-9_-]+")
_OBJECT_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def node_name(text: str, limit: int = 32) -> str:
    """Zones and hosts: 1-32 of a-z 0-9 '-' '_', starting with a letter."""
    name = _NODE_BAD.sub("-", text.lower()).strip("-_")
    if not name or not name[0].isalpha():
        name = "z" + ("-" + name if name else "")
    return name[:limit].rstrip("-_")


def object_name(text: str, limit: int = 63) -> str:
    """Addresses, services, rules: 1-63 of A-Z a-z 0-9 '_' '.' '-'."""
    name = _OBJECT_BAD.sub("_", text).strip("_.-")
    if not name:
        name = "x"
    return name[:limit]


class Namespace:
    """One namespace of twin names (zones+hosts+addresses share one, as the loader demands)."""

    def __init__(self, reserved: set[str] | None = None) -> None:
        self.taken: set[str] = set(reserved or ())
        self.renamed: dict[str, str] = {}  # vendor name → twin name, only when they differ

    def claim(self, vendor: str, node: bool = False, suffix: str = "") -> str:
        """A fresh twin name for `vendor` (+suffix), unique in this namespace."""
        limit = 32 if node else 63
        base = (node_name if node else object_name)(vendor + suffix, limit)
        name, n = base, 1
        while name in self.taken:
            n += 1
            tail = f"-{n}"
            name = base[: limit - len(tail)].rstrip("-_.") + tail
        pattern = NODE_NAME if node else OBJECT_NAME
        if not pattern.match(name):  # cannot happen; a guard, not a fix-up
            raise ValueError(f"mapped name {name!r} is not valid")
        self.taken.add(name)
        if name != vendor + suffix:
            self.renamed[vendor + suffix] = name
        return name
