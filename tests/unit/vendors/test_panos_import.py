"""PAN-OS import (XML and set format) on hand-written running configs: every construct."""

from __future__ import annotations

import ipaddress

from tests.conftest import REFERENCE
from twin.plan.build import build_plan
from twin.policy.load import load_policy
from twin.policy.model import Action
from twin.vendors.exporters import panos as panos_export
from twin.vendors.exporters.view import view
from twin.vendors.registry import parse
from twin.vendors.report import Direction, Kind
from twin.vendors.translate.build import build_policy

from .helpers import decide, imported


def notes(imp, kind: Kind) -> dict[str, str]:
    """subject → its messages (joined by ' | ')."""
    out: dict[str, str] = {}
    for n in imp.report.of(kind):
        out[n.subject] = f"{out[n.subject]} | {n.message}" if n.subject in out else n.message
    return out


def test_zones_from_interfaces_gateways_and_assumptions() -> None:
    imp = imported("panos", "panos-running.xml")
    z = imp.policy.zones
    assert list(z) == ["untrust", "trust-l3", "dmz", "db", "guest-wifi"]
    assert str(z["dmz"].subnet) == "172.16.5.0/24" and str(z["dmz"].gateway) == "172.16.5.254"
    assert z["db"].gateway is None  # .1 is the default
    # a zone with a subinterface: two subnets modelled as their supernet, and reported
    assert str(z["trust-l3"].subnet) == "10.10.0.0/22"
    assumed = notes(imp, Kind.assumed)
    assert "modelled as 10.10.0.0/22" in assumed["zone 'Trust-L3'"]
    # no interface: RFC 2544 space, and the report says how to give the real one
    assert str(z["guest-wifi"].subnet).startswith("198.18.")
    assert "--zone-subnets guest-wifi=CIDR" in assumed["zone 'Guest WiFi'"]
    # hosts of one interface's subnet never reach the device: flat; a zone of two interfaces
    # is routed by it (intrazone rules apply): isolated; each said, with its line
    assert {n: zone.segment.value for n, zone in z.items()} == {
        "untrust": "flat", "trust-l3": "isolated", "dmz": "flat", "db": "flat",
        "guest-wifi": "flat",
    }  # fmt: skip
    assert "segment: flat — its hosts share interface ethernet1/3" in assumed["zone 'DMZ'"]
    assert "segment: isolated — 10.10.0.0/22 spans 2 interfaces" in assumed["zone 'Trust-L3'"]
    lines = {n.subject: n.line for n in imp.report.of(Kind.assumed) if "segment:" in n.message}
    assert lines["zone 'DMZ'"] == 62
    # two generated hosts per zone; the first on an address a rule names
    assert [h.name for h in z["db"].hosts] == ["db-h1", "db-h2"]
    assert str(z["db"].hosts[0].address) == "10.20.0.50"


def test_zone_subnets_map_overrides() -> None:
    imp = imported(
        "panos",
        "panos-running.xml",
        zone_subnets={"Guest WiFi": ipaddress.IPv4Network("10.99.0.0/24")},
    )
    assert str(imp.policy.zones["guest-wifi"].subnet) == "10.99.0.0/24"


def test_names_are_mapped_and_reported() -> None:
    imp = imported("panos", "panos-running.xml")
    renamed = imp.report.renamed
    assert renamed["zones, hosts, addresses"]["Guest WiFi"] == "guest-wifi"
    assert renamed["zones, hosts, addresses"]["Users VLAN20"] == "Users_VLAN20"
    assert renamed["rules"]["Allow Web Inbound"] == "Allow_Web_Inbound"


def test_objects_groups_ranges() -> None:
    imp = imported("panos", "panos-running.xml")
    a = imp.policy.addresses
    assert a["web-servers"] == ["web-srv-1", "web-srv-2"]
    assert a["all-servers"] == ["web-servers", "db-primary"]  # nested group
    assert a["web-srv-2"] == ["172.16.5.11/32"]  # ip-netmask without a mask
    # ip-range 10.10.1.100-10.10.1.131 as exact CIDRs
    assert a["admin-range"] == [
        "10.10.1.100/30",
        "10.10.1.104/29",
        "10.10.1.112/28",
        "10.10.1.128/30",
    ]
    s = imp.policy.services
    assert s["web-svc"] == ["tcp-8443", "service-https"] and s["service-https"] == ["tcp/443"]
    assert s["app-ports"] == ["tcp/9000-9010", "tcp/9443"]


def test_rules_in_order_with_actions_logs_defaults() -> None:
    imp = imported("panos", "panos-running.xml")
    names = [r.name for r in imp.policy.rules]
    assert names == [
        "Allow_Web_Inbound",
        "dmz-to-db",
        "admins-mgmt.trust-l3",
        "users-web-out",
        "not-admins-to-dmz",
        "syslog-collect",
        "old-ftp",
        "trust-intra.trust-l3",
        "trust-intra.db",
    ]
    rules = {r.name: r for r in imp.policy.rules}
    assert rules["users-web-out"].log is False  # log-end no
    assert rules["dmz-to-db"].log is True  # log-end defaults to yes
    assert rules["old-ftp"].disabled is True
    assert rules["not-admins-to-dmz"].action is Action.reject  # reset-both
    # default-rule overrides
    assert imp.policy.defaults.intrazone is Action.deny
    assert imp.policy.defaults.interzone is Action.reject


