"""The parts of the HTML report an auditor reads beyond the verdict: what ran where (run id, host,
twin version, times in UTC), the twin's health before and after, the crafted packets, and every
flow probed, grouped by zone pair. Pure: values prepared for the template, nothing printed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.plan.plan import Plan
from twin.verify.runs import SavedRun, utc
from twin.verify.swept import ALLOWED, SweptRange
from twin.verify.verdicts import PASSED, Observed
from twin.verify.verify import Result, Verification

MAX_FLOW_ROWS = 50_000  # past this the flow list stops and says where the rest is (JSON)
PROTO_ORDER = {"tcp": 0, "udp": 1, "icmp": 2}


@dataclass(frozen=True)
class PairFlows:
    src: str
    dst: str
    probed: int
    allowed: int
    differ: int
    unsure: int
    rows: list[dict[str, str]]  # flows alike but for the service share a row; may be cut


def run_facts(saved: SavedRun, log_href: str | None) -> list[tuple[str, str, str]]:
    """(label, value, link) rows of the report's head: which run, where, when (UTC), which
    policy and ruleset. `log_href`: where the firewall's log records are, relative to the
    report (an evidence pack), else the run folder's file while it exists."""
    run, source = saved.run, saved.run.source
    started = run.started or saved.time
    rows = [("run", run.run_id or "(not kept)", ""), ("kind", saved.kind, "")]
    rows.append(("started", utc(started).replace("T", " ").replace("Z", " UTC"), ""))
    if run.ended:
        rows.append(("ended", utc(run.ended).replace("T", " ").replace("Z", " UTC"), ""))
    if run.host:
        host = f"{run.host.get('hostname', '?')} ({run.host.get('kernel', '?')})"
        rows += [("host", host, ""), ("twin version", run.host.get("twin", "?"), "")]
    if source:
        rows += [
            ("policy file", source.get("policy_file", ""), ""),
            *(
                [("the lab's copy of", source["policy_copy_of"], "")]
                if source.get("policy_copy_of")
                else []
            ),
            ("policy sha256", source.get("policy_sha256", ""), ""),
            (
                "ruleset sha256 (as the firewall held it)",
                source.get("ruleset_sha256") or "none",
                "",
            ),
            ("the lab enforces", source.get("enforcing", "baseline"), ""),
        ]
    href = log_href if log_href is not None else _log_uri(run.log_file)
    if href:
        rows.append(("firewall log records", f"{run.log_records} records (NFLOG)", href))
    else:
        rows.append(("firewall log records", f"{run.log_records} records; file not kept", ""))
    return rows


def _log_uri(log_file: str) -> str:
    """A link to the run folder's log file, only while that file exists."""
    if not log_file:
        return ""
    path = Path(log_file)
    return path.absolute().as_uri() if path.is_file() else ""


def health_rows(saved: SavedRun) -> list[dict[str, Any]]:
    """Before and after the run: what was checked, what was wrong."""
    checks = saved.run.health_checks
    out = []
    for when in ("before", "after"):
        h = checks.get(when)
        if isinstance(h, dict):
            out.append({
                "when": f"{when} the run", "ok": bool(h.get("ok")), "checks": h.get("checks", []),
                "problems": h.get("problems", []), "warnings": h.get("warnings", []),
            })  # fmt: skip
    return out


def crafted_rows(saved: SavedRun) -> list[dict[str, Any]]:
    what = {
        "stray-ack": "TCP ACK with no connection (stateful check)",
        "spoofed-syn": "SYN from another zone carrying the client's address (anti-spoofing)",
    }
    return [
        {
            "ok": c.ok, "kind": what.get(c.kind, c.kind), "sender": c.sender,
            "packet": f"{c.src} → {c.dst} tcp/{c.port}", "expected": c.expected_rule,
            "logged": c.rule or "nothing",
        }
        for c in saved.run.crafted
    ]  # fmt: skip


