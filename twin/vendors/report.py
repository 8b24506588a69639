"""The import report: everything an import approximated, skipped, assumed or renamed.

Nothing is silently widened: each entry names the vendor file line, says what the twin does
instead and, when a verdict may differ from the device's, in which direction: the twin *could
allow more* (it allows flows the device blocks) or *could block more* (the reverse). Every
vendor rule also gets one outcome (exact, approximated, skipped, disabled, never) so the figures
"rules read / imported exactly / approximated / skipped" come from one place. The report is
data; the CLI prints it and writes it beside the policy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Kind(enum.StrEnum):
    approximated = "approximated"  # represented, but not exactly (L7 → L4, ICMP types, …)
    skipped = "skipped"  # not represented at all: a rule that cannot be represented safely
    assumed = "assumed"  # a fact the config does not give (zone subnets, hosts)
    rewritten = "rewritten"  # written differently (split, complemented, NAT), decisions unchanged


class Direction(enum.StrEnum):
    """Which way a twin verdict may differ from the device's."""

    allow_more = "could allow more"
    block_more = "could block more"
    both = "could allow more and could block more"
    untested = "not tested (IPv6)"  # the twin is IPv4: the device's IPv6 decisions are not checked


def combine(a: Direction | None, b: Direction | None) -> Direction | None:
    if a is None or a == b:
        return b
    if b is None:
        return a
    if Direction.untested in (a, b):
        return a if b is Direction.untested else b
    return Direction.both


class Outcome(enum.StrEnum):
    exact = "exact"  # decides every IPv4 flow as the device does
    approximated = "approximated"
    skipped = "skipped"
    disabled = "disabled"  # disabled on the device: imported as disabled, decides nothing
    never = "never"  # can never match an IPv4 flow: decides nothing, exactly


@dataclass(frozen=True)
class Note:
    kind: Kind
    subject: str  # e.g. "rule 'Allow Web'", "zone 'dmz'"
    message: str
    line: int | None = None
    direction: Direction | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        towards = f" [{self.direction.value}]" if self.direction else ""
        return f"{self.kind.value}: {where}{self.subject}: {self.message}{towards}"


@dataclass
class RuleOutcome:
    name: str
    line: int | None
    outcome: Outcome
    direction: Direction | None = None
    twin_rules: tuple[str, ...] = ()
    from_: tuple[str, ...] = ()  # twin zones (or any) the device rule applies to
    to: tuple[str, ...] = ()


@dataclass
class ImportReport:
    vendor: str
    file: str
    notes: list[Note] = field(default_factory=list)
    renamed: dict[str, dict[str, str]] = field(default_factory=dict)  # kind → vendor → twin
    counts: dict[str, int] = field(default_factory=dict)
    rules: list[RuleOutcome] = field(default_factory=list)

    def add(
        self,
        kind: Kind,
        subject: str,
        message: str,
        line: int | None = None,
        direction: Direction | None = None,
    ) -> None:
        self.notes.append(Note(kind, subject, message, line, direction))

    def of(self, kind: Kind) -> list[Note]:
        return [n for n in self.notes if n.kind is kind]

    def outcomes(self) -> dict[str, int]:
        """rules read, and how many of them ended exact / approximated / skipped / …"""
        out = {"read": len(self.rules)}
        for o in Outcome:
            out[o.value] = sum(1 for r in self.rules if r.outcome is o)
        return out

    def strict_failures(self) -> list[RuleOutcome]:
        """Rules whose twin verdicts may differ from the device's (what `--strict` refuses)."""
        return [r for r in self.rules if r.direction is not None]

    def as_data(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "file": self.file,
            "counts": self.counts,
            "rules": self.outcomes(),
            "notes": [
                {
                    "kind": n.kind.value,
                    "line": n.line,
                    "subject": n.subject,
                    "message": n.message,
                    "direction": n.direction.value if n.direction else None,
                }
                for n in self.notes
            ],
            "outcomes": [
                {
                    "rule": r.name,
                    "line": r.line,
                    "outcome": r.outcome.value,
                    "direction": r.direction.value if r.direction else None,
                    "twin_rules": list(r.twin_rules),
                }
                for r in self.rules
            ],
            "renamed": self.renamed,
        }

    def summary(self) -> str:
        c, o = self.counts, self.outcomes()
        extra = [f"{o[k]} {k}" for k in ("disabled", "never") if o[k]]
        parts = [
            f"{c.get('zones', 0)} zones",
            f"{o['read']} {self.vendor} rules read → {c.get('rules_out', 0)} twin rules",
            f"{o['exact']} exact",
            f"{o['approximated']} approximated",
            f"{o['skipped']} skipped",
            *extra,
            f"{len(self.of(Kind.assumed))} assumptions",
            f"{sum(len(v) for v in self.renamed.values())} names mapped",
        ]
        if "expect" in c:
            parts.append(f"{c['expect']} derived intent lines")
        return ", ".join(parts)
