"""The blast-radius report: the analysis as data (JSON-ready), and as tables for people.

`blast_data` computes everything `twin blast` shows; `print_blast` only prints that data.
Per foothold zone (every host of the zone compromised): the hosts reached in one hop and at the
fixed point, the zones reached, and the shortest path to each crown jewel. Per host (JSON): the
same counts. With a foothold (`--from HOST|ZONE`): every host it reaches, at how many hops, on
which services, by which rules, and the path there. Then every `unreachable` intent line.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.console import Console
from rich.table import Table

from twin.analysis.blast import Blast, Hop, Path, Walk, check_unreachable, path_line
from twin.analysis.intervals import Ranges, intersect, service_label, union
from twin.analysis.reach import Reach

MAX_PATHS_SHOWN = 40
COUNTED = {"any": "every allowed tcp port, udp port and icmp", "ports": "allowed tcp and udp ports"}


def blast_data(blast: Blast, file: str, foothold: str | None = None) -> dict[str, Any]:
    reach = blast.reach
    names = [h.name for h in reach.hosts]
    data: dict[str, Any] = {
        "file": file,
        "lab": reach.plan.lab,
        "via": blast.via,
        "counted": COUNTED[blast.via],
        "crown_jewels": [
            {"name": j.name, "kind": j.kind, "hosts": [names[h] for h in j.hosts]}
            for j in blast.jewels
        ],
    }
    if foothold is None:
        data["zones"], data["hosts"] = summaries(blast)
    else:
        data["foothold"] = foothold_data(blast, foothold)
    data["intent"] = [
        {"name": c.name, "text": c.text, "holds": c.holds, "path": _hops(c.path)}
        for c in check_unreachable(reach, blast)
    ]
    data["ok"] = all(i["holds"] for i in data["intent"])
    return data


def _hops(path: Path | None) -> list[dict[str, Any]] | None:
    return None if path is None else [dataclasses.asdict(h) for h in path]


def _bits(hosts: tuple[int, ...]) -> int:
    return sum(1 << h for h in hosts)


def summaries(blast: Blast) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    reach = blast.reach
    closure = blast.closures()
    direct = [blast.direct(h) for h in range(len(reach.hosts))]
    zone_bits = {z: _bits(hs) for z, hs in reach.members.items()}
    jewel_bits = [(j.name, _bits(j.hosts)) for j in blast.jewels]
    toward = [blast.toward(j.hosts) for j in blast.jewels]

    def zones_in(bits: int) -> list[str]:
        return [z for z, zb in zone_bits.items() if bits & zb]

    zones = []
    for z, members in reach.members.items():
        own = zone_bits[z]
        reached = 0
        one_hop = 0
        for h in members:
            reached |= closure[h]
            one_hop |= direct[h]
        jewels: dict[str, Any] = {}
        for (name, _), (dist, step) in zip(jewel_bits, toward, strict=True):
            near = min((h for h in members if h in dist), key=dist.__getitem__, default=None)
            jewels[name] = None if near is None else _hops(blast.follow(step, near))
        zones.append(
            {
                "zone": z,
                "hosts": len(members),
                "direct": (one_hop & ~own).bit_count(),
                "reached": (reached & ~own).bit_count(),
                "zones_reached": [x for x in zones_in(reached & ~own) if x != z],
                "jewels": jewels,
            }
        )
    hosts = [
        {
            "host": h.name,
            "zone": h.zone,
            "direct": direct[i].bit_count(),
            "reached": (closure[i] & ~(1 << i)).bit_count(),
            "zones_reached": zones_in(closure[i] & ~(1 << i)),
            "jewels": [name for name, jb in jewel_bits if closure[i] & ~(1 << i) & jb],
        }
        for i, h in enumerate(reach.hosts)
    ]
    return zones, hosts


def foothold_data(blast: Blast, ref: str) -> dict[str, Any]:
    reach = blast.reach
    start = reach.hosts_of(ref)
    walk = blast.walk(start)
    services, rules = _exposure(blast, walk)
    reached = sorted((h for h in walk.dist if h not in start), key=lambda h: (walk.dist[h], h))
    jewels: dict[str, Any] = {}
    for j in blast.jewels:
        near = min((h for h in j.hosts if h in walk.dist), key=walk.dist.__getitem__, default=None)
        jewels[j.name] = None if near is None else _hops(blast.path(walk, near))
    return {
        "from": ref,
        "hosts": [reach.hosts[h].name for h in start],
        "reached": [
            {
                "host": reach.hosts[h].name,
                "zone": reach.hosts[h].zone,
                "hops": walk.dist[h],
                "services": service_label(services[h]),
                "rules": rules[h],
                "path": _hops(blast.path(walk, h)),
            }
            for h in reached
        ],
        "jewels": jewels,
    }


def _exposure(blast: Blast, walk: Walk) -> tuple[dict[int, Ranges], dict[int, list[str]]]:
    """Per reached host: every counted service some foothold may use on it, and the rules."""
    services: dict[int, Ranges] = {}
    rules: dict[int, list[str]] = {}
    for k, e in enumerate(blast.reach.edges):
        if not blast.counted[k]:
            continue
        senders = [s for s in e.srcs if s in walk.dist]
        if not senders:
            continue
        for d in e.dsts:
            if d in walk.dist and any(s != d for s in senders):
                services[d] = union(services.get(d, ()), intersect(e.allowed, blast.mask))
                have = rules.setdefault(d, [])
                for p in e.pieces:
                    if intersect(p.services, blast.mask) and p.rule not in have:
                        have.append(p.rule)
    return services, rules


# --- for people -------------------------------------------------------------------------------


def path_text(hops: list[dict[str, Any]]) -> str:
    return path_line(tuple(Hop(**h) for h in hops))


def _hop_count(hops: list[dict[str, Any]] | None) -> str:
    if hops is None:
        return "—"
    return "inside" if not hops else f"{len(hops)} hop" + "s" * (len(hops) > 1)


def print_blast(console: Console, data: dict[str, Any]) -> None:
    jewels = data["crown_jewels"]
    console.print(
        f"blast radius of {data['file']} (lab {data['lab']}): counting {data['counted']}; "
        "crown jewels: "
        + (", ".join(f"{j['name']} ({j['kind']})" for j in jewels) or "none marked"),
        markup=False,
    )
    if "zones" in data:
        _print_zones(console, data)
    else:
        _print_foothold(console, data["foothold"])
    for i in data["intent"]:
        if i["holds"]:
            console.print(f"[green]✓[/] intent {i['name']}: {i['text']} — no path of any length")
        else:
            console.print(f"[red]✗[/] intent {i['name']}: {i['text']} — broken by a path:")
            console.print(f"    {path_text(i['path'])}", markup=False)


def _print_zones(console: Console, data: dict[str, Any]) -> None:
    names = [j["name"] for j in data["crown_jewels"]]
    table = Table(
        title="per foothold zone (all its hosts compromised): hosts reached in one hop and at "
        "the fixed point, the zones they are in, hops to each crown jewel"
    )
    for col in ("foothold", "hosts", "1 hop", "fixed point", "zones"):
        table.add_column(col, justify="left" if col in ("foothold", "zones") else "right")
    for name in names:
        table.add_column(f"→ {name}", justify="center")
    total = len(data["zones"])
    for z in data["zones"]:
        reached = z["zones_reached"]
        shown = ", ".join(reached) if len(reached) < min(6, total - 1) else f"all {len(reached)}"
        if 6 <= len(reached) < total - 1:
            shown = f"{len(reached)} zones"
        table.add_row(
            z["zone"],
            str(z["hosts"]),
            str(z["direct"]),
            str(z["reached"]),
            shown or "—",
            *(_hop_count(z["jewels"][n]) for n in names),
        )
    console.print(table)
    paths = [(z["zone"], n, z["jewels"][n]) for z in data["zones"] for n in names if z["jewels"][n]]
    if paths:
        console.print("shortest paths to the crown jewels (one of the shortest):")
    for zone, name, hops in paths[:MAX_PATHS_SHOWN]:
        console.print(f"  {zone} → {name}: {path_text(hops)}", markup=False)
    if len(paths) > MAX_PATHS_SHOWN:
        console.print(f"  … and {len(paths) - MAX_PATHS_SHOWN} more (--json)")


def _print_foothold(console: Console, f: dict[str, Any]) -> None:
    reached = f["reached"]
    depth = max((r["hops"] for r in reached), default=0)
    held = f["hosts"] if f["hosts"] != [f["from"]] else []
    console.print(
        f"foothold {f['from']}" + (f" ({', '.join(held)})" if held else "")
        + f": reaches {len(reached)} hosts in {depth} hops (fixed point)",
        markup=False,
    )  # fmt: skip
    table = Table()
    for col in ("hops", "host", "zone", "services", "first reached from"):
        table.add_column(col, justify="right" if col == "hops" else "left")
    for r in reached:
        last = r["path"][-1]
        table.add_row(
            str(r["hops"]), r["host"], r["zone"], r["services"],
            f"{last['src']} {last['service']} ({last['rule']})",
        )  # fmt: skip
    if reached:
        console.print(table)
    for name, hops in f["jewels"].items():
        shown = "unreachable" if hops is None else path_text(hops)
        console.print(f"crown jewel {name}: {shown}", markup=False)


def analyse(reach: Reach, via: str, file: str, foothold: str | None) -> dict[str, Any]:
    return blast_data(Blast(reach, via), file, foothold)
