"""The dual-stack six-zone twin (topologies/zero-trust-6zone-dualstack.yml): up / full test /
down on netns, each family's matrix judged on its own beside the floor for the same probes, the
IPv4-only reference in the same run, and the same twin on Docker when a daemon answers.

Floors: the same namespaces and veths made by one bare `ip -batch`; per family, the same probes
sent by a bare loop that judges nothing (bench/netns.py's floor). Targets (2 cores): per family
what the IPv4 reference does — up < 1 s, each family's matrix at 5,000+ probes/s, down < 0.5 s.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from bench.common import DUALSTACK, figure, isolated_home, measured_lab, reference_copy
from bench.netns import bare_namespaces, bare_probes
from traffic.prober import Probe
from twin import pipeline
from twin.plan.flows import plan_flows
from twin.runtime.docker import docker_unavailable
from twin.verify.bypass import is_bypass
from twin.verify.verify import DEFAULT_TIMEOUT, verify


def netns_figures(tmp: str, lab: str, base: Path, label: str) -> int:
    policy, _ = reference_copy(tmp, lab, f"{lab}.yml", base)
    prep = pipeline.prepare(policy)
    floor_up, floor_down = bare_namespaces(yaml.safe_load(prep.files["topology.clab.yml"]), lab)
    with measured_lab(policy, lab) as (lab_, m):
        flows = plan_flows(lab_.plan)
        per_family = {}
        for family in sorted({f.flow.family for f in flows}):
            mine = [f for f in flows if f.flow.family == family]
            judged = verify(lab_.runtime, lab_.state, lab_.plan, flows=mine, stateful=False)
            hosts = lab_.plan.by_host
            probes = [
                Probe(lab_.runtime.netns(lab_.state, f.flow.src),
                      str(hosts[f.flow.src].addr(family)), str(hosts[f.flow.dst].addr(family)),
                      f.flow.proto, f.flow.port)
                for f in mine
            ]  # fmt: skip
            per_family[family] = (judged, bare_probes(probes, DEFAULT_TIMEOUT))
    run = m.run
    n = len(run.results)
    print(f"  -- {label} on netns")
    figure("up", m.up, floor=floor_up, target="< 1 s")
    figure("full test (matrix, crafted packets, bypass check)", m.test, target="< 1 s")
    figure("probes", n, "probes")
    figure("probes per second (whole matrix)", n / run.seconds, "probes/s", target="5,000+")
    for family, (judged, floor) in per_family.items():
        k = len(judged.results)
        figure(f"IPv{family}: {k} probes judged", judged.seconds, floor=floor)
        figure(f"IPv{family}: probes per second", k / judged.seconds, "probes/s",
               floor=k / floor, target="5,000+")  # fmt: skip
    bypass = [c for c in run.crafted if is_bypass(c)]
    figure("bypass check probes (all blocked)", len(bypass), "probes")
    bad = m.bad + sum(1 for c in run.crafted if not c.ok)
    figure("failures (must be 0)", bad, "flows")
    figure("down", m.down, floor=floor_down, target="< 0.5 s")
    figure("leftovers (must be 0)", len(m.left), "items")
    return 1 if m.left or bad else 0


def docker_figures(tmp: str, lab: str) -> int:
    why = docker_unavailable()
    if why is not None:
        print(f"  -- docker skipped: {why}")
        return 0
    policy, _ = reference_copy(tmp, lab, f"{lab}.yml", DUALSTACK)
    with measured_lab(policy, lab, "docker") as (_, m):
        pass
    print("  -- dual stack on docker")
    figure("up (13 containers)", m.up, target="< 15 s")
    figure("full test", m.test, target="< 5 s")
    figure("probes per second", len(m.run.results) / m.run.seconds, "probes/s")
    figure("failures (must be 0)", m.bad, "flows")
    figure("down", m.down, target="< 10 s")
    figure("leftovers (must be 0)", len(m.left), "items")
    return 1 if m.left or m.bad else 0


def main() -> int:
    if os.geteuid() != 0:
        print("  skipped: needs root (network namespaces)")
        return 0
    with isolated_home("dualstack") as tmp:
        n = os.getpid() % 10000
        rc = netns_figures(tmp, f"benchv{n}", DUALSTACK, "dual stack (both families)")
        rc |= netns_figures(tmp, f"bench4v{n}", DUALSTACK.with_name("zero-trust-6zone.yml"),
                            "IPv4 reference, same run")  # fmt: skip
        rc |= docker_figures(tmp, f"benchdv{n}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
