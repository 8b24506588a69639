"""build: a vendor `DeviceConfig` → a twin policy (validated) and its import report.

Zones get their subnet from their interfaces' addresses, or from the user's `--zone-subnets`
map; a zone with none gets one from 198.18.0.0/15 (RFC 2544 benchmarking space, never a real
network) and the report says so. Vendor configs list no workloads, so each zone gets two hosts
(`<zone>-h1`, `<zone>-h2`); the first sits on an address a rule names, when one does, so the
twin exercises that rule.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml

from twin.errors import InputError, Problem
from twin.load import validate_policy
from twin.model import LAB_NAME, Action, Policy
from twin.objects import IPv4Net
from twin.vendors.device import DeviceConfig, DevZone
from twin.vendors.intent import derive
from twin.vendors.names import Namespace, node_name
from twin.vendors.report import ImportReport, Kind
from twin.vendors.translate import Translator

ASSUMED_POOL = ipaddress.IPv4Network("198.18.0.0/15")
HOSTS_PER_ZONE = 2


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
    names = Namespace({"any"})
    zone_map = {z: names.claim(z, node=True) for z in dev.zones}
    zones, nets = _zones(dev, zone_map, zone_subnets or {}, report)
    tr = Translator(dev, report, names, zone_map, nets)
    for rule in dev.rules:
        tr.rule(rule)
    for vz in dev.zones.values():
        if vz.intrazone is Action.allow and dev.intrazone.action is not Action.allow:
            z = zone_map[vz.name]
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
    _hosts(zones, nets, tr.addresses, names)
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


def _zones(
    dev: DeviceConfig,
    zone_map: dict[str, str],
    given: dict[str, IPv4Net],
    report: ImportReport,
) -> tuple[dict[str, dict[str, Any]], dict[str, IPv4Net]]:
    found: dict[str, tuple[list[IPv4Net], list[ipaddress.IPv4Address]]] = {}
    for vz in dev.zones.values():
        nets, ips = [], []
        for iface in vz.interfaces:
            for addr in dev.interfaces.get(iface, _NoIface).addresses:
                nets.append(addr.network)
                ips.append(addr.ip)
        found[vz.name] = (nets, ips)
    taken = [n for vname, (nets, _) in found.items() if vname not in given for n in nets]
    taken += list(given.values())
    pool = (n for n in ASSUMED_POOL.subnets(new_prefix=24) if not any(n.overlaps(t) for t in taken))
    zones: dict[str, dict[str, Any]] = {}
    subnets: dict[str, IPv4Net] = {}
    for vname, (nets, ips) in found.items():
        vz = dev.zones[vname]
        twin = zone_map[vname]
        subnet = given.get(vname) or given.get(twin)
        if subnet is None:
            subnet = _one_subnet(vz, nets, taken, report)
        if subnet is None:
            subnet = next(pool)
            report.add(
                Kind.assumed,
                f"zone {vname!r}",
                f"no interface address: twin uses {subnet} (give the real one with "
                f"--zone-subnets {twin}=CIDR)",
                vz.line,
            )
        if subnet.prefixlen > 29:
            wider = subnet.supernet(new_prefix=29)
            report.add(
                Kind.assumed, f"zone {vname!r}", f"{subnet} widened to {wider} (twin needs a /29)"
            )
            subnet = wider
        clash = next((z for z, n in subnets.items() if n.overlaps(subnet)), None)
        if clash is not None and not (given.get(vname) or given.get(twin)):
            other = subnets[clash]
            subnet = next(pool)
            report.add(
                Kind.assumed,
                f"zone {vname!r}",
                f"its interface subnet overlaps zone {clash!r} ({other}) in the twin: twin uses "
                f"{subnet} (give another with --zone-subnets {twin}=CIDR)",
                vz.line,
            )
        zone: dict[str, Any] = {"subnet": str(subnet)}
        gw = next((ip for ip in ips if ip in subnet and ip not in (subnet[0], subnet[-1])), None)
        if gw is not None and gw != subnet[1]:
            zone["gateway"] = str(gw)
        if vname != twin:
            zone["description"] = f"{dev.vendor} zone {vname!r}"
        zones[twin] = zone
        subnets[twin] = subnet
    _check_overlaps(dev, subnets)
    return zones, subnets


class _NoIface:
    addresses: ClassVar[list[ipaddress.IPv4Interface]] = []


def _one_subnet(
    vz: DevZone, nets: list[IPv4Net], taken: list[IPv4Net], report: ImportReport
) -> IPv4Net | None:
    unique = list(ipaddress.collapse_addresses(nets))
    if not unique:
        return None
    if len(unique) == 1:
        return unique[0]
    wide = unique[0]
    while not all(n.subnet_of(wide) for n in unique):
        wide = wide.supernet()
    others = [t for t in taken if not any(t == n for n in unique)]
    if not any(wide.overlaps(t) for t in others):
        report.add(
            Kind.assumed,
            f"zone {vz.name!r}",
            f"{len(unique)} interface subnets ({', '.join(map(str, unique))}) modelled as {wide}",
            vz.line,
        )
        return wide
    report.add(
        Kind.assumed,
        f"zone {vz.name!r}",
        f"{len(unique)} interface subnets; twin models {unique[0]} only "
        f"(not {', '.join(map(str, unique[1:]))}: their supernet overlaps another zone)",
        vz.line,
    )
    return unique[0]


def _check_overlaps(dev: DeviceConfig, subnets: dict[str, IPv4Net]) -> None:
    items = list(subnets.items())
    for i, (a, na) in enumerate(items):
        for b, nb in items[i + 1 :]:
            if na.overlaps(nb):
                raise InputError(
                    [
                        Problem(
                            dev.file,
                            None,
                            f"zone {b!r}",
                            f"subnet {nb} overlaps zone {a!r} ({na})",
                            "give each zone its own subnet with --zone-subnets ZONE=CIDR,…",
                        )
                    ]
                )


def _hosts(
    zones: dict[str, dict[str, Any]],
    nets: dict[str, IPv4Net],
    addresses: dict[str, list[str]],
    names: Namespace,
) -> None:
    named: list[ipaddress.IPv4Address] = []
    for items in addresses.values():
        for item in items:
            try:
                n = ipaddress.IPv4Network(item)
            except ValueError:
                continue
            if n.prefixlen >= 24:
                named.append(n[0] if n.prefixlen == 32 else n[1])
    for zname, zone in zones.items():
        subnet = nets[zname]
        gw = ipaddress.IPv4Address(zone.get("gateway") or subnet[1])
        start = 11 if subnet.num_addresses - 2 >= 10 + HOSTS_PER_ZONE else 2
        defaults = (subnet[i] for i in range(start, subnet.num_addresses - 1))
        picked: list[ipaddress.IPv4Address] = []
        for cand in [*(a for a in named if a in subnet), *defaults]:
            if cand not in (gw, subnet[0], subnet[-1]) and cand not in picked:
                picked.append(cand)
            if len(picked) == HOSTS_PER_ZONE:
                break
        zone["hosts"] = [
            {"name": names.claim(f"{zname}-h{i}", node=True), "address": str(a)}
            for i, a in enumerate(picked, start=1)
        ]
