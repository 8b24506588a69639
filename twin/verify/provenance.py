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
from twin.plan.plan import Plan

SHOWN = 4


@dataclass(frozen=True)
class Provenance:
    policy_file: str
    policy_sha256: str
    ruleset_sha256: str  # the firewall's table as the kernel held it ("" if not nftables)
    candidate: str = ""  # the lab runs this rehearsal candidate (not what `twin up` loaded)
    source: bytes = field(default=b"", repr=False, compare=False)  # the file as read and hashed
    copy_of: str = ""  # no FILE given: `policy_file` is the lab's copy of this file

    def to_json(self) -> dict[str, str]:
        return {
            "policy_file": self.policy_file,
            "policy_sha256": self.policy_sha256,
            "policy_copy_of": self.copy_of,
            "ruleset_sha256": self.ruleset_sha256,
            "enforcing": f"rehearsal candidate {self.candidate}" if self.candidate else "baseline",
        }

    def line(self) -> str:
        copy = f"the lab's copy of {self.copy_of}, " if self.copy_of else ""
        text = (
            f"policy {self.policy_file} ({copy}sha256 {self.policy_sha256[:16]}…), "
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
        copy_of=str(data.get("policy_copy_of", "")),
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
    file: str, ruleset_sha256: str, candidate: str = "", raw: bytes | None = None, copy_of: str = ""
) -> Provenance:
    """The provenance of a run judging `file` (its bytes read once, or `raw` as already read;
    `copy_of`: `file` is the lab's copy of that one)."""
    data = read_source(file) if raw is None else raw
    sha = hashlib.sha256(data).hexdigest() if data else ""
    return Provenance(str(Path(file).resolve()), sha, ruleset_sha256, candidate, data, copy_of)


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


def differences(given: Plan, enforced: Plan) -> tuple[list[str], list[str]]:
    """What the lab would have to change to enforce `given`, as (topology, rules): the
    firewall, zones, hosts and their addresses; the rules as resolved, their order and the
    defaults. Compared as the twin builds and enforces them, so how the file writes them
    (key order, quoting, anchors, a named service or its literal, an unused object, zones or
    hosts listed in another order with the same addresses) is no difference, and names,
    descriptions, crown jewels and the intent are not compared."""
    topo: list[str] = []
    a, b = given.policy.firewall, enforced.policy.firewall
    for what, mine, theirs in (
        ("firewall kind", a.kind, b.kind),
        ("firewall name", a.name, b.name),
        ("firewall image", a.image, b.image),
        ("enforcement", a.enforcement, b.enforcement),
    ):
        if mine != theirs:
            topo.append(f"{what} {_text(theirs)} → {_text(mine)}")
    zones, loaded = {z.name: z for z in given.zones}, {z.name: z for z in enforced.zones}
    for name in [*loaded, *(z for z in zones if z not in loaded)]:
        z, was = zones.get(name), loaded.get(name)
        if z is None or was is None:
            topo.append(f"zone {name} {'added' if was is None else 'removed'}")
            continue
        for what in ("subnet", "gateway", "subnet6", "gateway6"):
            if what.startswith("gateway") and _moved(z, was, what.replace("gateway", "subnet")):
                continue  # the new subnet's gateway: not a second difference
            if _moved(z, was, what):
                topo.append(f"zone {name} {what} {_text(getattr(was, what))} → "
                            f"{_text(getattr(z, what))}")  # fmt: skip
        if z.flat != was.flat:
            topo.append(f"zone {name} segment {_segment(was.flat)} → {_segment(z.flat)}")
    hosts, there = given.by_host, enforced.by_host
    for name in [*there, *(h for h in hosts if h not in there)]:
        h, was_h = hosts.get(name), there.get(name)
        if h is None or was_h is None:
            topo.append(f"host {name} {'added' if was_h is None else 'removed'}")
        elif h.zone != was_h.zone:
            topo.append(f"host {name} moved from zone {was_h.zone} to {h.zone}")
        elif _moved(zones[h.zone], loaded[h.zone], "subnet", "subnet6"):
            continue  # re-addressed with its zone, said above
        elif h.address != was_h.address or h.address6 != was_h.address6:
            old = " ".join(str(x) for x in was_h.addresses)
            topo.append(f"host {name} address {old} → {' '.join(map(str, h.addresses))}")
    return topo, _rule_differences(given, enforced)


def _rule_differences(given: Plan, enforced: Plan) -> list[str]:
    out: list[str] = []
    rules = {r.name: r for r in given.rules}
    loaded = {r.name: r for r in enforced.rules}
    off = {r.name for r in given.policy.rules if r.disabled}
    was_off = {r.name for r in enforced.policy.rules if r.disabled}
    for name in dict.fromkeys([*loaded, *rules]):
        r, was = rules.get(name), loaded.get(name)
        if was is None:
            out.append(f"rule {name} {'enabled' if name in was_off else 'added'}")
            continue
        if r is None:
            out.append(f"rule {name} {'disabled' if name in off else 'removed'}")
            continue
        for what, mine, theirs in (
            ("action", r.action, was.action),
            ("log", r.log, was.log),
            ("from", r.src_zones, was.src_zones),
            ("to", r.dst_zones, was.dst_zones),
            ("source", r.sources, was.sources),
            ("destination", r.destinations, was.destinations),
            ("services", r.services, was.services),
        ):
            if mine != theirs and not (r.default and what in ("from", "to")):
                label = name.replace("-default", " default") if r.default else f"rule {name}"
                out.append(f"{label} {what} {_text(theirs)} → {_text(mine)}")
    order = [r.name for r in given.rules if r.name in loaded]
    if order != [r.name for r in enforced.rules if r.name in rules]:
        out.append("the order of the rules")
    return out


def _moved(a: object, b: object, *fields: str) -> bool:
    return any(getattr(a, f) != getattr(b, f) for f in fields)


def _segment(flat: bool) -> str:
    return "flat" if flat else "isolated"


def _text(value: object) -> str:
    """A compared value as the message shows it (short: the line names several)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, frozenset):
        return ",".join(sorted(value))
    if isinstance(value, tuple):
        text = ",".join(map(str, value))
        return text if len(text) <= 40 else text[:39] + "…"
    return str(value)


def mismatch_message(
    file: str, lab: str, differ: tuple[list[str], list[str]], candidate: str, renamed: bool
) -> str:
    """One line: what differs (the lab's value → the file's), then the ways on. A rehearsal
    swaps rules only, so it is offered only when the topology is the lab's."""
    topo, rules = differ
    items = [*topo, *rules]
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    note = (
        f" The lab runs the rehearsal candidate {candidate}; `twin rehearse --rollback "
        f"--lab {lab}` restores its baseline."
        if candidate
        else ""
    )
    rebuild = f"`twin down --lab {lab}` then `twin up {file}{f' --lab {lab}' if renamed else ''}`"
    ways = (
        f"rebuild the twin from it: {rebuild} (a rehearsal swaps rules only)"
        if topo
        else f"try it on the running twin: `twin rehearse {file} --lab {lab}`; or rebuild the "
        f"twin from it: {rebuild}"
    )
    return (
        f"{file} is not what lab {lab} enforces now (lab → file): {'; '.join(items[:SHOWN])}"
        f"{more}.{note} To test it, {ways}"
    )
