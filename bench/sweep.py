"""Full TCP sweeps (ports 1-65535, one source host to one destination host) on a netns twin,
each beside its floor measured in the same run.

One lab, four zones of one host: from `src` to `opened` every TCP port is allowed (the
destination host's RST or a responder answers), to `rejected` every port is rejected (ICMP
admin-prohibited from the firewall), to `mixed` ports 1-1000 and 8080 are allowed, 1001-2000
rejected and the rest dropped (interzone default). Each sweep is judged: every port's verdict
against the policy's first match, and every port attributed to a rule by the firewall's NFLOG
record of its 5-tuple. Floor: a bare one-process epoll loop (bench/floor.py) making the same
connect()s with no bookkeeping and no log reader, before and after (mean). Targets (2 cores):
a sweep judged in < 5 s, wrong verdicts 0, unattributed 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from bench.common import backlog_drops, figure, isolated_home
from bench.floor import bare_epoll
from traffic.nflog import LogRecord, NflogReader
from traffic.prober import Probe, run_probes
from twin import pipeline
from twin.lab.registry import find_entry
from twin.verify.verify import DEFAULT_TIMEOUT

PORTS = range(1, 65536)
TARGETS = ("opened", "rejected", "mixed")


def sweep_policy(lab: str) -> dict[str, Any]:
    zones = ("src", *TARGETS)
    return {
        "name": lab,
        "defaults": {"interzone": "deny", "intrazone": "allow"},
        "zones": {z: {"subnet": f"10.93.{i + 1}.0/24", "hosts": [f"{z[0]}1"]}
                  for i, z in enumerate(zones)},
        "rules": [
            {"name": "all-open", "from": "src", "to": "opened", "services": ["tcp/1-65535"],
             "action": "allow"},
            {"name": "all-rejected", "from": "src", "to": "rejected", "services": ["tcp/1-65535"],
             "action": "reject"},
            {"name": "low-allowed", "from": "src", "to": "mixed",
             "services": ["tcp/1-1000", "tcp/8080"], "action": "allow"},
            {"name": "mid-rejected", "from": "src", "to": "mixed", "services": ["tcp/1001-2000"],
             "action": "reject"},
        ],
    }  # fmt: skip


def expected(lab: pipeline.Lab, dst: str) -> tuple[list[str], list[str]]:
    """Per port: the verdict the policy says (open where a responder listens), and the rule."""
    listening = set(lab.state.extra["responder_ports"]["tcp"])  # type: ignore[index]
    allow = {"allow": "closed", "deny": "filtered", "reject": "rejected"}
    verdicts, rules = [], []
    for port in PORTS:
        rule = lab.plan.decide("s1", dst, "tcp", port)
        v = allow[rule.action.value]
        verdicts.append("open" if v == "closed" and port in listening else v)
        rules.append(rule.name)
    return verdicts, rules


def attribute(probes: list[Probe], sports: list[int], records: list[LogRecord]) -> list[str]:
    """Each probe's rule from the firewall's record of its 5-tuple ("" = no record)."""
    by_key = {(r.dst, r.sport, r.dport): r.prefix for r in records if r.proto == "tcp"}
    return [by_key.get((p.dst, s, p.port), "") for p, s in zip(probes, sports, strict=True)]


def one_sweep(lab: pipeline.Lab, dst: str) -> bool:
    plan, state = lab.plan, lab.state
    host = plan.by_host
    ns = lab.runtime.netns(state, "s1")
    src, daddr = str(host["s1"].address), str(host[dst].address)
    subnets = [str(z.subnet) for z in plan.zones]
    want, want_rule = expected(lab, dst)
    bare = [(ns, src, daddr, "tcp", port) for port in PORTS]
    drops = backlog_drops()
    floor_a, counts = bare_epoll(bare, DEFAULT_TIMEOUT)
    probes = [Probe(ns, src, daddr, "tcp", port) for port in PORTS]
    reader = NflogReader(lab.runtime.netns(state, plan.firewall), plan.nflog_group)
    with reader.start():
        t0 = time.perf_counter()
        outcomes = run_probes(probes, subnets, timeout=DEFAULT_TIMEOUT)
        t_probe = time.perf_counter() - t0
        records = reader.drain(settle=0.01, expect=len(probes))
        rules = attribute(probes, [o.sport for o in outcomes], records)
        t_judged = time.perf_counter() - t0
    reader.close()
    floor_b, _ = bare_epoll(bare, DEFAULT_TIMEOUT)
    drops = backlog_drops() - drops
    floor = (floor_a + floor_b) / 2
    wrong = [(p.port, o.verdict, w) for p, o, w in zip(probes, outcomes, want, strict=True)
             if o.verdict != w]  # fmt: skip
    misattributed = sum(r != w for r, w in zip(rules, want_rule, strict=True))
    n = len(probes)
    print(f"-- s1 -> {dst}: {n} TCP ports; policy says "
          + ", ".join(f"{k} {v}" for k, v in sorted(Counter(want).items()))
          + "; floor saw " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
          flush=True)  # fmt: skip
    figure("sweep judged, every port attributed", t_judged, target="< 5 s")
    figure("probes sent and judged (prober)", t_probe, floor=floor)
    figure("probes per second (prober)", n / t_probe, "probes/s", floor=n / floor)
    print(f"    prober / floor (floor: bare epoll loop, mean of before and after) "
          f"{floor / t_probe:.2f}x", flush=True)  # fmt: skip
    figure("wrong verdicts (must be 0)", len(wrong), "ports")
    for port, got, w in wrong[:3]:
        print(f"    tcp/{port}: {got}, policy says {w}", flush=True)
    figure("ports not logged under the policy's rule (must be 0)", misattributed, "ports")
    figure("firewall log records", len(records), "records", target=f"{n}")
    figure("kernel input backlog drops (must be 0)", drops, "packets")
    return not wrong and not misattributed and not drops


def main() -> int:
    if os.geteuid() != 0:
        print("  skipped: needs root (network namespaces)")
        return 0
    ok = True
    with isolated_home("sweep") as tmp:
        lab_name = f"sweep{os.getpid() % 10000}"
        policy = Path(tmp) / "sweep.yml"
        policy.write_text(yaml.safe_dump(sweep_policy(lab_name), sort_keys=False))
        pipeline.up(policy, "netns")
        try:
            lab = pipeline.open_lab(lab_name)
            for dst in ("o1", "r1", "m1"):
                ok = one_sweep(lab, dst) and ok
        finally:
            left = pipeline.down(find_entry(lab_name))
        out = subprocess.run(["ip", "netns"], capture_output=True, text=True).stdout
        leftovers = [x for x in out.split() if x.startswith(f"clab-{lab_name}-")] + left
        figure("leftovers (must be 0)", len(leftovers), "items")
    return 0 if ok and not leftovers else 1


if __name__ == "__main__":
    sys.exit(main())
