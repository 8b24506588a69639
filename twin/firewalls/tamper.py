"""tamper: what changed in the firewall's table since twin loaded it, in words. Pure.

When twin loads a ruleset it keeps a fingerprint of the table as the kernel holds it (read over
netlink: every chain's rules in order, every chain, set and set element), counters and handles
left out. A later read that hashes differently is compared with it, and the difference is
named: rules added (as nft prints them), rules removed (by their twin name), rules reordered,
chains or sets changed. A ruleset that is not the one twin loaded is an unhealthy twin: no
verdict on it stands.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from traffic.nftdump import Census, Chain, Table
from twin.lab.directory import LabDir

SHOWN = 4  # changes named in the message; the rest are counted
CHAIN_POLICY = 5  # NFTA_CHAIN_POLICY
VERDICTS = {0: "drop", 1: "accept"}
LEGACY_TOOL = {"ip": "iptables-legacy", "ip6": "ip6tables-legacy", "arp": "arptables-legacy"}


def table_sha256(table: Table) -> str:
    """The hash of what the table does: its flags, chains, rules in order, sets and elements."""
    h = hashlib.sha256(table.flags)
    for name in sorted(table.chains):
        h.update(b"chain %s %s" % (name.encode(), table.chains[name]))
    for rule in table.rules:
        h.update(b"rule %s" % rule.canon)
    for name in sorted(table.sets):
        h.update(b"set %s %s" % (name.encode(), table.sets[name]))
    for name in sorted(table.objects):  # none in a table twin renders: hashes stay as they were
        h.update(b"%s %s" % (name.encode(), table.objects[name]))
    return h.hexdigest()


def _digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:16]


def fingerprint(table: Table) -> dict[str, Any]:
    """Each chain's rules as (digest, name) in order; each other object as a digest."""
    chains: dict[str, list[list[str]]] = {name: [] for name in table.chains}
    for rule in table.rules:
        chains.setdefault(rule.chain, []).append([_digest(rule.canon), rule.comment])
    objects = {"table": _digest(table.flags)}
    for name, body in table.chains.items():
        objects[f"chain {name}"] = f"{_digest(body)} {_policy(body)}".strip()
    for name, body in table.sets.items():
        objects[f"set {name}"] = _digest(body)
    for name, body in table.objects.items():  # "object q1", "flowtable f"
        objects[name] = _digest(body)
    return {"chains": chains, "objects": objects}


def _policy(chain: bytes) -> str:
    """A base chain's policy from its canonical netlink attributes."""
    off = 0
    while off + 4 <= len(chain):
        length, kind = struct.unpack_from("=HH", chain, off)
        if length < 4:
            break
        if kind & 0x3FFF == CHAIN_POLICY and length >= 8:
            return VERDICTS.get(struct.unpack_from("!I", chain, off + 4)[0], "?")
        off += (length + 3) & ~3
    return ""


def loaded_path(lab_dir: Path, host: str = "") -> Path:
    """Where the fingerprint of a table twin loaded is kept: the firewall's, or a host's."""
    return LabDir(lab_dir).loaded_agent(host) if host else LabDir(lab_dir).loaded_ruleset


def save_loaded(lab_dir: Path, fp: dict[str, Any], host: str = "") -> None:
    path = loaded_path(lab_dir, host)
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(fp))
    tmp.replace(path)


def read_loaded(lab_dir: Path, host: str = "") -> dict[str, Any] | None:
    try:
        data = json.loads(loaded_path(lab_dir, host).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and {"chains", "objects"} <= set(data) else None


def describe(
    loaded: dict[str, Any] | None, table: Table, rule_text: Callable[[str, int], str]
) -> str:
    """The changes from `loaded` to `table`, one clause each; `rule_text(chain, handle)` prints
    a rule of the current table as nft does."""
    if loaded is None:
        return (
            "twin kept no fingerprint of the table it loaded (a lab brought up by an older "
            "twin?), so what changed cannot be named; `twin down` and `twin up` bring it back"
        )
    now = fingerprint(table)
    handle = {(r.chain, _digest(r.canon)): r.handle for r in table.rules}
    changes: list[str] = []
    for key in sorted(set(loaded["objects"]) | set(now["objects"])):
        before, after = loaded["objects"].get(key), now["objects"].get(key)
        if before == after:
            continue
        if before is None or after is None:
            changes.append(f"{key} {'added' if before is None else 'removed'}")
            continue
        was, is_ = before.partition(" ")[2], after.partition(" ")[2]
        changes.append(f"{key} changed" + (f" (policy {was} → {is_})" if was != is_ else ""))
    for chain in sorted(set(loaded["chains"]) | set(now["chains"])):
        old = [tuple(r) for r in loaded["chains"].get(chain, [])]
        new = [tuple(r) for r in now["chains"].get(chain, [])]
        added, removed = Counter(new) - Counter(old), Counter(old) - Counter(new)
        for digest, _ in added.elements():
            text = rule_text(chain, handle.get((chain, digest), -1))
            changes.append(f"rule added to chain {chain}: `{text}`")
        for _, name in removed.elements():
            what = f"`{name}`" if name else "a rule with no name"
            changes.append(f"rule removed from chain {chain}: {what}")
        if not added and not removed and old != new:
            changes.append(f"rules of chain {chain} reordered")
    if not changes:
        return "the same rules, read differently"
    more = f"; and {len(changes) - SHOWN} more changes" if len(changes) > SHOWN else ""
    return "; ".join(changes[:SHOWN]) + more


def foreign(census: Census, ours: frozenset[tuple[str, str]]) -> list[str]:
    """Each netfilter table of a namespace that twin did not load, in words: nftables tables
    (family, name, what each base chain hooks, how many rules) and x_tables ones."""
    out = []
    for family, name in census.tables:
        if (family, name) in ours:
            continue
        hooked = [_hooks(c) for c in census.chains
                  if c.family == family and c.table == name and c.hook]  # fmt: skip
        rules = census.rules.get((family, name), 0)
        what = "; ".join(hooked) if hooked else "no base chain"
        out.append(f"table {family} {name} ({what}; {rules} rule{'' if rules == 1 else 's'})")
    for family, name in census.legacy:
        out.append(f"{LEGACY_TOOL.get(family, family)} table {name} (x_tables)")
    return out


def _hooks(chain: Chain) -> str:
    """`chain fwd: filter hook forward priority 0, policy accept` (nft's words)."""
    device = f" device {','.join(chain.devices)}" if chain.devices else ""
    policy = f", policy {chain.policy}" if chain.policy else ""
    return (
        f"chain {chain.name}: {chain.kind} hook {chain.hook}{device} priority "
        f"{chain.priority}{policy}"
    )
