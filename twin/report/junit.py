"""The JUnit XML report of a run: one test case per intent line, one per zone pair."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from twin.files import write_output
from twin.plan.plan import Plan
from twin.report.console import intent_outcomes
from twin.verify.bypass import V6_BYPASS
from twin.verify.runs import utc
from twin.verify.swept import SweptRange
from twin.verify.verdicts import Observed
from twin.verify.verify import Result, Verification


def write_junit(plan: Plan, run: Verification, path: Path) -> None:
    """One test case per intent line, one per zone pair of the matrix."""
    suite = ET.Element("testsuite", name=f"twin.{plan.lab}", time=f"{run.seconds:.3f}")
    if run.source:
        props = ET.SubElement(suite, "properties")
        for key, value in {**run.source, **run_properties(run)}.items():
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
                case, "error", type=Observed.inconclusive,
                message=f"{o.text}: {len(o.inconclusive)} of {o.flows} flows inconclusive",
            )  # fmt: skip
            error.text = "\n".join(_flow_line(r) for r in o.inconclusive)
    for p in run.paths:  # `unreachable` lines: no path of any length
        case = ET.SubElement(
            suite, "testcase", classname=f"twin.{plan.lab}.unreachable", name=p["name"]
        )
        cases += 1
        if not p["holds"]:
            failed += 1
            fail = ET.SubElement(case, "failure", message=p["text"], type="intent")
            fail.text = f"a path: {p['path']}"
    pairs: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in run.results:
        pairs[(r.src_zone, r.dst_zone)].append(r)
    for (src, dst), rs in pairs.items():
        case = ET.SubElement(
            suite, "testcase", classname=f"twin.{plan.lab}.matrix", name=f"{src} -> {dst}"
        )
        cases += 1
        bad = [r for r in rs if not r.ok and r.observed is not Observed.inconclusive]
        unsure = [r for r in rs if r.observed is Observed.inconclusive]
        if bad:
            failed += 1
            fail = ET.SubElement(
                case, "failure", message=f"{len(bad)} of {len(rs)} flows differ", type="flow"
            )
            fail.text = "\n".join(_flow_line(r) for r in bad)
        elif unsure:  # JUnit's error: the test could not be judged
            errors += 1
            error = ET.SubElement(
                case, "error", type=Observed.inconclusive,
                message=f"{len(unsure)} of {len(rs)} flows inconclusive",
            )  # fmt: skip
            error.text = "\n".join(_flow_line(r) for r in unsure)
    n, f, e = _sweep_cases(suite, plan, run)
    cases, failed, errors = cases + n, failed + f, errors + e
    n, f = _packet_cases(suite, plan, run)
    cases, failed = cases + n, failed + f
    suite.set("tests", str(cases))
    suite.set("failures", str(failed))
    suite.set("errors", str(errors))
    suites = ET.Element("testsuites", name="twin")
    suites.append(suite)
    write_output(path, ET.tostring(suites, encoding="utf-8", xml_declaration=True))


def _packet_cases(suite: ET.Element, plan: Plan, run: Verification) -> tuple[int, int]:
    """Crafted packets and the bypass check; the "we forgot v6" finding: (cases, failures)."""
    cases = failed = 0
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
                f"{c.kind} {c.sender} as {c.src} -> {c.dst} {c.proto}/{c.port}: "
                f"expected {c.expected_rule}, logged {c.rule or 'nothing'}"
                for c in stray
            )
    if run.forgot_v6:
        case = ET.SubElement(suite, "testcase", classname=f"twin.{plan.lab}.ipv6", name=V6_BYPASS)
        cases, failed = cases + 1, failed + 1
        fail = ET.SubElement(
            case, "failure", message=f"{len(run.forgot_v6)} IPv6 flows pass where IPv4 is blocked"
        )
        fail.text = "\n".join(run.forgot_v6)
    return cases, failed


def _sweep_cases(suite: ET.Element, plan: Plan, run: Verification) -> tuple[int, int, int]:
    """One test case per swept zone pair: (cases, failures, errors) added."""
    cases = failed = errors = 0
    swept: dict[tuple[str, str], list[SweptRange]] = defaultdict(list)
    for s in run.sweeps:
        swept[(s.src_zone, s.dst_zone)].append(s)
    for (src, dst), ranges in swept.items():
        case = ET.SubElement(
            suite, "testcase", classname=f"twin.{plan.lab}.sweep", name=f"{src} -> {dst}"
        )
        cases += 1
        wrong = [s for s in ranges if not s.ok and s.verdict != Observed.inconclusive]
        unsure = [s for s in ranges if s.verdict == Observed.inconclusive]
        ports = sum(s.ports for s in ranges)
        if wrong or unsure:
            failed += bool(wrong)
            errors += not wrong
            node = ET.SubElement(
                case, "failure" if wrong else "error",
                type="sweep" if wrong else Observed.inconclusive.value,
                message=f"{sum(s.ports for s in wrong or unsure):,} of {ports:,} ports "
                + ("differ" if wrong else "inconclusive"),
            )  # fmt: skip
            node.text = "\n".join(
                f"{s.src} -> {s.dst} {s.label}: {s.verdict} (rule {s.rule or 'none'}): {s.reason}"
                for s in wrong or unsure
            )
    return cases, failed, errors


def run_properties(run: Verification) -> dict[str, str]:
    """The run's id, twin's version, the host and the times (UTC) as JUnit properties."""
    return {
        "run_id": run.run_id,
        "twin_version": run.host.get("twin", ""),
        "hostname": run.host.get("hostname", ""),
        "kernel": run.host.get("kernel", ""),
        "started": utc(run.started) if run.started else "",
        "ended": utc(run.ended) if run.ended else "",
    }


def _flow_line(r: Result) -> str:
    return (
        f"{r.src} -> {r.dst} {r.service}: expected {r.expected}, "
        f"observed {r.observed} (rule {r.rule or 'none'}): {r.reason}"
    )
