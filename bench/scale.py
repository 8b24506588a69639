"""Scale on netns: generated policies of 6, 25 and 100 zones × 10 hosts (100 zones: 10,000 rules).

For each size: up beside its floor measured in the same run (one bare `ip -batch` making the
same namespaces and veth links, one `nft -f` of the same ruleset in one of them), a zone-pair
matrix (every ordered zone pair × every port the policy names, one representative host pair
each) judged with every blocked probe attributed — its first pass beside a bare epoll loop
sending the same probes (bench/floor.py) —, down, memory, leftovers. Targets at 100 zones
(2 cores): up within 3x its floor (and < 10 s), matrix (~100,000 probes) < 30 s and >= 15,000
probes/s, down < 3 s, 0 flows differing, 0 inconclusive, nothing left behind.
`python bench/scale.py 25` runs one size.
"""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from bench.common import Clock, backlog_drops, figure, isolated_home, sized
from bench.floor import Bare, bare_epoll
from twin import pipeline
from twin.deploy.hostlimits import NEIGH
from twin.lab.directory import TOPOLOGY
from twin.lab.registry import find_entry
from twin.plan.flows import plan_flows
from twin.verify.verify import DEFAULT_TIMEOUT

SERVICES = ["tcp/22", "tcp/80", "tcp/443", "tcp/445", "tcp/3389", "tcp/3306", "tcp/5432",
            "tcp/8080", "udp/53", "icmp"]  # fmt: skip
RULES_PER_ZONE = 100


def scale_policy(zones: int, hosts: int = 10, seed: int = 7) -> dict[str, Any]:
    """`zones` zones of `hosts` hosts and 100 rules per zone on the usual ports: zone-pair rules,
    some narrowed to a /28 or /30 of the destination, a few from or to any; mixed actions."""
    rnd = random.Random(seed)
    names = [f"z{i:03d}" for i in range(zones)]
    subnet = {z: f"10.{i // 250}.{i % 250}" for i, z in enumerate(names)}
    rules = []
    for n in range(RULES_PER_ZONE * zones):
        src, dst = rnd.sample(names, 2)
        rule: dict[str, Any] = {"name": f"r{n:05d}", "from": src, "to": dst}
        if rnd.random() < 0.01:
            rule["from"] = "any"
        rule["services"] = rnd.sample(SERVICES, rnd.choice((1, 1, 1, 2, 3)))
        if rnd.random() < 0.2:
            rule["destination"] = [f"{subnet[dst]}.{rnd.choice((0, 16))}/{rnd.choice((28, 30))}"]
        rule["action"] = rnd.choices(["allow", "deny", "reject"], [0.6, 0.3, 0.1])[0]
        rules.append(rule)
    return {
        "name": f"scale{zones}x{os.getpid() % 1000}",
        "defaults": {"interzone": "deny", "intrazone": "allow"},
        "zones": {
            z: {"subnet": f"{subnet[z]}.0/24", "hosts": [f"{z}h{j}" for j in range(hosts)]}
            for z in names
        },
        "rules": rules,
    }


def mem_available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def bare_build(prep: pipeline.Prepared, prefix: str) -> tuple[float, float]:
    """The floor of `up`: the same namespaces and veth links by one `ip -batch`, the same
    ruleset by one `nft -f` inside the firewall's; then removed (not timed)."""
    topo = yaml.load(prep.files[TOPOLOGY], Loader=yaml.CSafeLoader)
    nodes = list(topo["topology"]["nodes"])
    batch = [f"netns add {prefix}{n}" for n in nodes]
    for link in topo["topology"]["links"]:
        (a, ai), (b, bi) = (e.split(":", 1) for e in link["endpoints"])
        batch.append(f"link add {ai} netns {prefix}{a} type veth peer name {bi} netns {prefix}{b}")
    ruleset = prep.files[f"configs/{prep.plan.firewall}.nft"]
    clock = Clock()
    try:
        subprocess.run(["ip", "-batch", "-"], input="\n".join(batch) + "\n", text=True, check=True)
        t_ip = clock.lap()
        subprocess.run(["ip", "netns", "exec", f"{prefix}{prep.plan.firewall}", "nft", "-f", "-"],
                       input=ruleset, text=True, check=True)  # fmt: skip
        t_nft = clock.lap()
    finally:
        gone = "".join(f"netns del {prefix}{n}\n" for n in nodes)
        subprocess.run(["ip", "-force", "-batch", "-"], input=gone, text=True, check=False)
    return t_ip, t_nft


def matrix_probes(lab: pipeline.Lab) -> list[Bare]:
    """The zone-pair matrix `twin test` sends, as the floor loop takes it."""
    host = lab.plan.by_host
    return [
        (lab.runtime.netns(lab.state, f.flow.src), str(host[f.flow.src].address),
         str(host[f.flow.dst].address), f.flow.proto, f.flow.port)
        for f in plan_flows(lab.plan, "zones")
    ]  # fmt: skip


