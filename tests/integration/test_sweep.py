"""Full sweeps (TCP and UDP ports 1-65535, one host to one host) through a real netns twin: every
port's verdict is the one the policy says, and the firewall's log names the policy's rule for
every port — allowed, rejected and dropped alike. It asserts correctness, never speed."""

from __future__ import annotations

from collections import Counter

import pytest

from traffic.nflog import NflogReader
from traffic.prober import Sweep, sweep
from twin.verify.verify import DEFAULT_TIMEOUT

pytestmark = pytest.mark.integration
VERDICT = {"allow": "closed", "deny": "filtered", "reject": "rejected"}


def two_hosts(data: dict) -> None:
    """Zone a (one host) to zone b (one host): tcp 1-1000 and 8080 allowed, 1001-2000
    rejected; udp 1-500 allowed, 501-600 rejected; everything else dropped (interzone)."""
    data["zones"] = {"a": {"subnet": "10.94.1.0/24", "hosts": ["a1"]},
                     "b": {"subnet": "10.94.2.0/24", "hosts": ["b1"]}}  # fmt: skip
    data["services"] = {}
    data["defaults"] = {"interzone": "deny", "intrazone": "allow"}
    data["rules"] = [
        {"name": "low-ports", "from": "a", "to": "b",
         "services": ["tcp/1-1000", "tcp/8080", "udp/1-500"], "action": "allow"},
        {"name": "mid-ports", "from": "a", "to": "b", "services": ["tcp/1001-2000", "udp/501-600"],
         "action": "reject"},
    ]  # fmt: skip
    data["expect"] = []


def test_every_port_of_a_sweep_is_judged_as_the_policy_says(make_policy, lab_up) -> None:
    lab = lab_up(make_policy(two_hosts))
    plan, state = lab.plan, lab.state
    src, dst = plan.by_host["a1"], plan.by_host["b1"]
    ns = lab.runtime.netns(state, "a1")
    jobs = [Sweep(ns, str(src.address), str(dst.address), proto) for proto in ("tcp", "udp")]
    with NflogReader(lab.runtime.netns(state, plan.firewall), plan.nflog_group) as reader:
        reader.start()
        judged = sweep(jobs, [str(z.subnet) for z in plan.zones], timeout=DEFAULT_TIMEOUT)
        records = reader.drain(settle=0.01, expect=2 * 65535)
    for job, result in zip(jobs, judged, strict=True):
        listening = set(state.responder_ports[job.proto])
        want = {}
        for port in job.ports:
            rule = plan.decide("a1", "b1", job.proto, port)
            verdict = VERDICT[rule.action.value]
            want[port] = ("open" if verdict == "closed" and port in listening else verdict,
                          rule.name)  # fmt: skip
        logged = {(r.sport, r.dport): r.prefix for r in records if r.proto == job.proto}
        got = {
            port: (result.verdict(k), logged.get((result.sports[k], port), "no record"))
            for k, port in enumerate(job.ports)
        }
        wrong = {port: (got[port], w) for port, w in want.items() if got[port] != w}
        assert not wrong, (job.proto, len(wrong), sorted(wrong.items())[:5])
        seen = Counter(v for v, _ in got.values())
        allowed, rejected = (1001, 1000) if job.proto == "tcp" else (500, 100)
        assert seen["open"] + seen["closed"] == allowed and seen["rejected"] == rejected
        assert seen["filtered"] == 65535 - allowed - rejected
        # the source ports keep their spread: a quarter privileged, in a sweep of one pair too
        assert sum(result.sports[k] < 1024 for k in range(len(result))) == 65535 // 4 + 1
