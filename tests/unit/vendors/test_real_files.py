"""Files as they come off real devices (hand-written fixtures of each construct): multi-line
quoted values, VDOMs, VIPs, IPv6, internet-service, schedules; PAN-OS's brace format, NAT,
applications, EDLs; Panorama device groups. Nothing aborts, nothing is widened silently."""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path

import yaml
from typer.testing import CliRunner

from twin.cli import app
from twin.plan.build import build_plan
from twin.policy.model import Action
from twin.vendors.registry import parse
from twin.vendors.report import Direction, Kind, Outcome
from twin.vendors.translate.build import Imported, build_policy

from .helpers import decide, imported


def outcomes(imp: Imported) -> dict[str, tuple[Outcome, Direction | None]]:
    return {r.name: (r.outcome, r.direction) for r in imp.report.rules}


def test_fortigate_backup_with_vdoms_certificates_and_messages() -> None:
    imp = imported("fortigate", "fortigate-multivdom.conf")
    # the quoted PEM (which contains `config firewall policy` / `edit 999`) is one value
    assert len(imp.report.rules) == 10
    assert imp.policy.description == "Imported from FortiGate FGT-HQ-02"  # under config global
    # interfaces under config global, of the chosen VDOM only
    assert {z: str(v.subnet) for z, v in imp.policy.zones.items()} == {
        "wan1": "203.0.113.0/29",
        "srv": "10.50.2.0/24",
        "inside": "10.50.1.0/24",
    }
    assumed = [n.message for n in imp.report.of(Kind.assumed)]
    assert any("2 VDOMs have policies (root, dmz-vdom)" in m for m in assumed)


def test_fortigate_other_vdom() -> None:
    imp = imported("fortigate", "fortigate-multivdom.conf", vdom="dmz-vdom")
    assert list(imp.policy.zones) == ["dmz1"]
    assert str(imp.policy.zones["dmz1"].subnet) == "172.30.0.0/24"


def test_fortigate_outcomes_and_directions() -> None:
    o = outcomes(imported("fortigate", "fortigate-multivdom.conf"))
    assert o["web-in"] == (Outcome.exact, None)  # a VIP: tested against its server
    assert o["db-in"] == (Outcome.exact, None)
    assert o["no-embargo"] == (Outcome.skipped, Direction.allow_more)  # a deny, geography
    assert o["saas-out"] == (Outcome.skipped, Direction.block_more)  # allow, internet-service
    assert o["guest-v6"] == (Outcome.exact, None)  # IPv6 only: tested over IPv6
    zones = imported("fortigate", "fortigate-multivdom.conf").policy.zones
    # no IPv6 interface anywhere: a zone's IPv6 subnet covers what its rules name (guest-v6's
    # source), so a twin host exercises that rule; the others come from the benchmarking pool
    assert str(zones["inside"].subnet6) == "2001:db8:3::/64"
    assert str(zones["wan1"].subnet6).startswith("2001:2:")
    assert o["lan-to-web"] == (Outcome.approximated, Direction.both)  # schedule + fqdn left out
    assert o["night-lockdown"] == (Outcome.skipped, Direction.allow_more)  # deny on a schedule
    assert o["pg-high"] == (Outcome.skipped, Direction.allow_more)  # deny losing source ports
    assert o["old-test"] == (Outcome.disabled, None)  # a dangling name in a disabled rule
    assert o["not-guests-to-db"] == (Outcome.approximated, Direction.block_more)  # GRE left out


def test_fortigate_vips_translate_to_the_real_server() -> None:
    imp = imported("fortigate", "fortigate-multivdom.conf")
    plan = build_plan(imp.policy)
    web = decide(plan, "wan1", "srv", "203.0.113.3", "10.50.2.10", "tcp", 443)
    assert web == (Action.allow, "web-in")
    # port forwarding 15432 → 5432: only the mapped port reaches the server
    assert decide(plan, "wan1", "srv", "203.0.113.3", "10.50.2.20", "tcp", 5432)[1] == "db-in"
    assert decide(plan, "wan1", "srv", "203.0.113.3", "10.50.2.20", "tcp", 22)[0] is Action.deny
    rewritten = [n.message for n in imp.report.of(Kind.rewritten)]
    assert any("translates 203.0.113.5/32 to 10.50.2.10/32" in m for m in rewritten)


