"""Host enforcement beside the central firewall: the same twin up and tested with
`enforcement: central` (the floor) and `enforcement: host`, on the six-zone reference and on a
generated 25-zone policy (200 rules, one host pair per zone pair). Prints up and test times of
both (the better of two rounds, modes taking turns), their ratio, and how many flows got the
same verdict and the same deciding rule.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml

from bench.common import REFERENCE, figure, isolated_home, measured_lab, sized
from bench.diff import generate_policy


def one(tmp: str, data: dict[str, Any], mode: str, matrix: str) -> tuple[float, float, Any]:
    """Up, a warm-up test, the measured test, down: (up s, test s, the run)."""
    lab = f"hm{mode[0]}{os.getpid() % 10000}{len(data['zones'])}"
    body = {**data, "name": lab, "firewall": {**data.get("firewall", {}), "enforcement": mode}}
    path = Path(tmp) / f"{lab}.yml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    with measured_lab(path, lab, matrix=matrix) as (_, m):
        pass
    return m.up, m.test, m.run


def compare(name: str, tmp: str, data: dict[str, Any], matrix: str) -> bool:
    best: dict[str, tuple[float, float, Any]] = {}
    for _ in range(sized(2, 1)):
        for mode in ("central", "host"):
            t_up, t_test, run = one(tmp, data, mode, matrix)
            had = best.get(mode)
            best[mode] = (
                min(t_up, had[0]) if had else t_up,
                min(t_test, had[1]) if had else t_test,
                run,
            )
    (c_up, c_test, central), (h_up, h_test, host) = best["central"], best["host"]
    a = {(r.src, r.dst, r.proto, r.port): (r.observed, r.rule) for r in central.results}
    b = {(r.src, r.dst, r.proto, r.port): (r.observed, r.rule) for r in host.results}
    same = sum(1 for k, v in a.items() if b.get(k) == v)
    figure(f"{name}: up, host (floor: central)", h_up, floor=c_up)
    figure(f"{name}: up, host / central", h_up / c_up, "x")
    figure(f"{name}: test, host (floor: central)", h_test, floor=c_test)
    figure(f"{name}: test, host / central", h_test / c_test, "x")
    figure(f"{name}: flows probed", len(a), "flows")
    figure(f"{name}: same verdict and rule (all)", same, "flows")
    ok = central.ok and host.ok and same == len(a) == len(b)
    figure(f"{name}: failures (must be 0)", len(central.failures) + len(host.failures), "flows")
    return ok


def main() -> int:
    if os.geteuid() != 0:
        print("  skipped: needs root (network namespaces)")
        return 0
    with isolated_home("hostmode") as tmp:
        ok = compare("6 zones", tmp, yaml.safe_load(REFERENCE.read_text()), "auto")
        generated = generate_policy(zones=sized(25, 6), rules=sized(200, 30), seed=11)
        generated["expect"] = []  # random intent lines fail both modes alike
        ok = compare(f"{len(generated['zones'])} zones", tmp, generated, "zones") and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
