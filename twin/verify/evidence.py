"""evidence: what the firewall's own log (NFLOG) says about a run. Pure.

The third check a twin exists for, after "did the packet pass" and "does that match the
intent": every denied probe must have left a log record naming the rule that dropped it, and
every rule marked `log: true` that probes hit must have logged. A deny with no record means
something other than the policy dropped the packet, or the log would be useless in an incident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twin.plan.plan import Plan
from twin.verify.verdicts import BLOCKED
from twin.verify.verify import Result, Verification


@dataclass(frozen=True)
class RuleEvidence:
    rule: str
    log: bool  # marked `log: true` in the policy (the defaults always log)
    hit: int  # probes the policy says this rule decides
    logged: int  # probes with a log record naming this rule
    packets: int  # the rule's counter during the run


@dataclass
class Evidence:
    log_file: str
    records: int  # NFLOG records of the run
    denied: int  # probes the twin blocked
    denied_logged: int  # … with a record naming the rule the policy predicts
    unlogged: list[Result] = field(default_factory=list)  # blocked, no record at all
    misattributed: list[Result] = field(default_factory=list)  # record names another rule
    silent: list[str] = field(default_factory=list)  # `log: true` rules hit, never logged
    rules: list[RuleEvidence] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.unlogged or self.misattributed or self.silent)

    @property
    def problems(self) -> list[str]:
        out = [f"{len(self.unlogged)} denied probes left no log line"] if self.unlogged else []
        if self.misattributed:
            out.append(f"{len(self.misattributed)} denied probes logged under another rule")
        out += [
            f"rule {r} is marked log: true and was hit, but logged nothing" for r in self.silent
        ]
        return out

    def to_json(self) -> dict[str, Any]:
        def flow(r: Result) -> dict[str, Any]:
            return {
                "src": r.src,
                "dst": r.dst,
                "proto": r.proto,
                "port": r.port,
                "observed": r.observed,
                "logged": r.rule,
                "predicted": r.predicted_rule,
            }

        return {
            "log_file": self.log_file,
            "records": self.records,
            "denied": self.denied,
            "denied_logged": self.denied_logged,
            "unlogged": [flow(r) for r in self.unlogged],
            "misattributed": [flow(r) for r in self.misattributed],
            "silent_rules": self.silent,
            "rules": [vars(r) for r in self.rules],
            "ok": self.ok,
        }


def log_evidence(plan: Plan, run: Verification) -> Evidence:
    blocked = [r for r in run.results if r.observed in BLOCKED]
    ev = Evidence(
        log_file=run.log_file,
        records=run.log_records,
        denied=len(blocked),
        denied_logged=sum(1 for r in blocked if r.rule and r.rule == r.predicted_rule),
        unlogged=[r for r in blocked if not r.rule],
        misattributed=[r for r in blocked if r.rule and r.rule != r.predicted_rule],
    )
    for rule in plan.rules:
        hit = sum(1 for r in run.results if r.predicted_rule == rule.name)
        logged = sum(1 for r in run.results if r.rule == rule.name)
        ev.rules.append(
            RuleEvidence(rule.name, rule.log, hit, logged, run.counters.get(rule.name, 0))
        )
        if rule.log and hit and not logged:
            ev.silent.append(rule.name)
    return ev
