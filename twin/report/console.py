"""The terminal report of a run: summary line, zone matrix, failures, intent. Pure formatting."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

from twin.plan.plan import Plan
from twin.policy.names import intent_names
from twin.verify.bypass import V6_BYPASS, is_bypass
from twin.verify.provenance import from_json
from twin.verify.swept import ALLOWED
from twin.verify.verdicts import PASSED, Observed
from twin.verify.verify import Result, Verification

MAX_FAILURE_ROWS = 40


@dataclass(frozen=True)
class IntentOutcome:
    index: int
    name: str
    text: str  # the intent line as the user wrote it, in one line
    flows: int
    failures: list[Result]
    inconclusive: list[Result]  # flows of the line this machine could not judge

    @property
    def holds(self) -> bool:
        return bool(self.flows) and not self.failures and not self.inconclusive


def intent_outcomes(plan: Plan, run: Verification) -> list[IntentOutcome]:
    covered: dict[str, list[Result]] = defaultdict(list)
    for r in run.results:
        for name in r.intent:
            covered[name].append(r)
    out = []
    names = intent_names(plan.policy.expect)
    for i, exp in enumerate(plan.policy.expect):
        if not exp.flow:
            continue  # unreachable lines are about paths: twin blast checks them
        name = names[i]
        text = f"{exp.from_} -> {exp.to} {exp.service}: {exp.verdict.value}"
        flows = covered.get(name, [])
        bad = [r for r in flows if name in r.violates]
        unsure = [r for r in flows if r.observed is Observed.inconclusive]
        out.append(IntentOutcome(i, name, text, len(flows), bad, unsure))
    return out


def summary_line(run: Verification) -> str:
    n = len(run.results)
    counts: dict[str, int] = defaultdict(int)
    for r in run.results:
        counts[r.observed] += 1
    rate = n / run.seconds if run.seconds else 0.0
    seen = ", ".join(f"{counts[k]} {k}" for k in Observed if counts[k])
    swept = ""
    if run.sweep_probes:
        per_s = run.sweep_probes / run.sweep_seconds if run.sweep_seconds else 0.0
        allowed = sum(r.ports for r in run.sweeps if r.verdict == ALLOWED)
        swept = (
            f"; swept {run.sweep_probes:,} ports in {run.sweep_seconds:.1f} s ({per_s:,.0f}/s): "
            f"{allowed:,} allowed, {len(run.sweeps)} ranges"
        )
    again = f" ({run.reprobed} sent again)" if run.reprobed else ""
    return (
        f"{n} probes in {run.seconds:.2f} s ({rate:,.0f}/s){again}: {seen}{swept} — "
        f"{verdict_words(run)}"
    )


def verdict_words(run: Verification) -> str:
    if run.ok:
        return "all match"
    unsure = run.inconclusive or run.sweep_inconclusive
    broken = run.broken_paths
    words = [f"{len(run.failures)} FAILED"] if run.failures or not (unsure or broken) else []
    if broken:
        words.append(f"{len(broken)} unreachable intent line{'s' * (len(broken) > 1)} BROKEN")
    if run.sweep_failures:
        ports = sum(r.ports for r in run.sweep_failures)
        words.append(f"{ports:,} swept ports FAILED ({len(run.sweep_failures)} ranges)")
    if run.inconclusive:
        words.append(
            f"{len(run.inconclusive)} INCONCLUSIVE (prober and firewall log disagreed twice: "
            "this machine could not judge them)"
        )
    if run.sweep_inconclusive:
        ports = sum(r.ports for r in run.sweep_inconclusive)
        words.append(f"{ports:,} swept ports INCONCLUSIVE")
    return ", ".join(words)


def print_report(console: Console, plan: Plan, run: Verification) -> None:
    source = from_json(run.source)
    if source is not None:
        console.print(source.line(), style="yellow" if source.candidate else "")
    console.print(_matrix(plan, run))
    intents = intent_outcomes(plan, run)
    held = sum(1 for o in intents if o.holds)
    console.print(f"intent: {held}/{len(intents)} lines hold")
    for o in intents:
        if o.failures:
            console.print(
                f"  [red]✗[/] {o.name}: {o.text} — {len(o.failures)} of {o.flows} flows differ"
            )
        elif o.inconclusive:
            console.print(
                f"  [yellow]?[/] {o.name}: {o.text} — {len(o.inconclusive)} of {o.flows} flows "
                "inconclusive"
            )
        elif not o.flows:
            console.print(f"  [yellow]?[/] {o.name}: {o.text} — no flow covers it")
    if run.paths:
        held = sum(1 for p in run.paths if p["holds"])
        mark = "[green]✓[/]" if held == len(run.paths) else "[red]✗[/]"
        console.print(
            f"{mark} unreachable: {held}/{len(run.paths)} intent lines hold (no path of any "
            "length through the flows the rules allow)"
        )
        for p in run.broken_paths:
            console.print(f"  [red]✗[/] {p['name']}: {p['text']} — a path: {p['path']}")
    crafted = [c for c in run.crafted if not is_bypass(c)]
    if crafted:
        good = sum(1 for c in crafted if c.ok)
        mark = "[green]✓[/]" if good == len(crafted) else "[red]✗[/]"
        console.print(
            f"{mark} stateful and anti-spoofing: {good}/{len(crafted)} crafted packets "
            "(stray ACKs, spoofed SYNs) dropped by the right rule"
        )
        for c in crafted:
            if not c.ok:
                console.print(
                    f"  [red]✗[/] {c.kind} from {c.sender} as {c.src} → {c.dst} tcp/{c.port}: "
                    f"expected {c.expected_rule}, firewall logged {c.rule or 'nothing'}"
                )
    _print_bypass(console, run)
    if run.sweeps:
        console.print(sweep_table(run))
    if run.failures:
        console.print(_failures(run.failures))
    if run.inconclusive:
        console.print(_failures(run.inconclusive, "flows inconclusive (no verdict: exit 3)"))
    for w in run.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    style = "green" if run.ok else "bold red"
    console.print(Text(summary_line(run), style=style))


BYPASS_SHOWN = 8  # failing bypass probes shown one a line; the rest are counted


def _print_bypass(console: Console, run: Verification) -> None:
    """The bypass check's line, and the "we forgot v6" finding by name."""
    bypass = [c for c in run.crafted if is_bypass(c)]
    if bypass:
        good = sum(1 for c in bypass if c.ok)
        mark = "[green]✓[/]" if good == len(bypass) else "[red]✗[/]"
        kinds = ", ".join(sorted({c.kind.split()[0] for c in bypass}))
        console.print(
            f"{mark} bypass: {good}/{len(bypass)} probes from addresses the policy did not plan "
            f"or from well-known source ports ({kinds}) blocked"
        )
        failed = [c for c in bypass if not c.ok]
        for c in failed[:BYPASS_SHOWN]:
            console.print(
                f"  [red]✗[/] {c.kind} from {c.sender} as {c.src} → {c.dst} "
                f"{c.proto}/{c.port}: {c.observed} (firewall logged {c.rule or 'nothing'})"
            )
        if len(failed) > BYPASS_SHOWN:
            console.print(f"  … and {len(failed) - BYPASS_SHOWN} more (the JSON report has all)")
    if run.forgot_v6:
        shown = ", ".join(run.forgot_v6[:3]) + (" …" if len(run.forgot_v6) > 3 else "")
        console.print(
            f"[red]✗ {V6_BYPASS}:[/] {len(run.forgot_v6)} IPv6 flows pass where the policy "
            f"blocks them, while IPv4 is blocked as planned ({shown}): the firewall filters "
            "IPv4 only"
        )


