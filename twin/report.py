"""report: a Verification → terminal summary, JSON, JUnit XML. Pure formatting."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from twin.files import write_output
from twin.plan import Plan
from twin.provenance import from_json
from twin.verify import INCONCLUSIVE, Result, Verification

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
    for i, exp in enumerate(plan.policy.expect):
        if not exp.flow:
            continue  # unreachable lines are about paths: twin blast checks them
        name = exp.name or f"expect[{i}]"
        text = f"{exp.from_} -> {exp.to} {exp.service}: {exp.verdict.value}"
        flows = covered.get(name, [])
        bad = [r for r in flows if name in r.violates]
        unsure = [r for r in flows if r.observed == INCONCLUSIVE]
        out.append(IntentOutcome(i, name, text, len(flows), bad, unsure))
    return out


def summary_line(run: Verification) -> str:
    n = len(run.results)
    counts: dict[str, int] = defaultdict(int)
    for r in run.results:
        counts[r.observed] += 1
    rate = n / run.seconds if run.seconds else 0.0
    seen = ", ".join(
        f"{counts[k]} {k}"
        for k in ("open", "closed", "filtered", "rejected", INCONCLUSIVE)
        if counts[k]
    )
    return f"{n} probes in {run.seconds:.2f} s ({rate:,.0f}/s): {seen} — {verdict_words(run)}"


def verdict_words(run: Verification) -> str:
    if run.ok:
        return "all match"
    words = [f"{len(run.failures)} FAILED"] if run.failures or not run.inconclusive else []
    if run.inconclusive:
        words.append(
            f"{len(run.inconclusive)} INCONCLUSIVE (prober and firewall log disagreed twice: "
            "this machine could not judge them)"
        )
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
    if run.crafted:
        good = sum(1 for c in run.crafted if c.ok)
        mark = "[green]✓[/]" if good == len(run.crafted) else "[red]✗[/]"
        console.print(
            f"{mark} stateful and anti-spoofing: {good}/{len(run.crafted)} crafted packets "
            "(stray ACKs, spoofed SYNs) dropped by the right rule"
        )
        for c in run.crafted:
            if not c.ok:
                console.print(
                    f"  [red]✗[/] {c.kind} from {c.sender} as {c.src} → {c.dst} tcp/{c.port}: "
                    f"expected {c.expected_rule}, firewall logged {c.rule or 'nothing'}"
                )
    if run.failures:
        console.print(_failures(run.failures))
    if run.inconclusive:
        console.print(_failures(run.inconclusive, "flows inconclusive (no verdict: exit 3)"))
    for w in run.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    style = "green" if run.ok else "bold red"
    console.print(Text(summary_line(run), style=style))


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
            allowed = sum(1 for r in rs if r.observed in ("open", "closed"))
            bad = sum(1 for r in rs if not r.ok and r.observed != INCONCLUSIVE)
            unsure = sum(1 for r in rs if r.observed == INCONCLUSIVE)
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
            service_label(r.proto, r.port),
            r.expected,
            r.observed,
            r.rule or "—",
            r.reason,
        )
    if len(failures) > MAX_FAILURE_ROWS:
        table.caption = f"… and {len(failures) - MAX_FAILURE_ROWS} more (see --json)"
    return table


def service_label(proto: str, port: int) -> str:
    return "icmp" if proto == "icmp" else f"{proto}/{port}"


def run_json(run: Verification) -> dict[str, object]:
    """The JSON report: what was judged (policy file and sha256, ruleset sha256, baseline or
    rehearsal candidate), the outcome, and one object per flow."""
    return {
        "lab": run.lab,
        **run.source,
        "exit_code": run.exit_code,
        "summary": summary_line(run),
        "failures": len(run.failures),
        "inconclusive": len(run.inconclusive),
        "health": run.health,
        "results": run.to_json(),
    }


def write_json(run: Verification, path: Path) -> None:
    write_output(path, json.dumps(run_json(run), indent=1) + "\n")


def write_junit(plan: Plan, run: Verification, path: Path) -> None:
    """One test case per intent line, one per zone pair of the matrix."""
    suite = ET.Element("testsuite", name=f"twin.{plan.lab}", time=f"{run.seconds:.3f}")
    if run.source:
        props = ET.SubElement(suite, "properties")
        for key, value in run.source.items():
            ET.SubElement(props, "property", name=key, value=value)
    cases = failed = errors = 0
    for o in intent_outcomes(plan, run):
        case = ET.SubElement(suite, "testcase", classname=f"twin.{plan.lab}.intent", name=o.name)
        cases += 1
        if o.failures or not o.flows:
            failed += 1
            msg = (
                f"{o.text}: {len(o.failures)} of {o.flows} flows differ"
                if o.flows
                else f"{o.text}: no flow covers it"
            )
            fail = ET.SubElement(case, "failure", message=msg, type="intent")
            fail.text = "\n".join(_flow_line(r) for r in o.failures)
        elif o.inconclusive:
            errors += 1
            error = ET.SubElement(
                case, "error", type=INCONCLUSIVE,
                message=f"{o.text}: {len(o.inconclusive)} of {o.flows} flows inconclusive",
            )  # fmt: skip
            error.text = "\n".join(_flow_line(r) for r in o.inconclusive)
    pairs: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in run.results:
        pairs[(r.src_zone, r.dst_zone)].append(r)
    for (src, dst), rs in pairs.items():
        case = ET.SubElement(
            suite, "testcase", classname=f"twin.{plan.lab}.matrix", name=f"{src} -> {dst}"
        )
        cases += 1
        bad = [r for r in rs if not r.ok and r.observed != INCONCLUSIVE]
        unsure = [r for r in rs if r.observed == INCONCLUSIVE]
        if bad:
            failed += 1
            fail = ET.SubElement(
                case, "failure", message=f"{len(bad)} of {len(rs)} flows differ", type="flow"
            )
            fail.text = "\n".join(_flow_line(r) for r in bad)
        elif unsure:  # JUnit's error: the test could not be judged
            errors += 1
            error = ET.SubElement(
                case, "error", type=INCONCLUSIVE,
                message=f"{len(unsure)} of {len(rs)} flows inconclusive",
            )  # fmt: skip
            error.text = "\n".join(_flow_line(r) for r in unsure)
    if run.crafted:
        case = ET.SubElement(
            suite, "testcase", classname=f"twin.{plan.lab}.stateful", name="crafted packets"
        )
        cases += 1
        stray = [c for c in run.crafted if not c.ok]
        if stray:
            failed += 1
            fail = ET.SubElement(case, "failure", message=f"{len(stray)} crafted packets passed")
            fail.text = "\n".join(
                f"{c.kind} {c.sender} as {c.src} -> {c.dst} tcp/{c.port}: "
                f"expected {c.expected_rule}, logged {c.rule or 'nothing'}"
                for c in stray
            )
    suite.set("tests", str(cases))
    suite.set("failures", str(failed))
    suite.set("errors", str(errors))
    suites = ET.Element("testsuites", name="twin")
    suites.append(suite)
    write_output(path, ET.tostring(suites, encoding="utf-8", xml_declaration=True))


def _flow_line(r: Result) -> str:
    return (
        f"{r.src} -> {r.dst} {service_label(r.proto, r.port)}: expected {r.expected}, "
        f"observed {r.observed} (rule {r.rule or 'none'}): {r.reason}"
    )
