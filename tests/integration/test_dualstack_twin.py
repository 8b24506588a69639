"""The dual-stack six-zone twin, for real: both families probed on netns and Docker, the bypass
check on every run, and the mutations that make IPv6 the way around the firewall caught."""

from __future__ import annotations

import signal
import subprocess
from typing import Any

import pytest

from tests.conftest import DUALSTACK, need_root_netns, unique_lab
from tests.integration.test_docker_twin import bring_down, docker_labs, node_image, up  # noqa: F401
from tests.integration.test_netns_twin import FORWARD_HOOK, load_mutated
from twin import pipeline
from twin.policy.load import load_policy
from twin.vendors.registry import export_policy, parse
from twin.vendors.translate.build import build_policy
from twin.verify.bypass import LINK_LOCAL, SOURCE_PORT, UNPLANNED, is_bypass

pytestmark = pytest.mark.integration
Key = tuple[str, str, str, int, int]


def by_flow(run: Any) -> dict[Key, Any]:
    return {(r.src, r.dst, r.proto, r.port, r.family): r for r in run.results}


def seen(run: Any, key: Key) -> tuple[str, str]:
    r = by_flow(run)[key]
    return r.observed, r.rule


def test_dual_stack_twin_enforces_both_families(make_policy, lab_up) -> None:
    lab = lab_up(make_policy(base=DUALSTACK))
    subnets = lab.plan.lab_subnets
    capture = subprocess.Popen(
        ["tcpdump", "-i", "any", "-nn", "-p", "-l", " or ".join(f"net {s}" for s in subnets)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        while "listening on" not in (capture.stderr.readline() if capture.stderr else "x"):
            pass
        run = pipeline.test(lab)
    finally:
        capture.send_signal(signal.SIGINT)
        out, err = capture.communicate(timeout=30)
    assert "0 packets captured" in err, out[:2000]  # sealed: no twin packet on the machine
    assert run.ok, [f"{r.src}->{r.dst} {r.proto}/{r.port} v{r.family}: {r.reason}"
                    for r in run.failures[:5]]  # fmt: skip
    assert not run.warnings and not run.forgot_v6
    assert {r.family for r in run.results} == {4, 6}
    assert len([r for r in run.results if r.family == 6]) == len(run.results) // 2
    # the same zone rule over both families, attributed by the firewall's log each time
    assert seen(run, ("web1", "app1", "tcp", 8080, 6)) == ("open", "web-to-app")
    assert seen(run, ("web1", "app1", "tcp", 8080, 4)) == ("open", "web-to-app")
    assert seen(run, ("web1", "db1", "tcp", 5432, 6)) == ("filtered", "interzone-default")
    assert seen(run, ("web2", "fin1", "tcp", 443, 6)) == ("rejected", "no-lateral-to-finance")
    assert seen(run, ("web2", "fin1", "udp", 53, 6)) == ("rejected", "no-lateral-to-finance")
    assert seen(run, ("dev1", "fin2", "icmpv6", 0, 6)) == ("rejected", "no-lateral-to-finance")
    assert seen(run, ("web1", "web2", "tcp", 22, 6)) == ("open", "intrazone-default")
    # a rule on IPv4 addresses opens IPv4 only; one on an IPv6 host, IPv6 only
    assert seen(run, ("app1", "db1", "tcp", 873, 4)) == ("open", "app-backup-v4")
    assert seen(run, ("app1", "db1", "tcp", 873, 6)) == ("filtered", "interzone-default")
    assert seen(run, ("mon1", "db1", "icmpv6", 0, 6)) == ("open", "mon-ping6")
    assert seen(run, ("jump1", "db1", "icmpv6", 0, 6)) == ("filtered", "interzone-default")
    # crafted packets over IPv6 too; link-local and unplanned sources blocked from every host
    crafted = [c for c in run.crafted if not is_bypass(c)]
    assert any(":" in c.src for c in crafted) and all(c.ok for c in crafted)
    bypass = [c for c in run.crafted if is_bypass(c)]
    assert all(c.ok for c in bypass), [c for c in bypass if not c.ok]
    hosts = {h.name for h in lab.plan.hosts}
    assert {c.sender for c in bypass if c.kind == LINK_LOCAL} == hosts
    unplanned = [c for c in bypass if c.kind == UNPLANNED]
    assert {(c.sender, ":" in c.src) for c in unplanned} == {(h, v6) for h in hosts
                                                              for v6 in (False, True)}  # fmt: skip
    assert all(c.rule == "anti-spoofing" for c in unplanned)
    assert all(c.observed in ("filtered", "rejected") and not c.rule
               for c in bypass if c.kind == LINK_LOCAL)  # fmt: skip


def test_a_firewall_open_for_ipv6_only_is_caught_by_name(make_policy, lab_up) -> None:
    """The "we forgot v6" mutation: IPv4 filtered as planned, IPv6 accepted before any rule."""
    lab = lab_up(make_policy(base=DUALSTACK))
    hole = "\n\t\tmeta nfproto ipv6 accept"
    load_mutated(lab, lambda text: text.replace(FORWARD_HOOK, FORWARD_HOOK + hole, 1))
    run = pipeline.test(lab)
    assert not run.ok and run.exit_code == 1
    assert all(r.ok for r in run.results if r.family == 4)
    assert seen(run, ("web1", "db1", "tcp", 5432, 6))[0] == "open"
    assert "web1 → db1 tcp/5432" in run.forgot_v6
    assert "web-never-db" in by_flow(run)[("web1", "db1", "tcp", 5432, 6)].violates
    bad = {(c.kind.split()[0], ":" in c.src) for c in run.crafted if is_bypass(c) and not c.ok}
    # an address nobody planned crosses, and so do the classic source ports; link-local never
    assert bad == {(UNPLANNED, True), (SOURCE_PORT, True)}


def test_a_rule_that_matches_ip_but_not_ip6_is_caught(make_policy, lab_up) -> None:
    """A deny that a wrong template writes for IPv4 only (`meta nfproto ipv4`): IPv6 falls
    through to the allow behind it."""

    def deny_dev_api(data: dict) -> None:
        data["rules"].insert(0, {"name": "no-dev-api", "from": "dev", "to": "app",
                                 "services": ["app-api"], "action": "deny"})  # fmt: skip

    lab = lab_up(make_policy(deny_dev_api, base=DUALSTACK))
    assert pipeline.test(lab).ok

    def ip_only(text: str) -> str:
        return "\n".join(
            line.replace("\t\ttcp dport", "\t\tmeta nfproto ipv4 tcp dport", 1)
            if 'prefix "no-dev-api"' in line else line
            for line in text.splitlines()
        ) + "\n"  # fmt: skip

    load_mutated(lab, ip_only)
    run = pipeline.test(lab)
    assert run.exit_code == 1
    assert seen(run, ("dev1", "app1", "tcp", 8080, 4)) == ("filtered", "no-dev-api")
    assert seen(run, ("dev1", "app1", "tcp", 8080, 6)) == ("open", "dev-to-app")
    assert "dev1 → app1 tcp/8080" in run.forgot_v6
    assert {r.family for r in run.failures} == {6}


def test_dual_stack_twin_on_docker(make_policy, docker_labs) -> None:  # noqa: F811
    need_root_netns()
    policy = make_policy(base=DUALSTACK)
    lab = up(policy, "docker", docker_labs)
    try:
        run = pipeline.test(lab)
        assert run.ok, [f"{r.src}->{r.dst} {r.proto}/{r.port} v{r.family}: {r.reason}"
                        for r in run.failures[:5]]  # fmt: skip
        assert {r.family for r in run.results} == {4, 6}
        assert seen(run, ("web2", "fin1", "tcp", 443, 6)) == ("rejected", "no-lateral-to-finance")
        assert all(c.ok for c in run.crafted) and any(is_bypass(c) for c in run.crafted)
    finally:
        bring_down(lab.state.lab)


@pytest.mark.parametrize("vendor", ["panos", "fortigate"])
def test_an_imported_dual_stack_firewall_is_tested_over_both_families(
    vendor: str, lab_up, tmp_path
) -> None:  # fmt: skip
    """The dual-stack reference exported to a vendor and imported back: its twin comes up and
    its derived intent (addresses of each family) holds on the wire."""
    policy = load_policy(DUALSTACK)
    text = export_policy(vendor, policy, "dualstack.yml")
    lab = unique_lab()
    imp = build_policy(parse(vendor, text, f"exported.{vendor}"), lab)
    path = tmp_path / f"{lab}.yml"
    path.write_text(imp.to_yaml())
    run = pipeline.test(lab_up(path))
    assert run.ok, [f"{r.src}->{r.dst} {r.service}: {r.reason}" for r in run.failures[:5]]
    assert {r.family for r in run.results} == {4, 6}
    derived = [e for e in imp.policy.expect if e.derived]
    assert any(":" in e.from_ for e in derived) and any(":" not in e.from_ for e in derived)
