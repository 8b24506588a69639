"""A full TCP sweep (ports 1-65535, one host to one host) through a real netns twin: every port's
verdict is the one the policy says, and the firewall's log names the policy's rule for every
port — allowed, rejected and dropped alike. It asserts correctness, never speed."""

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
    rejected, everything else dropped by the interzone default."""
    data["zones"] = {"a": {"subnet": "10.94.1.0/24", "hosts": ["a1"]},
                     "b": {"subnet": "10.94.2.0/24", "hosts": ["b1"]}}  # fmt: skip
    data["services"] = {}
    data["defaults"] = {"interzone": "deny", "intrazone": "allow"}
    data["rules"] = [
        {"name": "low-ports", "from": "a", "to": "b", "services": ["tcp/1-1000", "tcp/8080"],
         "action": "allow"},
        {"name": "mid-ports", "from": "a", "to": "b", "services": ["tcp/1001-2000"],
         "action": "reject"},
    ]  # fmt: skip
    data["expect"] = []


def test_every_port_of_a_tcp_sweep_is_judged_as_the_policy_says(make_policy, lab_up) -> None:
    lab = lab_up(make_policy(two_hosts))
    plan, state = lab.plan, lab.state
    src, dst = plan.by_host["a1"], plan.by_host["b1"]
    listening = set(state.extra["responder_ports"]["tcp"])
    want = {}
    for port in range(1, 65536):
        rule = plan.decide("a1", "b1", "tcp", port)
        verdict = VERDICT[rule.action.value]
        want[port] = ("open" if verdict == "closed" and port in listening else verdict, rule.name)
    job = Sweep(lab.runtime.netns(state, "a1"), str(src.address), str(dst.address), "tcp")
    with NflogReader(lab.runtime.netns(state, plan.firewall), plan.nflog_group) as reader:
        reader.start()
        (judged,) = sweep([job], [str(z.subnet) for z in plan.zones], timeout=DEFAULT_TIMEOUT)
        records = reader.drain(settle=0.01, expect=65535)
    logged = {(r.sport, r.dport): r.prefix for r in records if r.proto == "tcp"}
    got = {
        port: (judged.verdict(k), logged.get((judged.sports[k], port), "no record"))
        for k, port in enumerate(job.ports)
    }
    wrong = {port: (got[port], w) for port, w in want.items() if got[port] != w}
    assert not wrong, (len(wrong), sorted(wrong.items())[:5])
    seen = Counter(v for v, _ in got.values())
    assert seen["open"] + seen["closed"] == 1001 and seen["rejected"] == 1000
    assert seen["filtered"] == 63534
