"""What a sweep found, in port ranges: consecutive ports of one host pair and protocol with the
same outcome (verdict class, the rule the firewall logged, the rule the policy predicts, the
intent lines, pass or fail) are one row, so 65,535 ports read as a few lines per rule."""

from __future__ import annotations

from dataclasses import dataclass, field

CROSSED = "crossed"  # UDP: no answer from the host, and the firewall logged that it accepted it
ALLOWED = "allowed"  # a row's verdict when every port was open, closed or crossed


@dataclass
class SweptRange:
    src: str
    dst: str
    src_zone: str
    dst_zone: str
    proto: str
    lo: int
    hi: int
    verdict: str  # allowed | filtered | rejected | inconclusive
    rule: str  # the rule the firewall logged for these ports ("" if none)
    predicted: str  # allow | block: the policy's first match
    predicted_rule: str
    expected: str  # allow | block: the intent where a line covers the ports, else the policy
    ok: bool
    ports: int = 0  # ports probed in lo..hi (a port list may leave gaps: never inside a row)
    seen: dict[str, int] = field(default_factory=dict)  # open / closed / crossed / … counts
    intent: list[str] = field(default_factory=list)
    violates: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def label(self) -> str:
        if self.proto == "icmp":
            return "icmp"
        return f"{self.proto}/{self.lo}" + (f"-{self.hi}" if self.hi != self.lo else "")