def matrix_figures(run: pipeline.Verification, t_floor: float, drops: int, zones: int) -> int:
    """The matrix's probe rate beside its floor, and its truth figures; blocked probes that
    no rule claimed."""
    n = len(run.results)
    blocked = [r for r in run.results if r.observed in ("filtered", "rejected")]
    unattributed = [r for r in blocked if not r.rule]
    figure("probes", n, "probes")
    figure("probes sent and judged (first pass)", run.seconds, floor=t_floor)
    figure("probes per second (first pass)", n / run.seconds, "probes/s", floor=n / t_floor,
           target=">= 15,000" if zones == 100 else "")  # fmt: skip
    print(f"    prober / floor (floor: bare epoll loop, same probes, after) "
          f"{t_floor / run.seconds:.2f}x", flush=True)  # fmt: skip
    figure("kernel input backlog drops (must be 0)", drops, "packets")
    figure("blocked probes", len(blocked), "probes")
    return len(unattributed)


def one_size(zones: int, tmp: Path) -> bool:
    data = scale_policy(zones)
    lab = data["name"]
    policy = tmp / f"{lab}.yml"
    policy.write_text(yaml.safe_dump(data, sort_keys=False))
    hosts = zones * 10
    print(f"-- {zones} zones, {hosts} hosts, {len(data['rules'])} rules", flush=True)
    prep = pipeline.prepare(policy)
    first = bare_build(prep, f"floor{os.getpid() % 1000}-")
    free = mem_available_mib()
    clock = Clock()
    state = pipeline.up(policy, "netns", tune_host=True)
    t_up = clock.lap()
    used = free - mem_available_mib()
    try:
        lab_ = pipeline.open_lab(lab)
        clock.lap()
        drops = backlog_drops()
        run = pipeline.test(lab_, matrix="zones")
        t_test = clock.lap()
        t_floor, _ = bare_epoll(matrix_probes(lab_), DEFAULT_TIMEOUT)
        drops = backlog_drops() - drops
        responder = rss_mib(state.responder_pid)
    finally:
        clock.lap()
        left = pipeline.down(find_entry(lab))
        t_down = clock.lap()
    second = bare_build(prep, f"floor{os.getpid() % 1000}-")  # before and after (a busy
    floor_ip, floor_nft = ((a + b) / 2 for a, b in zip(first, second, strict=True))  # machine)
    floor = floor_ip + floor_nft
    figure("up", t_up, floor=floor, target="< 3x floor" + (", < 10 s" if zones == 100 else ""))
    print(f"    floor (mean of before and after): ip -batch {floor_ip:.3f} s + nft -f "
          f"{floor_nft:.3f} s; "
          f"up / floor {t_up / floor:.2f}x", flush=True)  # fmt: skip
    figure("zone-pair matrix judged", t_test, target="< 30 s" if zones == 100 else "")
    unattributed = matrix_figures(run, t_floor, drops, zones)
    figure("blocked probes without a rule (must be 0)", unattributed, "probes")
    figure("flows differing from the policy (must be 0)", len(run.failures), "flows")
    figure("flows inconclusive (must be 0)", len(run.inconclusive), "flows")
    for r in [*run.failures, *run.inconclusive][:3]:
        print(f"    {r.src} -> {r.dst} {r.proto}/{r.port}: {r.observed}, {r.reason}", flush=True)
    figure("probes sent twice (no agreeing firewall record)", run.reprobed, "probes")
    figure("down", t_down, target="< 3 s" if zones == 100 else "")
    figure("memory: the machine's, while up", used, "MiB")
    figure("memory: responder process", responder, "MiB")
    out = subprocess.run(["ip", "netns"], capture_output=True, text=True).stdout
    leftovers = [x for x in out.split() if x.startswith(f"clab-{lab}-")] + left
    figure("leftovers (must be 0)", len(leftovers), "items")
    return not (
        leftovers or unattributed or run.failures or run.inconclusive or run.health or drops
    )


def main(argv: list[str]) -> int:
    if os.geteuid() != 0:
        print("  skipped: needs root (network namespaces)")
        return 0
    sizes = [int(a) for a in argv] or sized([6, 25, 100], [6])
    limits = {k: (NEIGH[4] / k).read_text() for k in ("gc_thresh1", "gc_thresh2", "gc_thresh3")}
    ok = True
    try:
        with isolated_home("scale") as tmp:
            for zones in sizes:
                ok = one_size(zones, Path(tmp)) and ok
    finally:
        for key, value in reversed(limits.items()):  # put the machine back as it was
            (NEIGH[4] / key).write_text(value)
    figure("this process: peak memory", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "MiB")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
