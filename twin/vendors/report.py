"""The import report: everything an import approximated, skipped, assumed or renamed.

Nothing is silently widened: each entry names the vendor file line and says what the twin does
instead. The report is data; the CLI prints it and writes it beside the policy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Kind(enum.StrEnum):
    approximated = "approximated"  # represented, but not exactly (L7 → L4, ICMP types, …)
    skipped = "skipped"  # not represented at all: a rule that cannot be represented safely
    assumed = "assumed"  # a fact the config does not give (zone subnets, hosts)
    rewritten = "rewritten"  # written differently (split, complemented), decisions unchanged


@dataclass(frozen=True)
class Note:
    kind: Kind
    subject: str  # e.g. "rule 'Allow Web'", "zone 'dmz'"
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{self.kind.value}: {where}{self.subject}: {self.message}"


@dataclass
class ImportReport:
    vendor: str
    file: str
    notes: list[Note] = field(default_factory=list)
    renamed: dict[str, dict[str, str]] = field(default_factory=dict)  # kind → vendor → twin
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, kind: Kind, subject: str, message: str, line: int | None = None) -> None:
        self.notes.append(Note(kind, subject, message, line))

    def of(self, kind: Kind) -> list[Note]:
        return [n for n in self.notes if n.kind is kind]

    def as_data(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "file": self.file,
            "counts": self.counts,
            "notes": [
                {"kind": n.kind.value, "line": n.line, "subject": n.subject, "message": n.message}
                for n in self.notes
            ],
            "renamed": self.renamed,
        }

    def summary(self) -> str:
        c = self.counts
        parts = [
            f"{c.get('zones', 0)} zones",
            f"{c.get('rules_in', 0)} {self.vendor} rules → {c.get('rules_out', 0)} twin rules",
            f"{len(self.of(Kind.approximated))} approximated",
            f"{len(self.of(Kind.skipped))} skipped",
            f"{len(self.of(Kind.assumed))} assumptions",
            f"{sum(len(v) for v in self.renamed.values())} names mapped",
        ]
        return ", ".join(parts)
