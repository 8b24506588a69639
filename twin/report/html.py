"""The HTML report: one self-contained file (inline CSS, no script, nothing fetched), for people.

What ran where (run id, host, twin version, times in UTC, policy and ruleset sha256), failures
first, then the zone×zone matrix coloured by verdict, the rehearsal (before → after, static
diff, disagreements), the intent lines, the twin's health before and after, the crafted
packets, the zone graph with the attack paths (static, `twin.report.graph`), the log evidence,
every flow probed (collapsible per zone pair; printing expands them all) and what the report
does and does not show. This module and `twin.report.sections` prepare every value; the
template (`templates/report/report.html.j2`) only loops and prints, autoescaped.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from twin.analysis.blast import Blast, check_unreachable, path_line
from twin.analysis.reach import Reach
from twin.files import write_output
from twin.plan.plan import Plan
from twin.policy.resolve import port_text
from twin.render.templates import INSTALLED_TEMPLATES, PACKAGE_TEMPLATES
from twin.report.console import intent_outcomes, summary_line
from twin.report.graph import zone_svg
from twin.report.sections import (
    crafted_rows,
    flow_groups,
    health_rows,
    run_facts,
    sweep_groups,
    sweep_rules,
)
from twin.verify.runs import SavedRun
from twin.verify.verdicts import PASSED, Observed
from twin.verify.verify import Result

MAX_ROWS = 500


@dataclass(frozen=True)
class Cell:
    css: str  # allow | block | mixed | fail | unsure | none
    label: str
    title: str


def render_html(saved: SavedRun, log_href: str | None = None) -> str:
    """The report of a kept run. `log_href`: the firewall's log records, relative to where the
    report goes (an evidence pack); else a link into the run folder while the file exists."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(PACKAGE_TEMPLATES), str(INSTALLED_TEMPLATES)]),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    run, plan = saved.run, saved.plan
    zones = [z.name for z in plan.zones]
    failures = [_row(r) for r in run.failures[:MAX_ROWS]]
    groups, cut = flow_groups(plan, run.results)
    return env.get_template("report/report.html.j2").render(
        lab=saved.lab,
        kind=saved.kind,
        facts=run_facts(saved, log_href),
        health_rows=health_rows(saved),
        crafted=crafted_rows(saved),
        flow_groups=groups,
        flows_cut=cut,
        sweep=sweep_groups(run),
        sweep_rules=sweep_rules(run),
        sweep_probes=run.sweep_probes,
        ok=run.ok and saved.evidence.ok and not saved.rehearsal.get("disagreements"),
        unsure=bool(run.inconclusive) and not run.failures and not run.health,
        inconclusive=[_row(r) for r in run.inconclusive[:MAX_ROWS]],
        summary=summary_line(run),
        source=run.source,
        health=run.health,
        warnings=run.warnings,
        failures=failures,
        more_failures=max(0, len(run.failures) - MAX_ROWS),
        zones=zones,
        matrix=[[_cell(_pairs(run.results).get((s, d), [])) for d in zones] for s in zones],
        intents=intent_outcomes(plan, run),
        rehearsal=saved.rehearsal,
        evidence=saved.evidence,
        evidence_problems=saved.evidence.problems,
        unlogged=[_row(r) for r in saved.evidence.unlogged[:MAX_ROWS]],
        max_rows=MAX_ROWS,
        breach=_breach(plan),
    )


def write_html(saved: SavedRun, path: Path, log_href: str | None = None) -> None:
    write_output(path, render_html(saved, log_href))


def _breach(plan: Plan) -> dict[str, Any]:
    """The zone graph (static, exact) and the `unreachable` intent lines, checked."""
    reach = Reach(plan)
    blast = Blast(reach)
    drawn = zone_svg(blast, inline=True)
    return {
        "svg": Markup(drawn.svg),  # every text in it is escaped by twin.graph
        "foothold": drawn.foothold,
        "unreachable": [
            {"name": c.name, "text": c.text, "holds": c.holds, "path": path_line(c.path or ())}
            for c in check_unreachable(reach, blast)
        ],
    }


def _pairs(results: list[Result]) -> dict[tuple[str, str], list[Result]]:
    out: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in results:
        out[(r.src_zone, r.dst_zone)].append(r)
    return out


def _cell(rs: list[Result]) -> Cell:
    if not rs:
        return Cell("none", "·", "not probed")
    allowed = [r for r in rs if r.observed in PASSED]
    bad = [r for r in rs if not r.ok and r.observed is not Observed.inconclusive]
    unsure = [r for r in rs if r.observed is Observed.inconclusive]
    services = sorted({port_text(r.proto, r.port) for r in allowed})
    title = "allowed: " + (", ".join(services) if services else "nothing")
    label = f"{len(allowed)}/{len(rs)}" + (f" ✗{len(bad)}" if bad else "")
    label += f" ?{len(unsure)}" if unsure else ""
    if bad:
        return Cell("fail", label, title + f"; {len(bad)} differ from policy or intent")
    if unsure:
        return Cell("unsure", label, title + f"; {len(unsure)} inconclusive")
    if not allowed:
        return Cell("block", label, title)
    return Cell("allow" if len(allowed) == len(rs) else "mixed", label, title)


def _row(r: Result) -> dict[str, Any]:
    return {
        "flow": f"{r.src} ({r.src_zone}) → {r.dst} ({r.dst_zone})",
        "service": r.service,
        "expected": r.expected,
        "observed": r.observed,
        "rule": r.rule or "—",
        "why": r.reason,
    }
