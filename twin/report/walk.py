"""The live walk of `twin blast --live`, as data (JSON-ready) and as a table for people.

Every hop of every foothold's tree with what the live twin did (the verdict, the rule its
firewall logged), the hops never sent because one before them was refused, and the flows toward
hosts out of reach (counted by the rule that blocked them; each one that passed is listed).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twin.analysis.walkplan import WalkPlan
from twin.policy.resolve import port_text
from twin.verify.walk import LiveWalk, Probed

SHOWN = 40


def live_data(walks: WalkPlan, live: LiveWalk) -> dict[str, Any]:
    hops = []
    for step in walks.steps:
        h = step.hop
        done = live.hops.get((h.src, h.dst, h.proto, h.port, h.family))
        hops.append(
            {
                "from": walks.footholds[step.walk][0],
                "depth": step.depth,
                "src": h.src,
                "dst": h.dst,
                "proto": h.proto,
                "port": h.port,
                "service": h.service,
                "rule": h.rule,
                "observed": done.observed if done else "not sent",
                "logged": done.logged if done else "",
                "ok": bool(done and done.ok),
                "reason": done.reason if done else "a hop before it was refused",
            }
        )
    refused = list(live.refusals.values())
    reached = [set(hosts) for _, hosts in walks.footholds]
    for step in walks.steps:
        h, got = (
            step.hop,
            live.hops.get(
                (step.hop.src, step.hop.dst, step.hop.proto, step.hop.port, step.hop.family)
            ),
        )
        if got is not None and got.ok and h.src in reached[step.walk]:
            reached[step.walk].add(h.dst)
    return {
        "lab": live.lab,
        "footholds": [
            {"from": n, "hosts": list(hs), "reached": len(got - set(hs))}
            for (n, hs), got in zip(walks.footholds, reached, strict=True)
        ],
        "seconds": round(live.seconds, 3),
        "batches": live.batches,
        "reprobed": live.reprobed,
        "hops": hops,
        "refusals": {
            "sent": len(refused),
            "blocked_by": dict(Counter(p.logged for p in refused if p.ok).most_common()),
            "failures": [_flow(p) for p in refused if not p.ok],
        },
        "ok": live.exit_code == 0,
        "exit_code": live.exit_code,
    }


def _flow(p: Probed) -> dict[str, Any]:
    return {
        "src": p.src, "dst": p.dst, "proto": p.proto, "port": p.port, "rule": p.expected_rule,
        "observed": p.observed, "logged": p.logged, "reason": p.reason,
    }  # fmt: skip


def print_live(console: Console, data: dict[str, Any]) -> None:
    hops, ref = data["hops"], data["refusals"]
    depth = max((h["depth"] for h in hops), default=0)
    console.print(
        f"live walk on lab {data['lab']}: {len(hops)} hops, {depth} deep, then "
        f"{ref['sent']} flows toward hosts out of reach; {data['batches']} batches, "
        f"{data['seconds']:.2f} s" + f", {data['reprobed']} sent again" * bool(data["reprobed"]),
        markup=False,
    )  # fmt: skip
    many = len(data["footholds"]) > 1
    table = Table()
    for col in (*(("foothold",) * many), "hop", "flow", "static rule", "live", "logged", ""):
        table.add_column(col, justify="right" if col == "hop" else "left")
    for h in hops[:SHOWN]:
        mark = "[green]✓[/]" if h["ok"] else "[red]✗[/]"
        table.add_row(
            *((h["from"],) * many), str(h["depth"]),
            escape(f"{h['src']} → {h['dst']} {port_text(h['proto'], h['port'])}"),
            escape(h["rule"]), h["observed"], escape(h["logged"] or "—"), mark,
        )  # fmt: skip
    if hops:
        console.print(table)
    if len(hops) > SHOWN:
        console.print(f"  … and {len(hops) - SHOWN} more hops (--json)")
    for h in hops:
        if not h["ok"]:
            flow = f"{h['src']} → {h['dst']} {port_text(h['proto'], h['port'])}"
            console.print(f"[red]✗[/] {escape(flow)}: {escape(h['reason'])}")
    by = ", ".join(f"{escape(r or 'no rule')} {n}" for r, n in ref["blocked_by"].items())
    if ref["sent"] and not ref["failures"]:
        console.print(
            f"[green]✓[/] {ref['sent']} flows toward hosts out of reach, all blocked ({by})"
        )
    for f in ref["failures"][:SHOWN]:
        flow = f"{f['src']} → {f['dst']} {port_text(f['proto'], f['port'])}"
        console.print(f"[red]✗[/] out of reach, yet {escape(flow)}: {escape(f['reason'])}")
    if data["ok"]:
        console.print("live and static agree on every path and every host out of reach")


def print_live_summary(console: Console, title: str, data: dict[str, Any]) -> None:
    """One line for a live walk, then each thing that differed (`twin compare --live`)."""
    hops, ref = data["hops"], data["refusals"]
    bad = [h for h in hops if not h["ok"]]
    console.print(
        f"{'[green]✓[/]' if data['ok'] else '[red]✗[/]'} live, {escape(title)}: {len(hops)} hops "
        + ("walked, each passed by its rule" if not bad else f"walked, {len(bad)} refused")
        + (
            "; no host out of reach"
            if not ref["sent"]
            else f"; {ref['sent']} flows toward hosts out of reach"
            + (", all blocked" if not ref["failures"] else f", {len(ref['failures'])} got through")
        )
        + f" ({data['seconds']:.2f} s)"
    )
    for h in bad[:SHOWN]:
        flow = f"{h['src']} → {h['dst']} {port_text(h['proto'], h['port'])}"
        console.print(f"    [red]✗[/] {escape(flow)}: {escape(h['reason'])}")
    for f in ref["failures"][:SHOWN]:
        flow = f"{f['src']} → {f['dst']} {port_text(f['proto'], f['port'])}"
        console.print(f"    [red]✗[/] out of reach, yet {escape(flow)}: {escape(f['reason'])}")
