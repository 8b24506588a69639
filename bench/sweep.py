"""Full TCP sweeps (ports 1-65535, one source host to one destination host) on a netns twin,
each beside its floor measured in the same run.

One lab, four zones of one host: from `src` to `opened` every TCP port is allowed (the
destination host's RST or a responder answers), to `rejected` every port is rejected (ICMP
admin-prohibited from the firewall), to `mixed` ports 1-1000 and 8080 are allowed, 1001-2000
rejected and the rest dropped (interzone default). Each sweep is judged: every port's verdict
against the policy's first match, and every port attributed to a rule by the firewall's NFLOG
record of its 5-tuple. Floor: a bare one-process epoll loop (bench/floor.py) making the same
connect()s with no bookkeeping and no log reader; three rounds of floor then prober, the best
of each printed. Targets (2 cores): a sweep judged in < 5 s, wrong verdicts 0, unattributed 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from bench.common import backlog_drops, figure, isolated_home, sized
from bench.floor import bare_epoll
from traffic.nflog import LogRecord, NflogReader
from traffic.prober import Judged, Sweep, sweep
from twin import pipeline
from twin.lab.registry import find_entry
from twin.verify.verify import DEFAULT_TIMEOUT

PORTS = range(1, sized(65536, 2001))
ROUNDS = sized(3, 1)
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
    listening = set(lab.state.responder_ports["tcp"])
    allow = {"allow": "closed", "deny": "filtered", "reject": "rejected"}
    verdicts, rules = [], []
    for port in PORTS:
        rule = lab.plan.decide("s1", dst, "tcp", port)
        v = allow[rule.action.value]
        verdicts.append("open" if v == "closed" and port in listening else v)
        rules.append(rule.name)
    return verdicts, rules


def attribute(sw: Sweep, judged: Judged, records: list[LogRecord]) -> list[str]:
    """Each port's rule from the firewall's record of its 5-tuple ("" = no record)."""
    by_key = {(r.dst, r.sport, r.dport): r.prefix for r in records if r.proto == sw.proto}
    return [by_key.get((sw.dst, judged.sports[k], port), "") for k, port in enumerate(sw.ports)]


class Round(NamedTuple):
    floor: float  # seconds, the bare loop
    floor_cpu: float  # CPU seconds this process used meanwhile
    probe: float  # seconds, the prober's sweep
    probe_cpu: float  # CPU seconds, the log reader's thread included
    judged: float  # the sweep, its log drained and every port attributed
    wrong: list[tuple[int, str, str]]  # (port, seen, policy)
    misattributed: int
    records: int
    conntrack: int  # entries in the firewall's table right after the sweep


def conntrack_entries(lab: pipeline.Lab) -> int:
    """The firewall's conntrack table size now (the kernel caps it at nf_conntrack_max)."""
    res = lab.runtime.exec(lab.state, lab.plan.firewall,
                           ["cat", "/proc/sys/net/netfilter/nf_conntrack_count"])  # fmt: skip
    return int(res.stdout or 0)


def one_round(lab: pipeline.Lab, sw: Sweep, want: list[str], want_rule: list[str]) -> Round:
    """The floor, then the prober with the firewall's log read and every port attributed."""
    plan = lab.plan
    cpu = time.process_time()
    floor, _ = bare_epoll([(sw.netns, sw.src, sw.dst, sw.proto, p) for p in sw.ports],
                          DEFAULT_TIMEOUT)  # fmt: skip
    floor_cpu = time.process_time() - cpu
    with NflogReader(lab.runtime.netns(lab.state, plan.firewall), plan.nflog_group) as reader:
        reader.start()
        t0, cpu = time.perf_counter(), time.process_time()
        (judged,) = sweep([sw], [str(z.subnet) for z in plan.zones], timeout=DEFAULT_TIMEOUT)
        t_probe, probe_cpu = time.perf_counter() - t0, time.process_time() - cpu
        records = reader.drain(settle=0.01, expect=len(sw.ports))
        rules = attribute(sw, judged, records)
        t_judged = time.perf_counter() - t0
    entries = conntrack_entries(lab)
    seen = [judged.verdict(k) for k in range(len(sw.ports))]
    wrong = [(p, got, w) for p, got, w in zip(sw.ports, seen, want, strict=True) if got != w]
    misattributed = sum(r != w for r, w in zip(rules, want_rule, strict=True))
    return Round(floor, floor_cpu, t_probe, probe_cpu, t_judged, wrong, misattributed,
                 len(records), entries)  # fmt: skip


def one_sweep(lab: pipeline.Lab, dst: str) -> bool:
    """ROUNDS rounds of floor then prober, alternating; the best of each (the machine is
    shared: the least disturbed run is the one that says what the code costs)."""
    host = lab.plan.by_host
    ns = lab.runtime.netns(lab.state, "s1")
    sw = Sweep(ns, str(host["s1"].address), str(host[dst].address), "tcp", PORTS)
    want, want_rule = expected(lab, dst)
    drops = backlog_drops()
    rounds = [one_round(lab, sw, want, want_rule) for _ in range(ROUNDS)]
    drops = backlog_drops() - drops
    floor = min(r.floor for r in rounds)
    probe = min(r.probe for r in rounds)
    wrong = [w for r in rounds for w in r.wrong]
    misattributed = sum(r.misattributed for r in rounds)
    n = len(PORTS)
    print(f"-- s1 -> {dst}: {n} TCP ports; policy says "
          + ", ".join(f"{k} {v}" for k, v in sorted(Counter(want).items()))
          + f"; best of {ROUNDS} rounds", flush=True)  # fmt: skip
    figure("sweep judged, every port attributed", min(r.judged for r in rounds), target="< 5 s")
    figure("probes sent and judged (prober)", probe, floor=floor)
    figure("probes per second (prober)", n / probe, "probes/s", floor=n / floor)
    print(f"    prober / floor (floor: bare epoll loop, same connect()s) {floor / probe:.2f}x; "
          "rounds (prober/floor s): "
          + ", ".join(f"{r.probe:.2f}/{r.floor:.2f}" for r in rounds), flush=True)  # fmt: skip
    cpu, floor_cpu = min(r.probe_cpu for r in rounds), min(r.floor_cpu for r in rounds)
    figure("CPU time of the process (prober + log reader)", cpu, floor=floor_cpu)
    print(f"    prober / floor in CPU time (steadier than the clock on a shared machine) "
          f"{floor_cpu / cpu:.2f}x", flush=True)  # fmt: skip
    figure("wrong verdicts, all rounds (must be 0)", len(wrong), "ports")
    for port, got, w in wrong[:3]:
        print(f"    tcp/{port}: {got}, policy says {w}", flush=True)
    figure("ports not logged under the policy's rule (must be 0)", misattributed, "ports")
    figure("firewall log records per round", min(r.records for r in rounds), "records",
           target=f">= {n}")  # fmt: skip
    limit = int(Path("/proc/sys/net/netfilter/nf_conntrack_max").read_text())
    figure("firewall conntrack entries after a sweep (most)", max(r.conntrack for r in rounds),
           "entries", target=f"< nf_conntrack_max {limit}")  # fmt: skip
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