def test_application_default_maps_to_standard_ports_and_is_reported() -> None:
    imp = imported("panos", "panos-running.xml")
    rules = {r.name: r for r in imp.policy.rules}
    assert rules["Allow_Web_Inbound"].services == ["tcp/80", "tcp/443"]
    assert rules["admins-mgmt.trust-l3"].services == ["icmp", "tcp/22"]  # via an application group
    approx = notes(imp, Kind.approximated)
    assert "ssl, web-browsing enforced at L4" in approx["rule 'Allow Web Inbound'"]
    assert "source port 514 not enforced" in approx["rule 'syslog-collect'"]
    assert "approximated" in rules["Allow_Web_Inbound"].description


def test_negate_source_is_an_exact_complement() -> None:
    imp = imported("panos", "panos-running.xml")
    plan = build_plan(imp.policy)
    # inside admin-range: not matched by the negated rule → falls to the interzone default
    _, rule = decide(plan, "trust-l3", "dmz", "10.10.1.110", "172.16.5.10", "tcp", 9005)
    assert rule == "interzone-default"
    # just outside it, on both sides, and on the other subnet of the zone: rejected by the rule
    for src in ("10.10.1.99", "10.10.1.132", "10.10.2.7"):
        act, rule = decide(plan, "trust-l3", "dmz", src, "172.16.5.10", "tcp", 9005)
        assert (act, rule) == (Action.reject, "not-admins-to-dmz"), src
    assert "exact complement" in notes(imp, Kind.rewritten)["rule 'not-admins-to-dmz'"]


def test_rule_types_split_per_zone() -> None:
    imp = imported("panos", "panos-running.xml")
    plan = build_plan(imp.policy)
    # interzone rule from Trust-L3 to any: never applies within trust-l3
    assert decide(plan, "trust-l3", "trust-l3", "10.10.1.100", "10.10.2.5", "tcp", 22)[1] != (
        "admins-mgmt.trust-l3"
    )
    assert decide(plan, "trust-l3", "db", "10.10.1.100", "10.20.0.50", "tcp", 22)[1] == (
        "admins-mgmt.trust-l3"
    )
    # intrazone rule for two zones: within each, never between them
    assert decide(plan, "db", "db", "10.20.0.5", "10.20.0.6", "tcp", 8443)[1] == "trust-intra.db"
    # … a rule the device never applies to db's hosts (one interface: flat), nor the twin
    assert plan.decide("db-h1", "db-h2", "tcp", 8443).name == "flat-segment"
    assert not any(e.from_ == "db-h1" and e.to == "db-h2" for e in imp.policy.expect)
    _, rule = decide(plan, "trust-l3", "db", "10.10.1.5", "10.20.0.6", "tcp", 8443)
    assert rule == "interzone-default"
    assert "rule-type intrazone" in notes(imp, Kind.rewritten)["rule 'trust-intra'"]


def test_unrepresentable_rules_are_skipped_and_reported() -> None:
    imp = imported("panos", "panos-running.xml")
    skipped = notes(imp, Kind.skipped)
    assert "fqdn updates.example.com" in skipped["rule 'get-updates'"]
    assert "dynamic address group" in skipped["rule 'block-quarantine'"]
    assert "flows it blocked go to the rules after it" in skipped["rule 'block-quarantine'"]
    assert "application sap" in skipped["rule 'legacy-app'"]
    assert "source-user known-user" in skipped["rule 'guest-internet'"]
    assert "never matches" in skipped["rule 'dmz-outside-servers'"]
    assert imp.report.outcomes() == {
        "read": 13,
        "exact": 4,
        "approximated": 3,
        "skipped": 4,
        "disabled": 1,
        "never": 1,
    }
    directions = {n.subject: n.direction for n in imp.report.of(Kind.skipped)}
    assert directions["rule 'get-updates'"] is Direction.block_more  # an allow rule skipped
    assert directions["rule 'block-quarantine'"] is Direction.allow_more  # a deny rule skipped
    assert imp.report.counts == {
        "zones": 5,
        "rules_in": 13,
        "rules_out": 9,
        "nat_rules": 0,
        "addresses": 9,
        "services": 7,
        "expect": 6,
    }


def test_set_format_order_shared_pre_local_post() -> None:
    imp = imported("panos", "panos-set.txt")
    assert [r.name for r in imp.policy.rules] == [
        "shared-block-ot",
        "pre-dns",
        "users_to_files",
        "ot-intra",
        "post-deny-servers",
    ]
    rules = {r.name: r for r in imp.policy.rules}
    assert rules["users_to_files"].destination == ["file-srv", "10.50.2.21/32"]
    assert rules["users_to_files"].description.endswith("SMB to the file servers")
    assert imp.policy.services["file-access"] == ["smb", "tcp-502"]  # a shared object
    assert imp.policy.services["smb"] == ["tcp/445", "tcp/139"]
    assert imp.policy.zones["ot-cell"].description == "PAN-OS zone 'OT Cell'"
    assert imp.policy.defaults.intrazone is Action.deny
    assert imp.policy.defaults.interzone is Action.deny
    assert rules["post-deny-servers"].action is Action.reject


def test_xml_and_set_of_one_config_import_alike() -> None:
    v = view(load_policy(REFERENCE))
    a = build_policy(parse("panos", panos_export.to_xml(v, "x"), "x.xml"), "a")
    b = build_policy(parse("panos", panos_export.to_set(v, "x"), "x.txt"), "a")
    for rule in (*a.data["rules"], *b.data["rules"]):
        rule.pop("description")  # names the line, which differs between the two formats
    assert a.data == b.data
