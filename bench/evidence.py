"""The PCI evidence run on the six-zone reference (issue 14): `twin evidence pci FILE --cde
finance` on a netns twin — up, the flow matrix, every TCP and UDP port and ICMP from the five
other zones to finance and back (1,310,710 swept probes), the pack, down — then `twin evidence
verify`. Printed: the evidence run's wall time (target < 60 s) and CPU time (steadier than the
clock on a shared machine), the sweep's rate beside its floor, the pack's size.

Floor: a bare one-process epoll loop (bench/floor.py) making 2 x 65,535 of the same connects and
UDP sends (web1 to fin1, fin1 to web1) on a twin of the same policy, measured in the same run,
scaled by the number of processes the sweep used (it runs one per core).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.common import figure, isolated_home, reference_copy, sized
from bench.floor import bare_epoll
from twin import pipeline
from twin.lab.registry import find_entry
from twin.verify.verify import DEFAULT_TIMEOUT

PORTS = range(1, sized(65536, 201))


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def floor_rate(policy: Path, lab_name: str) -> float:
    """Probes per second of the bare loop: web1 → fin1 TCP (rejected), fin1 → web1 UDP (dropped)."""
    pipeline.up(policy, "netns")
    try:
        lab = pipeline.open_lab(lab_name)
        host = lab.plan.by_host
        ns = {h: lab.runtime.netns(lab.state, h) for h in ("web1", "fin1")}
        web, fin = str(host["web1"].address), str(host["fin1"].address)
        bare = [(ns["web1"], web, fin, "tcp", p) for p in PORTS]
        bare += [(ns["fin1"], fin, web, "udp", p) for p in PORTS]
        seconds, _ = bare_epoll(bare, DEFAULT_TIMEOUT)
        return len(bare) / seconds
    finally:
        pipeline.down(find_entry(lab_name))


def main() -> int:
    if os.geteuid() != 0:
        print("  skipped: needs root (network namespaces)")
        return 0
    with isolated_home("evidence") as tmp:
        lab = f"evid{os.getpid() % 10000}"
        policy, _ = reference_copy(tmp, lab)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        twin = [sys.executable, "-m", "twin"]
        cpu, t0 = child_cpu(), time.perf_counter()
        res = subprocess.run(
            [*twin, "evidence", "pci", str(policy), "--cde", "finance", "--runtime", "netns",
             "-o", f"{tmp}/ev", "--ports", f"1-{PORTS[-1]}"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall, cpu = time.perf_counter() - t0, child_cpu() - cpu
        if res.returncode != 0:
            print(res.stdout + res.stderr, flush=True)
        check = subprocess.run([*twin, "evidence", "verify", f"{tmp}/ev"], env=env, check=False)
        data = json.loads(Path(f"{tmp}/ev/results.json").read_text())
        sweep = data["sweep"]
        rate = sweep["probes"] / sweep["seconds"]
        size = sum(p.stat().st_size for p in Path(f"{tmp}/ev").iterdir())
        workers = min(os.cpu_count() or 1, 20)
        floor = floor_rate(policy, lab)
        print(f"-- twin evidence pci (six-zone reference, --cde finance): {sweep['probes']:,} "
              f"swept probes, {sweep['failures']} failing ranges, exit {res.returncode}, "
              f"pack check exit {check.returncode}", flush=True)  # fmt: skip
        figure("evidence run, up to down, pack written", wall, target="< 60 s")
        figure("CPU time of the evidence run (all processes)", cpu)
        figure("sweep probes per second", rate, "probes/s", floor=floor * workers)
        print(f"    sweep / floor ({workers} processes x a bare one-process epoll loop, "
              f"{floor:,.0f}/s each) {rate / (floor * workers):.2f}x", flush=True)  # fmt: skip
        figure("evidence pack size", size / 1e6, "MB")
    return 0 if res.returncode == 0 and check.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
