"""The terminal report of a policy change: static diff, rehearsal. Pure formatting."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

MAX_ROWS = 40


def print_diff(console: Console, data: dict[str, Any]) -> None:
    """`data` is `diff.diff_json(...)`: the same facts as --json, for people."""
    if data["intent_violations"]:
        console.print(
            _changes(
                f"{len(data['intent_violations'])} flow classes would VIOLATE INTENT",
                data["intent_violations"],
                intent=True,
            )
        )
    for item in data["paths_opened"]:
        console.print(
            f"[bold red]intent {item['intent']} ({item['text']}) is broken by a new path:[/] "
            + item["path"]
        )
    for key, title in (
        ("newly_blocked", "newly blocked"),
        ("newly_allowed", "newly allowed"),
        ("block_changed", "blocked differently (drop ↔ reject)"),
    ):
        if data[key]:
            console.print(_changes(f"{len(data[key])} flow classes {title}", data[key]))
    for item in data["violated_on_changed_zones"]:
        console.print(
            f"[bold red]intent {item['intent']} ({item['text']}) is broken by the new policy[/] "
            "on addresses the old policy had no zone for"
        )
    for r in data.get("zones_renamed", []):
        console.print(f"zone {r['old']} is renamed {r['new']} (same subnet): compared as such")
    for r in data.get("hosts_renamed", []):
        console.print(f"host {r['old']} is renamed {r['new']} (same addresses)")
    for r in data.get("rules_renamed", []):
        console.print(
            f"rule {r['old']} is renamed {r['new']} (same rule): its counters, log prefix and "
            "name in logs and reports change"
        )
    for m in data.get("zones_moved", []):
        if m["new"]:
            console.print(
                f"zone {m['old']} is re-addressed (now in {', '.join(m['new'])}): its flows "
                "are compared by address"
            )
    missing = data.get("not_compared", {})
    for item in missing.get("gone", []):
        console.print(
            f"[yellow]{', '.join(item['addresses'])} (zone {item['zone']}) is in no zone of the "
            "new policy: its flows are gone, not compared[/]"
        )
    for item in missing.get("added", []):
        console.print(
            f"[yellow]{', '.join(item['addresses'])} (zone {item['zone']}) was in no zone of the "
            "old policy (no route: blocked): what the new policy allows there is newly allowed[/]"
        )
    for u in data.get("intent_unverifiable", []):
        console.print(
            f"[bold red]intent {u['intent']} ({u['text']}) of the old policy cannot be "
            f"verified:[/] {u['why']}"
        )
    for item in data["already_violated"]:
        console.print(
            f"[yellow]intent {item['intent']} ({item['text']}) is broken already, "
            "before this change[/]"
        )
    shadowed = sorted(data["shadowed"], key=lambda s: not s["new"])
    for s in shadowed[:MAX_ROWS]:
        by = f"shadowed by {', '.join(s['by'])}" if s["by"] else "its addresses miss its zones"
        console.print(f"{_new(s)}rule {s['rule']} can never match: {by}")
    redundant = sorted(data["redundant"], key=lambda r: not r["new"])
    for r in redundant[:MAX_ROWS]:
        console.print(
            f"{_new(r)}rule {r['rule']} is redundant: {', '.join(r['instead'])} would "
            f"{r['action']} the same flows without it"
        )
    hidden = max(0, len(shadowed) - MAX_ROWS) + max(0, len(redundant) - MAX_ROWS)
    if hidden:
        console.print(f"… and {hidden} more shadowed or redundant rules (see --json)")
    failing = data["violates_intent"] or data.get("intent_unverifiable")
    console.print(diff_summary(data), style="bold red" if failing else "green")


def diff_summary(data: dict[str, Any]) -> str:
    counts = (
        f"{len(data['newly_blocked'])} newly blocked, {len(data['newly_allowed'])} newly allowed, "
        f"{len(data['block_changed'])} blocked differently (flow classes); "
        f"{len(data['shadowed'])} shadowed, {len(data['redundant'])} redundant rules"
    )
    for kind in ("zones", "hosts", "rules"):
        renamed = data.get(f"{kind}_renamed", [])
        if renamed:
            counts += f"; {kind} renamed: " + ", ".join(f"{r['old']} → {r['new']}" for r in renamed)
    moved = data.get("zones_moved", [])
    if moved:
        counts += "; zones re-addressed: " + ", ".join(
            f"{m['old']} → {', '.join(m['new']) or 'none'}" for m in moved
        )
    missing = data.get("not_compared", {})
    for key, title in (("added", "new addresses"), ("gone", "addresses gone")):
        held = [f"{a} ({i['zone']})" for i in missing.get(key, []) for a in i["addresses"]]
        if held:
            counts += f"; {title}: {', '.join(held)}"
    lost = sorted({u["intent"] for u in data.get("intent_unverifiable", [])})
    if lost and not data["violates_intent"]:
        return f"{counts} — intent CANNOT BE VERIFIED: {', '.join(lost)}"
    if data["violates_intent"]:
        broken = data["intent_violations"] + data["violated_on_changed_zones"]
        broken += data["paths_opened"]
        names = sorted({v["intent"] for v in broken})
        unverified = f"; cannot verify {', '.join(lost)}" if lost else ""
        return f"{counts} — the change VIOLATES intent: {', '.join(names)}{unverified}"
    if not (data["newly_blocked"] or data["newly_allowed"] or data["block_changed"]):
        return f"{counts} — no flow changes its verdict"
    return f"{counts} — intent holds"


def _new(item: dict[str, Any]) -> str:
    return "[yellow]new:[/] " if item.get("new") else ""


def _changes(title: str, rows: list[dict[str, Any]], intent: bool = False) -> Table:
    table = Table(title=title, title_style="bold red" if intent else "bold")
    cols = ["intent"] if intent else []
    for col in (*cols, "from", "to", "services", "old rule → new rule"):
        table.add_column(col)
    for row in rows[:MAX_ROWS]:
        cells: list[str | Text] = [Text(row["intent"], style="red")] if intent else []
        cells += [
            _where(row["src_zone"], row["sources"]),
            _where(row["dst_zone"], row["destinations"]),
            row["services"],
            f"{row['old_rule']} ({row['old_action']}) → {row['new_rule']} ({row['new_action']})",
        ]
        table.add_row(*cells)
    if len(rows) > MAX_ROWS:
        table.caption = f"… and {len(rows) - MAX_ROWS} more (see --json)"
    return table


def _where(zone: str, items: list[str]) -> str:
    return zone if items == [zone] else f"{zone}: {_short(items)}"


def _short(items: list[str], keep: int = 3) -> str:
    return ", ".join(items[:keep]) + (f" … (+{len(items) - keep})" if len(items) > keep else "")


def print_rehearsal(console: Console, data: dict[str, Any]) -> None:
    """`data` is `rehearse.Rehearsal.to_json()`: before → after for every probe that changed."""
    changed = data["changed"]
    if changed:
        table = Table(title=f"{len(changed)} probes changed verdict on the running twin")
        for col in ("flow", "service", "before → after", "firewall rule", "intent"):
            table.add_column(col)
        for c in changed[:MAX_ROWS]:
            broken = ", ".join(c["breaks"])
            table.add_row(
                f"{c['src']} ({c['src_zone']}) → {c['dst']} ({c['dst_zone']})",
                c["service"],
                f"{c['before']} → {c['after']}",
                f"{c['rule_before'] or '—'} → {c['rule_after'] or '—'}",
                Text(f"breaks {broken}", style="bold red") if broken else Text("ok", "green"),
            )
        if len(changed) > MAX_ROWS:
            table.caption = f"… and {len(changed) - MAX_ROWS} more (see --json)"
        console.print(table)
    for d in data["disagreements"]:
        console.print(
            f"[bold red]STATIC DIFF AND LIVE TWIN DISAGREE:[/] {d['src']} → {d['dst']} "
            f"{d['service']}: {d['why']}"
        )
    print_evidence(console, data["evidence"])
    console.print(
        f"rehearsal of {data['candidate']}: swap {data['swap_seconds'] * 1000:.0f} ms "
        f"(one nft transaction, conntrack flushed), {data['probes']} probes in "
        f"{data['probe_seconds']:.2f} s; {len(changed)} changed; static diff "
        + ("agrees" if not data["disagreements"] else "DISAGREES"),
        style="green" if data["ok"] else "bold red",
    )


def print_evidence(console: Console, ev: dict[str, Any]) -> None:
    """`ev` is `Evidence.to_json()`: the log's account of the run, its gaps first."""
    for r in ev["unlogged"][:MAX_ROWS]:
        console.print(
            f"[red]no log line:[/] {r['src']} → {r['dst']} {r['proto']}/{r['port']} was "
            f"{r['observed']} (policy: {r['predicted']})"
        )
    for r in ev["misattributed"][:MAX_ROWS]:
        console.print(
            f"[red]logged under {r['logged']}:[/] {r['src']} → {r['dst']} {r['proto']}/{r['port']}"
            f" (policy: {r['predicted']})"
        )
    for rule in ev["silent_rules"]:
        console.print(f"[red]rule {rule} is marked log: true and was hit, but logged nothing[/]")
    console.print(
        f"log evidence: {ev['denied_logged']} of {ev['denied']} denied probes logged under the "
        f"rule the policy predicts; {ev['records']} records in {ev['log_file'] or 'no file'}",
        style="green" if ev["ok"] else "bold red",
    )
