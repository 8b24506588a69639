"""graph: the zone graph as one self-contained SVG. Pure; no layout engine needed.

Zones are nodes on a circle, in file order, clockwise from the top; an arrow from zone A to B
means some host of A may reach some host of B (counted services, see `blast`), labelled with
what is allowed (A→B and B→A bend apart). Crown jewels wear a gold ring. From a foothold, the
zones reached at the fixed point are shaded and the shortest path to each crown jewel is drawn
in red, each hop labelled with its service and rule. Labels are placed along their arrow where
they cover no other label and no node. Past `SMALL` zones, nodes shrink, names move outside the
circle and only the attack paths keep their labels (every arrow keeps a tooltip), so a 100-zone
graph stays a picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape

from twin.analysis.blast import Blast
from twin.analysis.intervals import Ranges, intersect, service_label, union
from twin.report.blast import COUNTED

SMALL = 16
MAX_LABEL = 28
MIN_WIDTH = 900
RED, GOLD, GREY, INK = "#c62828", "#d4a017", "#8a93a3", "#1d2330"
Box = tuple[float, float, float, float]  # x0, y0, x1, y1
Pair = tuple[str, str]


@dataclass(frozen=True)
class Drawn:
    svg: str
    zones: int
    edges: int
    foothold: str | None


@dataclass(frozen=True)
class _Zone:
    name: str
    x: float
    y: float
    angle: float
    hosts: int
    foothold: bool
    reached: bool
    jewel: bool
    intra: Ranges | None  # what its hosts may use on each other


@dataclass(frozen=True)
class _Arc:
    a: str
    b: str
    label: str
    tip: str
    attack: bool


def zone_svg(blast: Blast, foothold: str | None = None, inline: bool = False) -> Drawn:
    """The picture; `foothold` (zone or host) defaults to the first zone not a crown jewel.
    `inline`: for an HTML page, which needs (and whose report promises) no namespace URL."""
    reach = blast.reach
    zones = list(reach.members)
    jewels = {reach.zone_of[h] for j in blast.jewels for h in j.hosts}
    if foothold is None:
        foothold = next((z for z in zones if z not in jewels), None)
    pairs, rules = _zone_edges(blast)
    reached, attack = _attack(blast, foothold)
    small = len(zones) <= SMALL
    arcs = [
        _Arc(a, b, service_label(s) if small else "",
             f"{a} → {b}: {service_label(s)} ({', '.join(rules[(a, b)])})", False)
        for (a, b), s in pairs.items() if a != b and (a, b) not in attack
    ] + [
        _Arc(a, b, "; ".join(labels), f"{a} → {b}: {'; '.join(labels)}", True)
        for (a, b), labels in attack.items()
    ]  # fmt: skip
    r = 46.0 if small else 9.0
    radius = max(190.0, len(zones) * (2 * r + (44 if small else 8)) / (2 * math.pi))
    side = 2 * (radius + r + (70 if small else 120))
    width, top = max(side, MIN_WIDTH), 50.0
    at = {
        z: (width / 2 + radius * math.cos(a), top + side / 2 + radius * math.sin(a), a)
        for i, z in enumerate(zones)
        for a in [-math.pi / 2 + 2 * math.pi * i / len(zones)]
    }
    held = {reach.zone_of[h] for h in reach.hosts_of(foothold)} if foothold else set()
    taken: list[Box] = [(x - r - 6, y - r - 6, x + r + 6, y + r + 6) for x, y, _ in at.values()]
    lines: list[str] = []
    labels: list[str] = []
    for arc in sorted(arcs, key=lambda c: not c.attack):  # attack labels choose first
        line, label = _arc(arc, at, r, small, taken)
        lines.append(line)
        labels.append(label)
    nodes = [
        _node(
            _Zone(z, *at[z], len(reach.members[z]), z in held, z in reached, z in jewels,
                  pairs.get((z, z))),
            r, small,
        )
        for z in zones
    ]  # fmt: skip
    height = top + side + 50
    title = f"zone graph of lab {reach.plan.lab}" + (
        f": attack paths from {foothold}" if foothold else ""
    )
    svg = [
        "<svg"
        + ("" if inline else ' xmlns="http://www.w3.org/2000/svg"')
        + f' width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="system-ui, sans-serif" '
        'role="img" class="zone-graph">',
        f"<title>{escape(title)}</title>",
        _markers(small),
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        f'<text x="14" y="24" font-size="16" font-weight="700" fill="{INK}">{escape(title)}</text>',
        f'<text x="14" y="42" font-size="12" fill="#555d6b">a host is reached on '
        f"{escape(COUNTED[blast.via])}; every host reached is a new foothold</text>",
        f'<g class="allowed" fill="none" stroke="{GREY}" stroke-width="0.5" '
        'stroke-opacity="0.3" marker-end="url(#arrow-grey)">',
        *(line for line in lines if line.startswith("<path")),
        "</g>",
        *(line for line in lines[::-1] if not line.startswith("<path")),  # attack arrows last
        *nodes,
        *labels,
        _legend(height - 26),
        "</svg>",
    ]
    edges = sum(1 for a, b in pairs if a != b)
    return Drawn("\n".join(svg) + "\n", len(zones), edges, foothold)


def _zone_edges(blast: Blast) -> tuple[dict[Pair, Ranges], dict[Pair, list[str]]]:
    """(zone, zone) → the counted services some host may use on some host, and the rules."""
    pairs: dict[tuple[str, str], Ranges] = {}
    rules: dict[tuple[str, str], list[str]] = {}
    for k, e in enumerate(blast.reach.edges):
        if not blast.counted[k] or (len(e.srcs) == 1 and e.srcs == e.dsts):
            continue  # uncounted, or a host to itself
        key = (e.src_zone, e.dst_zone)
        pairs[key] = union(pairs.get(key, ()), intersect(e.allowed, blast.mask))
        have = rules.setdefault(key, [])
        have.extend(p.rule for p in e.pieces if p.rule not in have)
    return pairs, rules


def _attack(blast: Blast, foothold: str | None) -> tuple[set[str], dict[Pair, list[str]]]:
    """The zones reached from `foothold`, and the zone edges of its shortest paths to the
    crown jewels with their hops' service and rule."""
    if foothold is None:
        return set(), {}
    reach = blast.reach
    walk = blast.walk(reach.hosts_of(foothold))
    attack: dict[tuple[str, str], list[str]] = {}
    for j in blast.jewels:
        near = min((h for h in j.hosts if h in walk.dist), key=walk.dist.__getitem__, default=None)
        for hop in () if near is None else blast.path(walk, near):
            if hop.src_zone != hop.dst_zone:
                have = attack.setdefault((hop.src_zone, hop.dst_zone), [])
                if (label := f"{hop.service} · {hop.rule}") not in have:
                    have.append(label)
    return {reach.zone_of[h] for h in walk.dist}, attack


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _arc(
    arc: _Arc, at: dict[str, tuple[float, float, float]], r: float, small: bool, taken: list[Box]
) -> tuple[str, str]:
    """The arrow (a quadratic curve bending to its right) and its label, placed where it
    covers nothing already placed (`taken` grows)."""
    (ax, ay, _), (bx, by, _) = at[arc.a], at[arc.b]
    length = math.hypot(bx - ax, by - ay)
    bend = 0.12 * length if small or arc.attack else 0.0
    cx = (ax + bx) / 2 + (by - ay) / length * bend
    cy = (ay + by) / 2 - (bx - ax) / length * bend
    sx, sy = _towards(ax, ay, cx, cy, r + 2)
    ex, ey = _towards(bx, by, cx, cy, r + 6)
    if not (small or arc.attack):  # one of thousands: a bare line, no tooltip
        return f'<path d="M{sx:.0f},{sy:.0f}L{ex:.0f},{ey:.0f}"/>', ""
    colour, stroke = (RED, 3.5) if arc.attack else (GREY, 1.4)
    line = (
        f'<g class="{"attack" if arc.attack else "allowed"}"><title>{escape(arc.tip)}</title>'
        f'<path d="M{sx:.1f},{sy:.1f} Q{cx:.1f},{cy:.1f} {ex:.1f},{ey:.1f}" fill="none" '
        f'stroke="{colour}" stroke-width="{stroke}" '
        f'marker-end="url(#arrow-{"red" if arc.attack else "grey"})"/></g>'
    )
    if not arc.label:
        return line, ""
    text = _short(arc.label)
    w, h = len(text) * (7.4 if arc.attack else 6.8), 15.0
    nx, ny = (by - ay) / length, -(bx - ax) / length  # the side the arrow bends to
    clear = abs(nx) * w / 2 + abs(ny) * h / 2 + 3  # box centre to the arrow, beside it
    spots = []
    for shift in (0.0, 1.0, -1.0):  # on the arrow, then beside it
        for t in (0.5, 0.62, 0.38, 0.72, 0.28, 0.8, 0.2):
            x = (1 - t) ** 2 * sx + 2 * (1 - t) * t * cx + t * t * ex
            y = (1 - t) ** 2 * sy + 2 * (1 - t) * t * cy + t * t * ey
            x += shift * nx * clear
            y += shift * ny * clear
            spots.append((x - w / 2, y - h / 2, x + w / 2, y + h / 2))
    box = min(spots, key=lambda s: sum(_overlap(s, o) for o in taken))
    taken.append(box)
    weight = ' font-weight="700"' if arc.attack else ""
    label = (
        f'<text x="{(box[0] + box[2]) / 2:.1f}" y="{box[3] - 4:.1f}" font-size="12" '
        f'text-anchor="middle" fill="{"#8e0000" if arc.attack else "#39414f"}"{weight} '
        f'stroke="#ffffff" stroke-width="4" paint-order="stroke">'
        f"<title>{escape(arc.tip)}</title>{escape(text)}</text>"
    )
    return line, label