def _matrix(plan: Plan, run: Verification) -> Table:
    """Rows: source zone; columns: destination zone; cell: allowed/probed, red on failure."""
    cells: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in run.results:
        cells[(r.src_zone, r.dst_zone)].append(r)
    zones = [z.name for z in plan.zones]
    table = Table(title=f"lab {plan.lab}: flows allowed / probed (from row to column)")
    table.add_column("from \\ to", style="bold")
    for z in zones:
        table.add_column(z, justify="center")
    for src in zones:
        row = []
        for dst in zones:
            rs = cells.get((src, dst), [])
            if not rs:
                row.append(Text("·", style="dim"))
                continue
            allowed = sum(1 for r in rs if r.observed in PASSED)
            bad = sum(1 for r in rs if not r.ok and r.observed is not Observed.inconclusive)
            unsure = sum(1 for r in rs if r.observed is Observed.inconclusive)
            label = f"{allowed}/{len(rs)}" + (f" ✗{bad}" if bad else "")
            label += f" ?{unsure}" if unsure else ""
            style = "bold red" if bad else ("yellow" if unsure else "green" if allowed else "dim")
            row.append(Text(label, style=style))
        table.add_row(src, *row)
    return table


def _failures(
    failures: list[Result], what: str = "flows differ from the policy or the intent"
) -> Table:
    table = Table(title=f"{len(failures)} {what}")
    for col in ("flow", "service", "expected", "observed", "firewall rule", "why"):
        table.add_column(col)
    for r in failures[:MAX_FAILURE_ROWS]:
        table.add_row(
            f"{r.src} ({r.src_zone}) → {r.dst} ({r.dst_zone})",
            r.service,
            r.expected,
            r.observed,
            r.rule or "—",
            r.reason,
        )
    if len(failures) > MAX_FAILURE_ROWS:
        table.caption = f"… and {len(failures) - MAX_FAILURE_ROWS} more (see --json)"
    return table


def sweep_table(run: Verification) -> Table:
    """Per host pair and protocol: the port ranges each rule allowed; every range that differs
    from the policy or the intent (the HTML report lists every range)."""
    table = Table(title=f"port sweeps: {run.sweep_probes:,} ports, allowed ranges and failures")
    for col in ("from", "to", "ports", "verdict", "firewall rule", "why"):
        table.add_column(col)
    shown = [r for r in run.sweeps if r.verdict == ALLOWED or not r.ok]
    for r in shown[:MAX_FAILURE_ROWS]:
        table.add_row(
            f"{r.src} ({r.src_zone})", f"{r.dst} ({r.dst_zone})", r.label,
            Text(r.verdict, style="" if r.ok else "bold red"), r.rule or "—", r.reason,
        )  # fmt: skip
    if len(shown) > MAX_FAILURE_ROWS:
        table.caption = f"… and {len(shown) - MAX_FAILURE_ROWS} more (see --json or the HTML)"
    elif not shown:
        table.caption = "no swept port was allowed, and every one was blocked as the policy says"
    return table
