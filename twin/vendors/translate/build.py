"""build: a vendor `DeviceConfig` → a twin policy (validated) and its import report.

Zones get their subnet from their interfaces' addresses, or from the user's `--zone-subnets`
map; a zone with none gets one from 198.18.0.0/15 (RFC 2544 benchmarking space, never a real
network) and the report says so. Vendor configs list no workloads, so each zone gets two hosts
(`<zone>-h1`, `<zone>-h2`); the first sits on an address a rule names, when one does, so the
twin exercises that rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from twin.errors import InputError, Problem
from twin.policy.load import validate_policy
from twin.policy.model import RESERVED_NAMES, Action, Policy
from twin.policy.resolve import IPv4Net
from twin.policy.syntax import LAB_NAME
from twin.vendors.device import DeviceConfig, DevZone
from twin.vendors.report import ImportReport, Kind
from twin.vendors.translate.intent import derive
from twin.vendors.translate.names import Namespace, node_name
from twin.vendors.translate.rules import Translator
from twin.vendors.translate.zones import assign_subnets, assign_subnets6, place_hosts

# vendors whose IPv6 objects and policies import exactly (ASA's IPv6 rules stay "not tested")
DUAL_STACK_VENDORS = ("PAN-OS", "FortiGate")


@dataclass(frozen=True)
class Imported:
    policy: Policy
    data: dict[str, Any]
    report: ImportReport

    def to_yaml(self) -> str:
        r = self.report
        head = [
            f"# Imported by twin from {r.vendor} configuration {r.file}.",
            f"# {r.summary()}.",
            "# Approximated and skipped rules are listed in the import report; approximated",
            "# rules say so in their description. Hosts are generated (two per zone, and one",
            "# more where a derived intent line needs it).",
        ]
        if self.data.get("expect"):
            head.append(
                "# `derived: true` intent lines: the device's own decision for one sample flow "
                "per imported rule."
            )
        body = yaml.dump(
            self.data, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=100
        )
        return "\n".join(head) + "\n" + body


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def lab_name(text: str) -> str:
    name = node_name(text, 64).replace("_", "").replace("-", "")[:20]  # lab names have no '-'
    return name if LAB_NAME.fullmatch(name) else "imported"


def build_policy(
    dev: DeviceConfig,
    name: str,
    zone_subnets: dict[str, IPv4Net] | None = None,
    intent: bool = True,
) -> Imported:
    _refuse_empty(dev)
    report = ImportReport(dev.vendor, dev.file)
    report.notes.extend(dev.notes)
    _zones_from_rules(dev, report)
    names = Namespace(set(RESERVED_NAMES))
    zone_map = {z: names.claim(z, node=True) for z in dev.zones}
    zones, nets = assign_subnets(dev, zone_map, zone_subnets or {}, report)
    dual = dev.vendor in DUAL_STACK_VENDORS and dev.ipv6
    nets6 = assign_subnets6(dev, zone_map, zones, report) if dual else {}
    tr = Translator(dev, report, names, zone_map, nets, zone_nets6=nets6)
    for rule in dev.rules:
        tr.rule(rule)
    for vz in dev.zones.values():
        z = zone_map[vz.name]
        flat = zones[z]["segment"] == "flat"  # its hosts never reach the device
        if vz.intrazone is Action.allow and dev.intrazone.action is not Action.allow and not flat:
            tr.rules.append(
                {
                    "name": tr.rule_names.claim(f"intrazone-allow.{z}"),
                    "from": [z],
                    "to": [z],
                    "action": "allow",
                    "description": f"{dev.vendor} zone {vz.name!r}: intrazone allow",
                }
            )
            report.add(
                Kind.assumed,
                f"zone {vz.name!r}",
                "intrazone allow applies after every policy and before the implicit deny",
                vz.line,
            )
    place_hosts(zones, nets, tr.addresses, names, nets6)
    data: dict[str, Any] = {
        "name": name,
        "description": f"Imported from {dev.vendor} {dev.hostname or dev.file}",
        "firewall": {"kind": "nftables", "name": names.claim("fw", node=True)},
        "defaults": {
            "interzone": dev.interzone.action.value,
            "intrazone": dev.intrazone.action.value,
        },
        "zones": zones,
        "addresses": tr.addresses,
        "services": tr.services,
        "rules": tr.rules,
    }
    report.renamed = {
        "zones, hosts, addresses": dict(names.renamed),
        "services": dict(tr.svcs.names.renamed),
        "rules": dict(tr.rule_names.renamed),
    }
    report.counts = {
        "zones": len(zones),
        "rules_in": len(dev.rules),
        "nat_rules": len(dev.nat),
        "rules_out": len(tr.rules),
        "addresses": len(tr.addresses),
        "services": len(tr.services),
    }
    try:
        policy = validate_policy(data, {}, dev.file)
    except InputError as exc:  # a bug of the importer, not of the user's file
        first = exc.problems[0]
        raise InputError(
            [Problem(dev.file, None, first.path, f"imported policy is invalid: {first.message}")]
        ) from None
    if intent:
        policy = derive(data, policy, report, names, dev.file)
    return Imported(policy, data, report)


def _refuse_empty(dev: DeviceConfig) -> None:
    """A file with nothing to test is refused in one line that says why."""
    if not dev.has_policy and not dev.rules:
        what = "no security policy in this file"
        hint = (
            "export the running configuration of a firewall (with its rules); a template or "
            "a baseline has none"
        )
        if dev.vendor == "PAN-OS" and dev.nat:
            what = "no security rules in this file (only NAT rules)"
        raise InputError([Problem(dev.file, None, "", what, hint)])


def _zones_from_rules(dev: DeviceConfig, report: ImportReport) -> None:
    """Zones a rule names but the file does not define (a Panorama device group's rules
    without its template): each becomes a zone of its own, with an assumed subnet."""
    for r in dev.rules:
        for z in (*r.from_, *r.to):
            if z != "any" and z not in dev.zones:
                dev.zones[z] = DevZone(z, [], None)
                report.add(
                    Kind.assumed,
                    f"zone {z!r}",
                    "named by rules but not defined in this file (a template holds it?)",
                    r.line,
                )
    if not dev.zones:
        raise InputError(
            [
                Problem(
                    dev.file,
                    None,
                    "",
                    "no zones in this file"
                    + (
                        f": its {len(dev.rules)} rules are all any → any"
                        if dev.rules
                        else " and no security rules"
                    )
                    + " (a baseline template?)",
                    "export the full running configuration of a firewall, with its zones",
                )
            ]
        )