def _overlap(a: Box, b: Box) -> float:
    """The area two boxes share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _towards(x: float, y: float, tx: float, ty: float, d: float) -> tuple[float, float]:
    length = math.hypot(tx - x, ty - y) or 1.0
    return x + (tx - x) * d / length, y + (ty - y) * d / length


def _node(z: _Zone, r: float, small: bool) -> str:
    name, x, y, angle, hosts, jewel = z.name, z.x, z.y, z.angle, z.hosts, z.jewel
    fill = "#7f1d1d" if z.foothold else "#fde0c5" if z.reached else "#f4f6f9"
    ink = "#ffffff" if z.foothold else INK
    state = "foothold" if z.foothold else "reached" if z.reached else "not reached"
    inside = service_label(z.intra) if z.intra else "nothing"
    tip = f"{name}: {hosts} hosts, {state}; intrazone: {inside}" + ", crown jewel" * jewel
    out = [f'<g class="zone {state.replace(" ", "-")}"><title>{escape(tip)}</title>']
    if jewel:
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r + (6 if small else 4):.1f}" fill="none" '
            f'stroke="{GOLD}" stroke-width="{4 if small else 3}"/>'
        )
    out.append(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{fill}" stroke="#39414f" '
        'stroke-width="1.5"/>'
    )
    if small:
        size = max(8, min(14, int(2 * (r - 6) / (0.68 * len(name)))))
        rows = [
            (y - 6, size, "700", name),
            (y + 10, 11, "400", f"{hosts} host{'s' * (hosts != 1)}" + " ★" * jewel),
            (y + 24, 10, "400", f"↻ {_short(inside)}"),
        ]
        out.extend(
            f'<text x="{x:.1f}" y="{ty:.1f}" font-size="{fs}" font-weight="{fw}" '
            f'text-anchor="middle" fill="{ink}">{escape(text)}</text>'
            for ty, fs, fw, text in rows
        )
    else:  # the name outside the circle, along the radius
        tx, ty = x + (r + 6) * math.cos(angle), y + (r + 6) * math.sin(angle)
        anchor = "start" if math.cos(angle) >= -1e-9 else "end"
        degrees = math.degrees(angle) + (180 if anchor == "end" else 0)
        bold = ' font-weight="700"' if jewel or z.foothold else ""
        out.append(
            f'<text x="{tx:.1f}" y="{ty + 3:.1f}" font-size="10" text-anchor="{anchor}" '
            f'transform="rotate({degrees:.1f} {tx:.1f} {ty:.1f})"{bold} fill="{INK}">'
            f"{escape(name)}{' ★' if jewel else ''}</text>"
        )
    out.append("</g>")
    return "".join(out)


def _markers(small: bool) -> str:
    return (
        "<defs>"
        + "".join(
            f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerWidth="{w}" markerHeight="{w}" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
            for name, colour, w in (("grey", GREY, 7 if small else 9), ("red", RED, 5))
        )
        + "</defs>"
    )


def _legend(y: float) -> str:
    items = [
        ('<circle cx="8" cy="0" r="7" fill="#7f1d1d"/>', "foothold"),
        ('<circle cx="8" cy="0" r="7" fill="#fde0c5" stroke="#39414f"/>', "reached"),
        ('<circle cx="8" cy="0" r="7" fill="#f4f6f9" stroke="#39414f"/>', "not reached"),
        (f'<circle cx="8" cy="0" r="7" fill="none" stroke="{GOLD}" stroke-width="3"/>',
         "crown jewel ★"),
        (f'<line x1="0" y1="0" x2="18" y2="0" stroke="{RED}" stroke-width="3.5"/>',
         "shortest attack path"),
        (f'<line x1="0" y1="0" x2="18" y2="0" stroke="{GREY}" stroke-width="1.4"/>', "allowed"),
        ("", "↻ allowed inside the zone"),
    ]  # fmt: skip
    out = [f'<g class="legend" font-size="12" fill="{INK}" transform="translate(14 {y:.0f})">']
    x = 0
    for mark, text in items:
        out.append(
            f'<g transform="translate({x} 0)">{mark}<text x="{24 if mark else 0}" y="4">'
            f"{escape(text)}</text></g>"
        )
        x += 24 * bool(mark) + 7 * len(text) + 18
    out.append("</g>")
    return "".join(out)