def test_panos_brace_format_nat_and_applications() -> None:
    imp = imported("panos", "panos-braces.txt")
    assert imp.policy.description == "Imported from PAN-OS pa-braces-01"
    o = outcomes(imp)
    assert o["block bad ips"] == (Outcome.skipped, Direction.allow_more)  # an EDL
    assert o["web in"] == (Outcome.approximated, Direction.allow_more)  # App-ID → ports
    assert o["app in"] == (Outcome.exact, None)
    assert o["erp and p2p"][0] is Outcome.approximated
    assert o["erp and p2p"][1] is Direction.both  # unknown apps left out, erp at L4
    assert o["no ssh to servers"] == (Outcome.skipped, Direction.allow_more)  # deny + App-ID
    assert o["v6 clients"] == (Outcome.exact, None)  # IPv6: the import is dual stack
    assert o["old rule"] == (Outcome.disabled, None)
    assert o["not users to servers"] == (Outcome.exact, None)
    rules = {r.name: r for r in imp.policy.rules}
    assert rules["users_to_ntp"].action is Action.allow  # no action in the rule: allow
    assert rules["erp_and_p2p"].services == ["tcp/8200-8202"]  # the custom app's own ports
    plan = build_plan(imp.policy)
    # NAT: the rule names the public address; the twin tests the server behind it
    assert decide(plan, "outside", "servers", "198.51.100.3", "10.60.2.10", "tcp", 443)[1] == (
        "web_in"
    )
    # port translation 8443 → 8080: the security rule's service is the original port
    assert decide(plan, "outside", "servers", "198.51.100.3", "10.60.2.20", "tcp", 8080)[1] == (
        "app_in"
    )
    assert decide(plan, "outside", "servers", "198.51.100.3", "10.60.2.20", "tcp", 8443)[0] is (
        Action.reject
    )


def test_panorama_device_group_hierarchy_and_template_zones() -> None:
    imp = imported("panos", "panorama.xml")  # the leaf device group, with its parent's rules
    assert [r.name for r in imp.policy.rules] == [
        "shared-dns",
        "all-sites-web",
        "branch-ssh",
        "branch-no-core",
        "shared-cleanup",
    ]
    assert {z: str(v.subnet) for z, v in imp.policy.zones.items()} == {
        "branch": "10.70.1.0/24",
        "core": "10.70.9.0/24",
    }
    plan = build_plan(imp.policy)
    assert decide(plan, "branch", "core", "10.70.1.5", "10.70.9.22", "tcp", 22)[1] == "branch-ssh"
    assert decide(plan, "branch", "core", "10.70.1.5", "10.70.9.80", "tcp", 443)[1] == (
        "all-sites-web"
    )
    assert decide(plan, "branch", "core", "10.70.1.5", "10.70.9.80", "tcp", 80)[1] == (
        "branch-no-core"
    )
    parent = imported("panos", "panorama.xml", vsys="all-sites")
    assert [r.name for r in parent.policy.rules] == [
        "shared-dns",
        "all-sites-web",
        "shared-cleanup",
    ]


def test_derived_intent_is_the_device_decision_and_shows_an_edit(tmp_path: Path) -> None:
    imp = imported("panos", "panorama.xml")
    lines = {e.name: e for e in imp.policy.expect}
    assert set(lines) == {
        "derived.shared-dns",
        "derived.all-sites-web",
        "derived.branch-ssh",
        "derived.branch-no-core",
    }  # shared-cleanup: any → any, its sample is decided by the rules above it
    assert all(e.derived for e in imp.policy.expect)
    ssh = lines["derived.branch-ssh"]
    assert (ssh.service, ssh.verdict.value) == ("tcp/22", "allow")
    assert lines["derived.branch-no-core"].verdict.value == "block"
    path = tmp_path / "imported.yml"
    path.write_text(imp.to_yaml())
    assert CliRunner().invoke(app, ["validate", str(path)]).exit_code == 0
    # an edit that drops the ssh rule breaks the line derived from it
    data = yaml.safe_load(path.read_text())
    data["rules"] = [r for r in data["rules"] if r["name"] != "branch-ssh"]
    edited = tmp_path / "edited.yml"
    edited.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["validate", str(edited)])
    assert result.exit_code == 1 and "derived.branch-ssh" in result.output, result.output


