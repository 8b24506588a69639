"""What came back for each probe of a run: verdict codes in arrays, one slot per probe.

A sweep of 65,535 ports is three small arrays and a dict of the unusual details, not 65,535
objects; `outcome(i)` builds the Outcome of one probe when someone asks.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

OPEN, CLOSED, FILTERED, REJECTED = "open", "closed", "filtered", "rejected"
PENDING = 0
VERDICTS = ("pending", OPEN, CLOSED, FILTERED, REJECTED)  # code → name
CODE = {name: code for code, name in enumerate(VERDICTS)}


@dataclass
class Outcome:
    verdict: str = FILTERED
    sport: int = 0  # source port, or the ICMP echo id
    seq: int = 0  # ICMP echo sequence
    detail: str = ""
    rtt_ms: float = 0.0


class Judged:
    """Verdict, source port (ICMP: echo id), ICMP sequence, round trip and detail per probe."""

    def __init__(self, n: int, timeout: float) -> None:
        self.verdicts = bytearray(n)
        self.sports = array("H", bytes(2 * n))
        self.seqs = array("H", bytes(2 * n))
        self.rtt_ms = array("f", bytes(4 * n))
        self.details: dict[int, str] = {}  # only where the verdict's usual one does not say it
        self.timeout = timeout

    def __len__(self) -> int:
        return len(self.verdicts)

    def verdict(self, i: int) -> str:
        return VERDICTS[self.verdicts[i]]

    def detail(self, i: int) -> str:
        found = self.details.get(i)
        if found is not None:
            return found
        code = self.verdicts[i]
        if code == CODE[FILTERED]:
            return f"no answer in {self.timeout * 1000:.0f} ms"
        return "RST" if code == CODE[CLOSED] else ""

    def outcome(self, i: int) -> Outcome:
        return Outcome(
            VERDICTS[self.verdicts[i]], self.sports[i], self.seqs[i], self.detail(i),
            float(self.rtt_ms[i]),
        )  # fmt: skip

    def count(self, verdict: str) -> int:
        return self.verdicts.count(CODE[verdict])

    def part(self, start: int, stop: int) -> Judged:
        """Probes start..stop-1 as a Judged of their own (indexed from 0)."""
        out = Judged(0, self.timeout)
        out.verdicts = self.verdicts[start:stop]
        out.sports, out.seqs = self.sports[start:stop], self.seqs[start:stop]
        out.rtt_ms = self.rtt_ms[start:stop]
        out.details = {i - start: d for i, d in self.details.items() if start <= i < stop}
        return out
