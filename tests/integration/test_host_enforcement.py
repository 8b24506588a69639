"""Host enforcement (`firewall: {enforcement: host|both}`) on real namespaces: the same probe
matrix gives the same verdicts as the central firewall, each attributed to the rule that
decided, as logged by the host that decided it; a host whose rules are missing or altered is a
broken twin (exit 3), like a firewall that lost its rules."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest
import yaml

from bench.diff import generate_policy
from tests.conftest import unique_lab
from tests.integration.test_blast_live import agree, walked
from tests.integration.test_docker_twin import (  # fixtures, used by name
    bring_down,
    docker_labs,  # noqa: F401
    node_image,  # noqa: F401
)
from tests.integration.test_docker_twin import up as docker_up
from twin import pipeline
from twin.errors import EnvironmentProblem
from twin.plan.sweep import plan_sweep

pytestmark = pytest.mark.integration


def by_flow(run: Any) -> dict[tuple[str, str, str, int], Any]:
    return {(r.src, r.dst, r.proto, r.port): r for r in run.results}


def enforcement(mode: str) -> Any:
    def edit(data: dict) -> None:
        data["firewall"] = {**data.get("firewall", {}), "enforcement": mode}

    return edit


def equivalent(central: Any, hosts: Any, mode: str) -> int:
    """Same flows, same verdicts, same deciding rules; in `mode`, each flow's record comes
    from the host that decided: its source when blocked, its destination when allowed."""
    a, b = by_flow(central), by_flow(hosts)
    assert a.keys() == b.keys()
    differ = [
        (k, (a[k].observed, a[k].rule), (b[k].observed, b[k].rule))
        for k in a
        if (a[k].observed, a[k].rule) != (b[k].observed, b[k].rule)
    ]
    assert not differ, differ[:5]
    for (src, dst, _, _), r in b.items():
        assert r.logged_by == (dst if r.predicted == "allow" else src), r
    assert {r.logged_by for r in central.results} == {"fw"}
    return len(a)


def test_six_zone_reference_hosts_decide_like_the_central_firewall(make_policy, lab_up) -> None:
    central = pipeline.test(lab_up(make_policy()))
    assert central.ok
    for mode in ("host", "both"):
        lab = lab_up(make_policy(enforcement(mode)))
        run = pipeline.test(lab)
        assert run.ok, [f"{r.src}->{r.dst} {r.proto}/{r.port}: {r.reason}" for r in run.failures]
        assert not run.warnings  # every host's counters equal its NFLOG records
        assert equivalent(central, run, mode) >= 1400
        assert all(c.ok for c in run.crafted) and len(run.crafted) == len(central.crafted)
        flows = by_flow(run)
        # a reject on a host: the rejecting host (the source's own rules) answers, and the
        # prober still calls it rejected, not closed
        web_fin = flows[("web1", "fin1", "udp", 53)]
        assert (web_fin.observed, web_fin.rule) == ("rejected", "no-lateral-to-finance")
        assert "3/13 from 192.168.10.11" in web_fin.detail  # web1 itself
        assert flows[("dev1", "fin2", "icmp", 0)].observed == "rejected"
        assert flows[("web1", "db1", "udp", 53)].observed == "filtered"
        # an allowed flow to a port nobody listens on crossed both hosts: closed
        assert flows[("web1", "app1", "tcp", 8080)].observed == "open"
        if mode == "host":
            fw = lab.runtime.exec(lab.state, "fw", ["nft", "list", "tables"])
            assert "twin" not in fw.stdout  # the central node only routes


def test_a_generated_25_zone_policy_too(lab_up, tmp_path) -> None:
    data = generate_policy(zones=25, rules=200, seed=11)
    data["expect"] = []  # random intent lines would fail both modes alike

    def write(mode: str) -> Any:
        d = {**data, "name": unique_lab(), "firewall": {"enforcement": mode}}
        path = tmp_path / f"{d['name']}.yml"
        path.write_text(yaml.safe_dump(d, sort_keys=False))
        return path

    runs = {}
    for mode in ("central", "host"):
        lab = lab_up(write(mode))
        started = time.monotonic()
        runs[mode] = pipeline.test(lab, matrix="zones")
        print(f"{mode}: {len(runs[mode].results)} flows in {time.monotonic() - started:.1f} s")
        assert runs[mode].ok, [r.reason for r in runs[mode].failures[:5]]
    assert equivalent(runs["central"], runs["host"], "host") > 25 * 24 * 50


def test_a_host_with_missing_or_altered_rules_is_no_enforcement(make_policy, lab_up) -> None:
    lab = lab_up(make_policy(enforcement("host")))

    def nft(node: str, *args: str) -> None:
        res = lab.runtime.exec(lab.state, node, ["nft", *args])
        assert res.ok, res.stderr

    nft("web1", "insert", "rule", "inet", "twin", "output", "tcp", "dport", "5432", "accept")
    with pytest.raises(EnvironmentProblem) as caught:
        pipeline.test(lab)
    assert "host web1's ruleset is not the one twin loaded" in str(caught.value)
    assert "rule added to chain output: `tcp dport 5432 accept`" in str(caught.value)
    nft("db1", "delete", "table", "inet", "twin")
    with pytest.raises(EnvironmentProblem, match="host db1 holds no twin ruleset"):
        pipeline.test(lab)


def test_the_cli_exits_3_on_a_tampered_host(make_policy, lab_up, tmp_path) -> None:
    policy = make_policy(enforcement("host"))
    lab = lab_up(policy)
    flush = ["nft", "flush", "chain", "inet", "twin", "input"]
    assert lab.runtime.exec(lab.state, "app2", flush).ok
    res = subprocess.run(
        [sys.executable, "-m", "twin", "test", "--lab", lab.state.lab],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip
    assert res.returncode == 3, res.stdout + res.stderr
    assert "host app2's ruleset is not the one twin loaded" in res.stderr
    assert "rule removed from chain input" in res.stderr


def test_live_walks_and_sweeps_read_the_hosts_logs(make_policy, lab_up) -> None:
    """`twin blast --live` and `twin test --ports` on a twin whose hosts enforce: every hop
    and every swept port attributed from the hosts' own records."""
    lab = lab_up(make_policy(enforcement("host")))
    live, steps = walked(lab, "web1")
    agree(live, steps)
    assert len(live.refusals) == 6 * 6 * 11
    targets = [
        t for t in plan_sweep(lab.plan, "1-2000", ["web", "management"], ["db"]) if t.proto == "tcp"
    ]
    run = pipeline.test(lab, sweep=targets)
    assert run.ok and run.sweep_probes == 2 * 2000 and not run.sweep_inconclusive
    by_rule: dict[tuple[str, str], int] = {}
    for r in run.sweeps:
        by_rule[(r.src_zone, r.rule)] = by_rule.get((r.src_zone, r.rule), 0) + r.ports
    assert by_rule[("management", "mgmt-ssh")] == 1
    assert by_rule[("management", "interzone-default")] == 1999
    assert by_rule[("web", "interzone-default")] == 2000


