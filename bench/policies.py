"""Generated policies for benchmarks and scale tests: N zones, M rules, deterministic."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

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