def flow_groups(plan: Plan, results: list[Result]) -> tuple[list[PairFlows], int]:
    """Every flow probed, by zone pair in the plan's zone order; and how many rows were left
    out past MAX_FLOW_ROWS."""
    by_pair: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in results:
        by_pair[(r.src_zone, r.dst_zone)].append(r)
    order = {z.name: i for i, z in enumerate(plan.zones)}
    budget, cut = MAX_FLOW_ROWS, 0
    groups = []
    for (src, dst), rs in sorted(
        by_pair.items(), key=lambda kv: (order.get(kv[0][0], 0), order.get(kv[0][1], 0))
    ):
        shown = rs[: max(0, budget)]
        budget -= len(shown)
        cut += len(rs) - len(shown)
        groups.append(PairFlows(
            src, dst, len(rs),
            sum(1 for r in rs if r.observed in PASSED),
            sum(1 for r in rs if not r.ok and r.observed is not Observed.inconclusive),
            sum(1 for r in rs if r.observed is Observed.inconclusive),
            merged_rows(shown),
        ))  # fmt: skip
    return groups, cut


def merged_rows(results: list[Result]) -> list[dict[str, str]]:
    """One row per host pair and outcome (expected, observed, rules, intent), its services
    listed together; a flow that differs or is inconclusive keeps a row of its own."""
    rows: dict[tuple[str, ...], dict[str, str]] = {}
    for r in results:
        row = flow_row(r)
        if row["css"]:
            rows[(str(len(rows)),)] = row
            continue
        key = (r.src, r.dst, r.expected, r.observed, r.rule, r.predicted_rule, row["intent"])
        if key in rows:
            rows[key]["service"] += ", " + row["service"]
        else:
            rows[key] = row
    return list(rows.values())


def flow_row(r: Result) -> dict[str, str]:
    return {
        "src": r.src, "dst": r.dst, "service": r.service,
        "expected": r.expected, "observed": r.observed, "rule": r.rule or "—",
        "predicted": r.predicted_rule, "intent": ", ".join(r.intent),
        "css": "" if r.ok else ("unsure" if r.observed is Observed.inconclusive else "bad"),
        "why": r.reason,
    }  # fmt: skip


@dataclass(frozen=True)
class SweepGroup:
    src: str  # host (zone)
    dst: str
    ports: int
    allowed: int
    differ: int
    unsure: int
    rows: list[dict[str, str]]


def sweep_groups(run: Verification) -> list[SweepGroup]:
    """The swept port ranges per host pair: each row consecutive ports with one verdict, one
    logged rule and one predicted rule."""
    by_pair: dict[tuple[str, str], list[SweptRange]] = defaultdict(list)
    for r in run.sweeps:
        by_pair[(f"{r.src} ({r.src_zone})", f"{r.dst} ({r.dst_zone})")].append(r)
    out = []
    for (src, dst), rs in by_pair.items():
        rows = [
            {
                "ports": r.label, "count": f"{r.ports:,}", "verdict": r.verdict,
                "seen": ", ".join(f"{n:,} {v}" for v, n in sorted(r.seen.items())),
                "rule": r.rule or "—", "predicted": r.predicted_rule,
                "intent": ", ".join(r.intent), "why": r.reason,
                "css": "" if r.ok else ("unsure" if r.verdict == Observed.inconclusive else "bad"),
            }
            for r in sorted(rs, key=lambda r: (PROTO_ORDER.get(r.proto, 9), r.lo))
        ]  # fmt: skip
        out.append(SweepGroup(
            src, dst, sum(r.ports for r in rs), sum(r.ports for r in rs if r.verdict == ALLOWED),
            sum(r.ports for r in rs if not r.ok and r.verdict != Observed.inconclusive),
            sum(r.ports for r in rs if r.verdict == Observed.inconclusive), rows,
        ))  # fmt: skip
    return out


def sweep_rules(run: Verification) -> list[dict[str, str]]:
    """Per rule the firewall logged: how many swept ports it decided, each way."""
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for r in run.sweeps:
        per[r.rule or "(no log record)"][r.verdict] += r.ports
    return [
        {"rule": rule, "ports": f"{sum(c.values()):,}",
         "verdicts": ", ".join(f"{n:,} {v}" for v, n in sorted(c.items()))}
        for rule, c in sorted(per.items(), key=lambda kv: -sum(kv[1].values()))
    ]  # fmt: skip
