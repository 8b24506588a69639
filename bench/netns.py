"""The six-zone twin on netns: up / full test / down, each beside the floor from the same run.

Floors: the same namespaces and veth links made by one bare `ip -batch` (and removed by one);
the same probes sent by a bare loop that judges nothing (send all, wait one timeout, close).
Targets (2 cores): up < 1 s, the full matrix judged < 1 s at 5,000+ probes/s, down < 0.5 s.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time

import yaml

from bench.common import Clock, figure, isolated_home, measured_lab, reference_copy
from traffic.icmp import echo_request6
from traffic.netns import Namespaces, raise_fd_limit
from traffic.prober import Probe, echo_request
from twin import pipeline
from twin.verify.verify import DEFAULT_TIMEOUT


def bare_namespaces(topology: dict, lab: str) -> tuple[float, float]:
    """Create and delete the same namespaces and links with one `ip -batch` each."""
    nodes = list(topology["topology"]["nodes"])
    add = [f"netns add clab-{lab}-{n}" for n in nodes]
    for link in topology["topology"]["links"]:
        (a, ai), (b, bi) = (e.split(":", 1) for e in link["endpoints"])
        add.append(
            f"link add {ai} netns clab-{lab}-{a} type veth peer name {bi} netns clab-{lab}-{b}"
        )
    clock = Clock()
    subprocess.run(["ip", "-batch", "-"], input="\n".join(add), text=True, check=True)
    up = clock.lap()
    dele = "\n".join(f"netns del clab-{lab}-{n}" for n in nodes)
    subprocess.run(["ip", "-batch", "-"], input=dele, text=True, check=True)
    return up, clock.lap()


def bare_probes(probes: list[Probe], timeout: float) -> float:
    """Send every probe with no judging at all, wait one timeout, close: the floor."""
    raise_fd_limit(len(probes))
    ns = Namespaces()
    socks = []
    raw: dict[tuple[str, str], socket.socket] = {}
    clock = Clock()
    try:
        for i, p in enumerate(probes):
            ns.enter(p.netns)
            family = socket.AF_INET6 if ":" in p.dst else socket.AF_INET
            if p.proto in ("icmp", "icmpv6"):
                if (p.netns, p.proto) not in raw:
                    proto = socket.IPPROTO_ICMP if p.proto == "icmp" else socket.IPPROTO_ICMPV6
                    raw[(p.netns, p.proto)] = socket.socket(family, socket.SOCK_RAW, proto)
                echo = echo_request if p.proto == "icmp" else echo_request6
                raw[(p.netns, p.proto)].sendto(echo(0x7777, i & 0xFFFF, b"bench"), (p.dst, 0))
                continue
            kind = socket.SOCK_STREAM if p.proto == "tcp" else socket.SOCK_DGRAM
            s = socket.socket(family, kind | socket.SOCK_NONBLOCK)
            s.bind((p.src, 0))
            rc = s.connect_ex((p.dst, p.port))
            assert rc in (0, errno.EINPROGRESS), rc
            if p.proto == "udp":
                s.send(b"bench")
            socks.append(s)
        time.sleep(timeout)
        took = clock.lap()
    finally:
        for s in [*socks, *raw.values()]:
            s.close()
        ns.close()
    return took


def main() -> int:
    if os.geteuid() != 0:
        print("  skipped: needs root (network namespaces)")
        return 0
    with isolated_home("netns") as tmp:
        lab = f"bench{os.getpid() % 10000}"
        policy, _ = reference_copy(tmp, lab)

        prep = pipeline.prepare(policy)
        floor_up, floor_down = bare_namespaces(yaml.safe_load(prep.files["topology.clab.yml"]), lab)

        with measured_lab(policy, lab) as (lab_, m):
            from twin.plan.flows import plan_flows

            hosts = {h.name: h for h in lab_.plan.hosts}
            probes = [
                Probe(lab_.runtime.netns(lab_.state, f.flow.src), str(hosts[f.flow.src].address),
                      str(hosts[f.flow.dst].address), f.flow.proto, f.flow.port)
                for f in plan_flows(lab_.plan)
            ]  # fmt: skip
            t_floor = bare_probes(probes, DEFAULT_TIMEOUT)
        run = m.run
        n = len(run.results)
        figure("up (six zones, 13 nodes)", m.up, floor=floor_up, target="< 1 s")
        figure("full test (probe + judge + logs + report data)", m.test, target="< 1 s")
        figure("probes sent and judged", run.seconds, floor=t_floor)
        figure("probes", n, "probes", target="~1,500+")
        figure("probes per second", n / run.seconds, "probes/s", floor=n / t_floor,
               target="5,000+")  # fmt: skip
        figure("failures (must be 0)", m.bad, "flows")
        figure("down", m.down, floor=floor_down, target="< 0.5 s")
        figure("leftovers (must be 0)", len(m.left), "items")
        return 1 if m.left or m.bad else 0


if __name__ == "__main__":
    sys.exit(main())