def test_no_derived_line_where_a_skipped_rule_could_decide() -> None:
    imp = imported("panos", "panos-braces.txt")
    names = [e.name for e in imp.policy.expect]
    # 'block bad ips' (an EDL, skipped) covers every flow from outside: no line from there
    assert not any(n in names for n in ("derived.web_in", "derived.app_in"))
    assert "derived.erp_and_p2p" in names
    assumed = [n.message for n in imp.report.of(Kind.assumed)]
    assert any("sample flows left out of the derived intent" in m for m in assumed)


PUSHED = """<policy>
  <panorama>
    <address><entry name="dc"><ip-netmask>10.9.0.0/24</ip-netmask></entry></address>
    <pre-rulebase><security><rules>
      <entry name="pushed-allow"><from><member>users</member></from><to><member>dc</member></to>
        <source><member>any</member></source><destination><member>dc</member></destination>
        <application><member>any</member></application><service><member>service-https</member>
        </service><action>allow</action></entry>
    </rules></security></pre-rulebase>
    <post-rulebase><security><rules>
      <entry name="pushed-deny"><from><member>any</member></from><to><member>any</member></to>
        <source><member>any</member></source><destination><member>any</member></destination>
        <application><member>any</member></application><service><member>any</member></service>
        <action>deny</action></entry>
    </rules></security></post-rulebase>
  </panorama>
</policy>
"""


def test_panorama_pushed_policy_of_a_firewall() -> None:
    """`show config pushed-shared-policy`: the rules Panorama pushed, with their objects; the
    zones come from the rules (the template holds them), with assumed subnets, reported."""
    dev = parse("panos", PUSHED, "pushed.xml")
    imp = build_policy(dev, "pushed", {"dc": IPv4Network("10.9.0.0/24")})
    assert [r.name for r in imp.policy.rules] == ["pushed-allow", "pushed-deny"]
    assert list(imp.policy.zones) == ["users", "dc"]
    assert imp.report.outcomes()["exact"] == 2
    assumed = [n.subject for n in imp.report.of(Kind.assumed)]
    assert "zone 'users'" in assumed


MULTI_VSYS = """set vsys vsys1 zone a network layer3 ethernet1/1
set vsys vsys1 zone b network layer3 ethernet1/2
set vsys vsys1 rulebase security rules v1-rule from a
set vsys vsys1 rulebase security rules v1-rule to b
set vsys vsys1 rulebase security rules v1-rule action allow
set vsys vsys2 zone c network layer3 ethernet1/3
set vsys vsys2 zone d network layer3 ethernet1/4
set vsys vsys2 rulebase security rules v2-rule from c
set vsys vsys2 rulebase security rules v2-rule to d
set vsys vsys2 rulebase security rules v2-rule action deny
set network interface ethernet ethernet1/1 layer3 ip 10.81.1.1/24
set network interface ethernet ethernet1/3 layer3 ip 10.82.1.1/24
"""


def test_several_vsys_import_one_and_say_so() -> None:
    first = build_policy(parse("panos", MULTI_VSYS, "multi.set"), "multi")
    assert [r.name for r in first.policy.rules] == ["v1-rule"]
    assert any("--vsys" in n.message for n in first.report.of(Kind.assumed))
    second = build_policy(parse("panos", MULTI_VSYS, "multi.set", "vsys2"), "multi")
    assert [(r.name, r.from_, r.to, r.action.value) for r in second.policy.rules] == [
        ("v2-rule", ["c"], ["d"], "deny")
    ]
    assert str(second.policy.zones["c"].subnet) == "10.82.1.0/24"