def test_hosts_of_a_flat_zone_still_meet_each_others_rules(make_policy, lab_up) -> None:
    """`segment: flat`: web1 and web2 share a plain bridge and never cross the firewall, so
    centrally nothing filters them; hosts enforcing the policy still do (intrazone deny)."""

    def edit(data: dict) -> None:
        enforcement("host")(data)
        data["zones"]["web"]["segment"] = "flat"
        data["defaults"]["intrazone"] = "deny"

    lab = lab_up(make_policy(edit))
    run = pipeline.test(lab)
    assert run.ok, [f"{r.src}->{r.dst} {r.proto}/{r.port}: {r.reason}" for r in run.failures]
    web = by_flow(run)[("web1", "web2", "tcp", 22)]
    assert (web.observed, web.rule, web.logged_by) == ("filtered", "intrazone-default", "web1")
    fw = lab.runtime.exec(lab.state, "fw", ["ip", "-d", "link", "show", "eth1"]).stdout
    assert "isolated off" in fw  # web1's port: plain L2 on the bridge, no private VLAN


def test_docker_hosts_decide_like_the_netns_firewall(
    make_policy,
    lab_up,
    docker_labs,  # noqa: F811
) -> None:
    """The same on the Docker engine: each container loads its own rules (`nft -f` with the
    NET_ADMIN it already has), a netns twin with the central firewall as the reference."""
    central = pipeline.test(lab_up(make_policy()))
    lab = docker_up(make_policy(enforcement("host")), "docker", docker_labs)
    try:
        run = pipeline.test(lab)
        assert run.ok, [f"{r.src}->{r.dst} {r.proto}/{r.port}: {r.reason}" for r in run.failures]
        assert equivalent(central, run, "host") >= 1400
        gone = lab.runtime.exec(lab.state, "db2", ["nft", "delete", "table", "inet", "twin"])
        assert gone.ok, gone.stderr
        with pytest.raises(EnvironmentProblem, match="host db2 holds no twin ruleset"):
            pipeline.test(lab)
    finally:
        bring_down(lab.state.lab)
