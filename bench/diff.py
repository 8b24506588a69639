"""`twin diff` on the six-zone reference and on a generated 50-zone, 5,000-rule policy.

Also the generator of such policies (deterministic: zones, rules, seed), used by the scale
tests. Targets (2 cores): the large diff under 5 s, loading both files included.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.common import Clock, figure, sized
from twin.analysis.flowspace import FlowSpace, compare
from twin.analysis.rulecheck import check_rules
from twin.plan.build import build_plan
from twin.policy.load import load_policy

ROOT = Path(__file__).resolve().parent.parent
ZONES, RULES = sized((50, 5000), (6, 200))
PORTS = (22, 25, 53, 80, 111, 123, 389, 443, 445, 636, 1433, 3306, 3389, 5432, 6379, 8080, 8443)


def generate_policy(zones: int = 50, rules: int = 5000, seed: int = 1) -> dict[str, Any]:
    """A policy shaped like a large enterprise rulebase: mostly zone-pair rules on a few ports,
    some narrowed to host ranges (CIDRs inside the zones), a few `any` rules, mixed actions."""
    rnd = random.Random(seed)
    names = [f"z{i:02d}" for i in range(zones)]
    data: dict[str, Any] = {
        "name": f"gen{zones}x{rules}"[:20],
        "description": f"generated: {zones} zones, {rules} rules, seed {seed}",
        "defaults": {"interzone": "deny", "intrazone": "allow"},
        "zones": {
            z: {"subnet": f"10.{100 + i // 250}.{i % 250}.0/24", "hosts": [f"{z}h1", f"{z}h2"]}
            for i, z in enumerate(names)
        },
        "services": {"web": ["tcp/80", "tcp/443"], "dns": ["udp/53", "tcp/53"]},
        "rules": [],
        "expect": [],
    }
    for n in range(rules):
        src, dst = rnd.sample(names, 2)
        rule: dict[str, Any] = {"name": f"r{n:05d}", "from": src, "to": dst}
        roll = rnd.random()
        if roll < 0.02:
            rule["from"] = "any"
        elif roll < 0.04:
            rule["to"] = "any"
        svc = rnd.random()
        if svc < 0.55:
            rule["services"] = [f"tcp/{rnd.choice(PORTS)}"]
        elif svc < 0.7:
            lo = rnd.randrange(1024, 60000)
            rule["services"] = [f"tcp/{lo}-{lo + rnd.randrange(1, 500)}"]
        elif svc < 0.8:
            rule["services"] = ["web"]
        elif svc < 0.9:
            rule["services"] = ["dns", "icmp"]
        if rnd.random() < 0.25:
            i = names.index(dst)
            rule["destination"] = [f"10.{100 + i // 250}.{i % 250}.{rnd.randrange(0, 256, 16)}/28"]
        if rnd.random() < 0.1:
            i = names.index(src)
            rule["source"] = [f"10.{100 + i // 250}.{i % 250}.{rnd.randrange(0, 256, 64)}/26"]
        rule["action"] = rnd.choices(["allow", "deny", "reject"], [0.7, 0.2, 0.1])[0]
        rule["log"] = rnd.random() < 0.3
        data["rules"].append(rule)
    for _ in range(min(200, rules // 25)):
        src, dst = rnd.sample(names, 2)
        data["expect"].append(
            {"from": src, "to": dst, "service": f"tcp/{rnd.choice(PORTS)}",
             "verdict": rnd.choice(["allow", "block"])}
        )  # fmt: skip
    return data


def write_policy(path: Path, **kwargs: Any) -> Path:
    path.write_text(yaml.safe_dump(generate_policy(**kwargs), sort_keys=False))
    return path


# --- the benchmark ----------------------------------------------------------------------------


def time_diff(old: Path, new: Path) -> tuple[float, dict[str, Any]]:
    """`twin diff OLD NEW --json -` as a user runs it: a fresh process, loading included."""
    started = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "twin", "diff", "--json", "-", str(old), str(new)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    took = time.perf_counter() - started
    if res.returncode not in (0, 1):
        raise SystemExit(f"twin diff failed ({res.returncode}): {res.stderr.strip()[-300:]}")
    return took, json.loads(res.stdout)


def engine(old: Path, new: Path) -> dict[str, float]:
    """The stages inside one process: load, plan, partition, rule checks, compare."""
    clock = Clock()
    a, b = load_policy(old), load_policy(new)
    out = {"load both": clock.lap()}
    pa, pb = build_plan(a), build_plan(b)
    out["plan both"] = clock.lap()
    space = FlowSpace(pb)
    classes = sum(1 for _ in space.all_classes())
    out["partition (new)"] = clock.lap()
    check_rules(space)
    out["shadowed/redundant (new)"] = clock.lap()
    compare(pa, space)
    out["compare"] = clock.lap()
    out["classes"] = classes
    return out


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="twin-bench-diff-") as tmp:
        ref = ROOT / "topologies" / "zero-trust-6zone.yml"
        ref_new = Path(tmp) / "ref-candidate.yml"
        data = yaml.safe_load(ref.read_text())
        data["rules"].insert(0, {"name": "web-db-temp", "from": "web", "to": "db",
                                 "services": ["postgres"], "action": "allow"})  # fmt: skip
        ref_new.write_text(yaml.safe_dump(data, sort_keys=False))
        took, out = time_diff(ref, ref_new)
        figure("twin diff, six-zone reference (process)", took, target="< 1 s")
        print(f"    {len(out['intent_violations'])} intent violations, "
              f"{len(out['newly_allowed'])} newly allowed classes")  # fmt: skip
        big_old = write_policy(Path(tmp) / "big-old.yml", zones=ZONES, rules=RULES, seed=1)
        changed = generate_policy(zones=ZONES, rules=RULES, seed=1)
        for rule in changed["rules"][100:110]:  # ten rules flip their action
            rule["action"] = "deny" if rule["action"] == "allow" else "allow"
        big_new = Path(tmp) / "big-new.yml"
        big_new.write_text(yaml.safe_dump(changed, sort_keys=False))
        took, out = time_diff(big_old, big_new)
        figure(f"twin diff, {ZONES} zones x {RULES:,} rules (process)", took, target="< 5 s")
        print(f"    {len(out['newly_blocked'])} newly blocked, {len(out['newly_allowed'])} newly "
              f"allowed classes; {len(out['shadowed'])} shadowed, {len(out['redundant'])} "
              "redundant rules")  # fmt: skip
        stages = engine(big_old, big_new)
        for name, value in stages.items():
            if name != "classes":
                figure(f"  {name}", value)
        print(f"    {int(stages['classes']):,} flow classes in the new policy")


if __name__ == "__main__":
    main()
