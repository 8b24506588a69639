"""The six-zone twin on the Docker engine: image check / up / full test / down.

Floor for `up`: the same 13 containers started by bare `docker run` calls (no veths, no
configuration), removed by one bare `docker rm -f` each — the floor for `down` (one at a time:
Docker Engine before 20.10.27 deadlocks on containers removed together, moby/moby#42545).
Targets (2 cores, image present): up < 15 s, the full matrix judged < 5 s, down < 10 s.
"""

from __future__ import annotations

import os
import subprocess
import sys

from bench.common import Clock, figure, isolated_home, measured_lab, reference_copy
from twin.images.build import build_node_image
from twin.runtime.docker import docker_unavailable, run_parallel


def bare_containers(image: str, names: list[str]) -> tuple[float, float]:
    clock = Clock()
    argvs = [["run", "-d", "--name", n, "--network", "none", image] for n in names]
    run_parallel(argvs, "bench: bare containers")
    up = clock.lap()
    for name in names:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=True, timeout=60)
    return up, clock.lap()


def main() -> int:
    why = docker_unavailable()
    if why is not None:
        print(f"  skipped: {why}")
        return 0
    clock = Clock()
    image = build_node_image()
    figure(f"node image ({image.method})", clock.lap(), target="seconds when cached")
    with isolated_home("docker") as tmp:
        lab = f"benchd{os.getpid() % 10000}"
        policy, data = reference_copy(tmp, lab)
        nodes = [f"clab-{lab}f-{n}" for n in ("fw", *(h for z in data["zones"].values()
                                                     for h in z["hosts"]))]  # fmt: skip
        floor_up, floor_down = bare_containers(image.tag, nodes)

        with measured_lab(policy, lab, "docker") as (_, m):
            pass
        run = m.run
        n = len(run.results)
        figure("up (six zones, 13 containers)", m.up, floor=floor_up, target="< 15 s")
        figure("first full test (cold caches)", m.first.seconds)
        figure("full test (probe + judge + logs + report data)", m.test, target="< 5 s")
        figure("probes sent and judged", run.seconds)
        figure("probes", n, "probes", target="same as netns")
        figure("probes per second", n / run.seconds, "probes/s")
        figure("failures (must be 0)", m.bad, "flows")
        figure("down", m.down, floor=floor_down, target="< 10 s")
        figure("leftovers (must be 0)", len(m.left), "items")
        return 1 if m.left or m.bad else 0


if __name__ == "__main__":
    sys.exit(main())
