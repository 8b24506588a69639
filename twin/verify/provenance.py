"""provenance: which policy a run judged, and which ruleset the firewall enforced. Pure but
for reading two small files of the lab directory.

`twin test FILE` judges FILE's intent on the running twin, so FILE's zones, hosts and rules
must be the ones the lab enforces now (the intent may differ: it does not change the lab).
Every report names the policy file, its sha256, the sha256 of the ruleset the firewall held,
and whether the lab runs a rehearsal candidate.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.lab.directory import LabDir
from twin.policy.model import Policy

SHOWN = 4


@dataclass(frozen=True)
class Provenance:
    policy_file: str
    policy_sha256: str
    ruleset_sha256: str  # the firewall's table as the kernel held it ("" if not nftables)
    candidate: str = ""  # the lab runs this rehearsal candidate (not what `twin up` loaded)
    source: bytes = field(default=b"", repr=False, compare=False)  # the file as read and hashed

    def to_json(self) -> dict[str, str]:
        return {
            "policy_file": self.policy_file,
            "policy_sha256": self.policy_sha256,
            "ruleset_sha256": self.ruleset_sha256,
            "enforcing": f"rehearsal candidate {self.candidate}" if self.candidate else "baseline",
        }

    def line(self) -> str:
        text = (
            f"policy {self.policy_file} (sha256 {self.policy_sha256[:16]}…), "
            f"ruleset sha256 {self.ruleset_sha256[:16] or 'none'}…"
        )
        if self.candidate:
            text += f"; the lab enforces the rehearsal candidate {self.candidate}"
        return text


def from_json(data: dict[str, Any]) -> Provenance | None:
    if not data or not data.get("policy_file"):
        return None
    enforcing = str(data.get("enforcing", "baseline"))
    candidate = enforcing.removeprefix("rehearsal candidate ") if enforcing != "baseline" else ""
    return Provenance(
        str(data["policy_file"]),
        str(data.get("policy_sha256", "")),
        str(data.get("ruleset_sha256", "")),
        candidate,
    )


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(read_source(path)).hexdigest() if Path(path).exists() else ""


def read_source(path: str | Path) -> bytes:
    """A policy file's bytes (b"" if it cannot be read): what is hashed is what is kept."""
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


def judged(
    file: str, ruleset_sha256: str, candidate: str = "", raw: bytes | None = None
) -> Provenance:
    """The provenance of a run judging `file` (its bytes read once, or `raw` as already read)."""
    data = read_source(file) if raw is None else raw
    sha = hashlib.sha256(data).hexdigest() if data else ""
    return Provenance(file, sha, ruleset_sha256, candidate, data)


def rehearsal_state(lab_dir: Path) -> dict[str, Any]:
    """`<lab dir>/rehearsal/state.json`: which policy is loaded, baseline or candidate."""
    try:
        data = json.loads(LabDir(lab_dir).rehearsal_state.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def running_candidate(lab_dir: Path) -> str:
    """The candidate file the lab runs now, or "" when it runs its baseline."""
    data = rehearsal_state(lab_dir)
    return str(data.get("candidate") or "?") if data.get("active") == "candidate" else ""


def differences(given: Policy, enforced: Policy) -> list[str]:
    """What the lab would have to change to enforce `given`: zones, hosts, addresses, services,
    rules, defaults, firewall. Names, descriptions and the intent are not compared."""
    out: list[str] = []
    if given.firewall != enforced.firewall:
        out.append("the firewall")
    if given.defaults != enforced.defaults:
        out.append("the defaults")
    for z in sorted(set(given.zones) | set(enforced.zones)):
        a, b = given.zones.get(z), enforced.zones.get(z)
        if a is None or b is None:
            out.append(f"zone {z} {'added' if b is None else 'missing'}")
        elif a.subnet != b.subnet or a.gateway != b.gateway:
            out.append(f"zone {z} re-addressed")
        elif a.hosts != b.hosts:
            out.append(f"hosts of zone {z}")
        elif a.segment != b.segment:
            out.append(f"zone {z} is {b.segment.value} in the lab")
    for kind, mine, theirs in (
        ("address group", given.addresses, enforced.addresses),
        ("service", given.services, enforced.services),
    ):
        out += [
            f"{kind} {n}" for n in sorted(set(mine) | set(theirs)) if mine.get(n) != theirs.get(n)
        ]
    rules = {r.name: r.model_copy(update={"description": ""}) for r in given.rules}
    loaded = {r.name: r.model_copy(update={"description": ""}) for r in enforced.rules}
    for name in dict.fromkeys([*rules, *loaded]):
        if name not in loaded:
            out.append(f"rule {name} added")
        elif name not in rules:
            out.append(f"rule {name} missing")
        elif rules[name] != loaded[name]:
            out.append(f"rule {name} changed")
    if not out and [r.name for r in given.rules] != [r.name for r in enforced.rules]:
        out.append("the order of the rules")
    return out


def mismatch_message(file: str, lab: str, differ: list[str], candidate: str) -> str:
    more = f" and {len(differ) - SHOWN} more" if len(differ) > SHOWN else ""
    note = (
        f" (the lab runs the rehearsal candidate {candidate}; `twin rehearse --rollback` "
        "restores its baseline)"
        if candidate
        else ""
    )
    return (
        f"{file} is not what lab {lab} enforces now: {', '.join(differ[:SHOWN])}{more} "
        f"differ{note}. Run `twin rehearse {file}` to try it on the running twin, or "
        f"`twin down` then `twin up {file}` to rebuild the twin from it"
    )
