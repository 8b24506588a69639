"""What a probe saw, in the words every report uses. str-valued: JSON, JUnit and the saved runs
print the same words as before."""

from __future__ import annotations

import enum

from traffic.prober import CLOSED, FILTERED, OPEN, REJECTED
from twin.policy.model import Verdict


class Observed(enum.StrEnum):
    """The prober's four words (traffic/prober.py), and twin's fifth."""

    open = OPEN  # handshake completed / reply received
    closed = CLOSED  # the destination host answered (RST, port unreachable): it got through
    filtered = FILTERED  # no answer: dropped
    rejected = REJECTED  # the firewall answered (RST or ICMP admin-prohibited)
    inconclusive = "inconclusive"  # the prober and the firewall's log disagreed, twice

    @property
    def verdict(self) -> Verdict | None:
        """allow or block; None for inconclusive."""
        return CLASS.get(self)


PASSED = (Observed.open, Observed.closed)
BLOCKED = (Observed.filtered, Observed.rejected)
CLASS = {
    Observed.open: Verdict.allow,
    Observed.closed: Verdict.allow,
    Observed.filtered: Verdict.block,
    Observed.rejected: Verdict.block,
}
