"""Blast radius (`twin blast`): the six-zone reference, and 100 zones x 10 hosts, 10,000 rules.

The large policy is bench/scale.py's (the one `make bench` also deploys), with five zones
marked sensitive and three `unreachable` intent lines. Figures: `twin blast FILE --json` as a
user runs it (a fresh process: load, plan, exact reachability, every host's fixed point, the
shortest path from each zone to each crown jewel, the intent, JSON written); then its stages in
one process. Floor: the bare fixed point of every host (Tarjan + closure over the host graph
already built), measured in the same run. Target (2 cores): the large analysis under 10 s.

Live walk (`twin blast --live --from web1` on a netns six-zone twin, as root): the command as a
user runs it (a fresh process: the static analysis, the health check, every hop sent from the
host the hop before reached, one batch per depth, each attributed by NFLOG, then the flows
toward hosts out of reach); then the walk in this process. Floor: the same probes sent at once
from their hosts with no judging and no log (bench/netns.py's bare sender), waiting one probe
timeout. Target: under 5 s.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.common import REFERENCE, Clock, figure, isolated_home, reference_copy, sized
from bench.netns import bare_probes
from bench.scale import scale_policy
from traffic.prober import Probe
from twin import pipeline
from twin.analysis.blast import Blast, check_unreachable
from twin.analysis.reach import Reach
from twin.analysis.walkplan import walk_plan
from twin.lab.registry import find_entry
from twin.plan.build import build_plan
from twin.policy.load import load_policy
from twin.report.blast import blast_data
from twin.verify.verify import DEFAULT_TIMEOUT

ROOT = Path(__file__).resolve().parent.parent
SENSITIVE = sized(("z007", "z031", "z050", "z077", "z099"), ("z003", "z007"))
ZONES = sized(100, 10)
LINES = sized(
    (("z000", "z050"), ("z010", "z099"), ("z020", "z007h3")), (("z000", "z005"), ("z002", "z007h3"))
)


def big_policy(path: Path) -> Path:
    data = scale_policy(ZONES)
    for z in SENSITIVE:
        data["zones"][z]["sensitive"] = True
    data["expect"] = [
        {"name": f"{a}-never-{b}", "from": a, "to": b, "verdict": "unreachable"} for a, b in LINES
    ]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_blast(policy: Path, out: Path) -> tuple[float, float, dict[str, Any]]:
    """Wall-clock and CPU seconds of `twin blast FILE --json OUT`, and what it wrote."""
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "twin", "blast", str(policy), "--json", str(out)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode not in (0, 1):
        raise SystemExit(f"twin blast failed ({res.returncode}): {res.stderr.strip()[-300:]}")
    used = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    return took, used, json.loads(out.read_text())


def stages(policy: Path) -> dict[str, float]:
    """The command's stages in this process, the collector paused as the command does."""
    gc.disable()
    clock = Clock()
    loaded = load_policy(policy)
    out = {"load": clock.lap()}
    plan = build_plan(loaded)
    out["plan"] = clock.lap()
    reach = Reach(plan)
    out["exact host reachability (reach)"] = clock.lap()
    blast = Blast(reach)
    blast.closures()
    out["fixed point of every host"] = clock.lap()
    for j in blast.jewels:
        blast.toward(j.hosts)
    out["shortest paths to the crown jewels"] = clock.lap()
    check_unreachable(reach, blast)
    out["unreachable intent"] = clock.lap()
    blast_data(blast, str(policy))
    out["whole report (blast_data, again)"] = clock.lap()
    gc.enable()
    floor = min(_floor(blast) for _ in range(3))
    out["floor"] = floor
    out["edges"] = len(reach.edges)
    return out


def _floor(blast: Blast) -> float:
    started = time.perf_counter()
    blast.closures()
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="twin-bench-blast-") as tmp:
        took, _, data = run_blast(REFERENCE, Path(tmp) / "ref.json")
        web = next(z for z in data["zones"] if z["zone"] == "web")
        figure("twin blast, six-zone reference (process)", took)
        print(f"    web reaches {web['reached']} hosts beyond its own; intent ok: {data['ok']}")
        policy = big_policy(Path(tmp) / "big.yml")
        took, cpu, data = run_blast(policy, Path(tmp) / "big.json")
        inner = stages(policy)
        floor = inner.pop("floor")
        edges = int(inner.pop("edges"))
        figure(f"twin blast, {ZONES} zones x 10 hosts, {ZONES * 100:,} rules", took, floor=floor,
               target="< 10 s")  # fmt: skip
        figure("  of which CPU time (the rest: waiting for a core)", cpu)
        print(f"    ratio {took / floor:,.0f}x the floor (the bare fixed point of 1,000 hosts "
              f"over {edges:,} host-group edges)")  # fmt: skip
        reached = [h["reached"] for h in data["hosts"]]
        broken = [i["name"] for i in data["intent"] if not i["holds"]]
        print(f"    hosts reached per foothold: min {min(reached)}, max {max(reached)}; "
              f"{len(data['zones'])} zones x {len(data['crown_jewels'])} crown jewels of "
              f"paths; unreachable lines broken: {', '.join(broken) or 'none'}")  # fmt: skip
        for name, value in inner.items():
            figure(f"  {name}", value)


def live_walk() -> None:
    if os.geteuid() != 0:
        print("  live walk skipped: needs root (network namespaces)")
        return
    with isolated_home("blastlive") as tmp:
        lab = f"bwalk{os.getpid() % 10000}"
        policy, _ = reference_copy(tmp, lab)
        pipeline.up(policy, "netns")
        try:
            opened = pipeline.open_lab(lab)
            walks = walk_plan(Blast(Reach(opened.plan)), "web1")
            pipeline.walk(opened, walks)  # warm: neighbour caches
            started = time.perf_counter()
            res = subprocess.run(
                [sys.executable, "-m", "twin", "blast", str(policy), "--live", "--from", "web1",
                 "--json", str(Path(tmp) / "live.json")],
                capture_output=True, text=True, check=False, cwd=ROOT,
            )  # fmt: skip
            took = time.perf_counter() - started
            clock = Clock()
            live = pipeline.walk(opened, walks)
            inner = clock.lap()
            hosts = {h.name: h for h in opened.plan.hosts}
            flows = [(s.hop.src, s.hop.dst, s.hop.proto, s.hop.port) for s in walks.steps]
            flows += [(r.src, r.dst, r.proto, r.port) for r in walks.refusals]
            probes = [
                Probe(opened.runtime.netns(opened.state, a), str(hosts[a].address),
                      str(hosts[b].address), proto, port)
                for a, b, proto, port in flows
            ]  # fmt: skip
            floor = min(bare_probes(probes, DEFAULT_TIMEOUT) for _ in range(3))
        finally:
            pipeline.down(find_entry(lab))
    if res.returncode != 0:
        raise SystemExit(f"twin blast --live failed ({res.returncode}): {res.stderr[-300:]}")
    figure("twin blast --live --from web1, six zones (process)", took, floor=floor,
           target="< 5 s")  # fmt: skip
    figure("  the walk (health check, batches, judging)", inner)
    figure("  probes sent and judged", live.seconds, floor=floor)
    print(f"    {len(live.hops)} hops in {walks.depth} depths, {len(live.refusals)} flows toward "
          f"hosts out of reach, {live.batches} batches; ratio {took / floor:,.0f}x the floor "
          f"(process), {live.seconds / floor:.1f}x (probes); failures "
          f"{len(live.failures)}")  # fmt: skip


if __name__ == "__main__":
    main()
    live_walk()
