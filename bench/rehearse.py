"""One rehearsal round trip on the six-zone netns twin: swap the candidate in + the full matrix.

Figures: the swap alone (one `nft -f` transaction + `conntrack -F`), the round trip (swap and
every probe judged again), the whole `rehearse` call (the before-run included), the rollback.
Target (2 cores): round trip under 2 s.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from bench.common import Clock, figure, isolated_home, reference_copy, sized
from twin import pipeline, rehearse
from twin.lab.registry import find_entry

ROUNDS = sized(3, 1)


def main() -> int:
    if os.geteuid() != 0:
        print("  skipped: needs root (network namespaces)")
        return 0
    with isolated_home("rehearse") as tmp:
        base, data = reference_copy(tmp, f"bre{os.getpid() % 100000}", "base.yml")
        data["rules"].insert(0, {"name": "web-db-temp", "from": "web", "to": "db",
                                 "services": ["postgres"], "action": "allow"})  # fmt: skip
        cand = Path(tmp) / "candidate.yml"
        cand.write_text(yaml.safe_dump(data, sort_keys=False))
        pipeline.up(base, "netns")
        try:
            for i in range(ROUNDS):
                clock = Clock()
                done = rehearse.rehearse(cand, data["name"])
                whole = clock.lap()
                _, run = rehearse.roll_back(data["name"])
                back = clock.lap()
                print(f"  round {i + 1}: {len(done.after.results)} probes, "
                      f"{len(done.changed)} changed, {len(done.disagreements)} disagreements, "
                      f"rollback run {'ok' if run.ok else 'FAILED'}")  # fmt: skip
                figure("swap (nft -f + conntrack -F)", done.swap_seconds)
                figure("round trip: swap + full matrix", done.seconds, target="< 2 s")
                figure("rehearse call (before-run included)", whole)
                figure("rollback + full matrix", back)
        finally:
            left = pipeline.down(find_entry(data["name"]))
        if left:
            print(f"  left behind: {left}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
