"""FortiGate import on a hand-written backup: every construct, in list order (not by id)."""

from __future__ import annotations

from twin.plan.build import build_plan
from twin.policy.model import Action
from twin.vendors.report import Kind

from .helpers import decide, imported


def test_interfaces_zones_secondary_ips_and_standalone_interfaces() -> None:
    imp = imported("fortigate", "fortigate-backup.conf")
    z = imp.policy.zones
    assert list(z) == ["internal-servers", "db", "outside", "port5"]
    assert str(z["db"].subnet) == "10.1.30.0/23"  # primary + secondary IP, supernet
    assert str(z["db"].gateway) == "10.1.30.254"
    assert str(z["port5"].subnet) == "172.20.0.0/24"  # an interface outside every zone
    # two member subnets whose supernet would swallow another zone: the first only, reported
    assert str(z["internal-servers"].subnet) == "10.1.10.0/24"
    assumed = {n.message for n in imp.report.of(Kind.assumed)}
    assert any("twin models 10.1.10.0/24 only" in m for m in assumed)
    assert "mgmt" not in z  # an interface no policy names is no zone
    assert imp.policy.description == "Imported from FortiGate FGT-DC-01"


def test_policies_in_list_order_with_fields() -> None:
    imp = imported("fortigate", "fortigate-backup.conf")
    rules = {r.name: r for r in imp.policy.rules}
    assert [r.name for r in imp.policy.rules] == [
        "web-in",  # id 7 comes first in the list
        "app-to-db",
        "lab-isolated",
        "admin-everywhere",
        "no-dns-out",
        "policy-10",  # no name: named after its id
    ]  # no intrazone-allow rule: the twin's hosts of Internal Servers share port2 (flat)
    assert rules["web-in"].log is True and rules["admin-everywhere"].log is False
    assert rules["no-dns-out"].disabled is True
    assert rules["policy-10"].action is Action.deny  # action defaults to deny
    assert rules["lab-isolated"].action is Action.reject  # deny + send-deny-packet
    assert rules["app-to-db"].destination == ["db-minus-legacy"]
    # addrgrp exclude-member, exactly: the cluster range minus the legacy host (outside it)
    assert imp.policy.addresses["db-minus-legacy"] == ["10.1.30.20/30", "10.1.30.24/30"]
    assert imp.policy.addresses["all-servers"] == ["web-servers", "app-net", "db-cluster"]
    assert imp.policy.defaults.interzone is Action.deny
    assert imp.policy.defaults.intrazone is Action.deny


def test_negations_and_intrazone() -> None:
    imp = imported("fortigate", "fortigate-backup.conf")
    plan = build_plan(imp.policy)
    # dstaddr-negate: lab clients reaching anything but the lab subnet are rejected
    assert decide(plan, "port5", "db", "172.20.0.9", "10.1.30.21", "tcp", 22) == (
        Action.reject,
        "lab-isolated",
    )
    # service-negate: every port but DNS (the policy is disabled, so check the rule itself)
    no_dns = next(r for r in imp.policy.rules if r.name == "no-dns-out")
    assert no_dns.services is not None and "tcp/1-52" in no_dns.services
    assert "tcp/54-65535" in no_dns.services and "udp/53" not in no_dns.services
    # intrazone: the twin's Internal Servers hosts share port2 (10.1.10.0/24; port3's subnet
    # is not modelled) and never reach the device: flat; DB's /23 spans port4's two subnets,
    # routed by the device: isolated, its intrazone default enforced
    segments = {n: z.segment.value for n, z in imp.policy.zones.items()}
    assert (segments["internal-servers"], segments["db"]) == ("flat", "isolated")
    servers = [h.name for h in plan.hosts if h.zone == "internal-servers"]
    assert plan.decide(servers[0], servers[1], "tcp", 1).name == "flat-segment"
    db = [h.name for h in plan.hosts if h.zone == "db"]
    assert plan.decide(db[0], db[1], "tcp", 1).name == "intrazone-default"


def test_approximated_and_skipped_are_reported() -> None:
    imp = imported("fortigate", "fortigate-backup.conf")
    approx = {n.subject: n.message for n in imp.report.of(Kind.approximated)}
    assert "source ports 1024-65535 not enforced" in approx["rule 'app-to-db'"]
    assert "ICMP type 8 matched as all of ICMP" in approx["rule 'admin-everywhere'"]
    rewritten = {n.subject: n.message for n in imp.report.of(Kind.rewritten)}
    assert "service negation written as its complement" in rewritten["rule 'no-dns-out'"]
    assert "schedule 'business-hours': the device applies it only then" in approx["rule 'web-in'"]
    skipped = {n.subject: n.message for n in imp.report.of(Kind.skipped)}
    assert "fqdn portal.vendor.example" in skipped["rule 'vendor-access'"]
    assert "geography KP" in skipped["rule 'block-embargo'"]
    assert "IP protocol 47" in skipped["rule 'tunnel'"]
