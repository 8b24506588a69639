"""Zone subnets of an imported policy: from the interfaces' addresses, the user's
`--zone-subnets`, or (none, or one that would overlap another zone) a /24 of 198.18.0.0/15 (RFC
2544 benchmarking space, never a real network); and the hosts each zone gets. A device that
routes or filters IPv6 gives its zones an IPv6 subnet too: an interface's, or a /64 of
2001:2::/48 (RFC 5180 benchmarking space).
"""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from twin.errors import InputError, Problem
from twin.policy.resolve import IPv4Net, IPv6Net
from twin.vendors.device import DeviceConfig, DevZone
from twin.vendors.report import ImportReport, Kind
from twin.vendors.translate.names import Namespace

ASSUMED_POOL = ipaddress.IPv4Network("198.18.0.0/15")
ASSUMED_POOL6 = ipaddress.IPv6Network("2001:2::/48")
HOSTS_PER_ZONE = 2


def assign_subnets(
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
                if isinstance(addr, ipaddress.IPv4Interface):
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
        if ipv6_only(dev, vz) and not (given.get(vname) or given.get(twin)):
            # IPv6 only (assign_subnets6 gives its subnet): flat when one interface holds it
            zones[twin] = {"segment": "flat" if len(vz.interfaces) <= 1 else "isolated"}
            continue
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
        zone: dict[str, Any] = {"subnet": str(subnet), "segment": _segment(dev, vz, subnet, report)}
        gw = next((ip for ip in ips if ip in subnet and ip not in (subnet[0], subnet[-1])), None)
        if gw is not None and gw != subnet[1]:
            zone["gateway"] = str(gw)
        if vname != twin:
            zone["description"] = f"{dev.vendor} zone {vname!r}"
        zones[twin] = zone
        subnets[twin] = subnet
    _check_overlaps(dev, subnets)
    return zones, subnets


def _segment(dev: DeviceConfig, vz: DevZone, subnet: IPv4Net, report: ImportReport) -> str:
    """`flat` unless the device sees traffic between the twin's hosts of the zone: hosts of one
    interface subnet reach each other without it (PAN-OS's intrazone-default, a FortiGate zone's
    `intrazone`, an ASA's same-security rules only decide traffic that crosses the device). A
    zone whose twin subnet spans several interfaces or subnets is `isolated`: the device routes
    between them. An interface with no address counts as in the twin's subnet."""
    ifaces: list[str] = []
    subnets: set[IPv4Net] = set()
    for name in vz.interfaces:
        nets = [
            a.network
            for a in dev.interfaces.get(name, _NoIface).addresses
            if isinstance(a, ipaddress.IPv4Interface)
        ]
        inside = [n for n in nets if n.overlaps(subnet)]
        if inside or not nets:
            ifaces.append(name)
            subnets.update(inside)
    line = vz.line or next(
        (dev.interfaces[i].line for i in vz.interfaces if i in dev.interfaces), None
    )
    if len(ifaces) <= 1 and len(subnets) <= 1:
        where = f"interface {ifaces[0]}" if ifaces else "one subnet (no interface)"
        report.add(
            Kind.assumed,
            f"zone {vz.name!r}",
            f"segment: flat — its hosts share {where} and reach each other without crossing "
            "the device, so intrazone rules and the intrazone default do not apply to them",
            line,
        )
        return "flat"
    spans = f"{len(ifaces)} interfaces ({', '.join(ifaces)})" if len(ifaces) > 1 else ""
    spans = spans or f"{len(subnets)} subnets of interface {ifaces[0]}"
    report.add(
        Kind.assumed,
        f"zone {vz.name!r}",
        f"segment: isolated — {subnet} spans {spans}: the device routes between them and "
        "applies intrazone rules there; the twin applies them to every flow inside the zone",
        line,
    )
    return "isolated"


def _named64(dev: DeviceConfig, zone: str, taken: list[IPv6Net]) -> IPv6Net | None:
    """The /64 of the first IPv6 network the rules name for `zone` (not all of IPv6, nor one
    wider than a /48), clear of `taken`."""
    for r in dev.rules:
        for refs, zones in ((r.source, r.from_), (r.destination, r.to)):
            if zone not in zones:
                continue
            for net in (n for ref in refs for n in dev.networks(ref)):
                if not isinstance(net, ipaddress.IPv6Network) or net.prefixlen < 48:
                    continue
                wide = (
                    net.supernet(new_prefix=64)
                    if net.prefixlen > 64
                    else next(net.subnets(new_prefix=64))
                )
                if not any(wide.overlaps(t) for t in taken):
                    return wide
    return None


def ipv6_only(dev: DeviceConfig, vz: DevZone) -> bool:
    """Do the zone's interfaces carry IPv6 addresses and no IPv4 one?"""
    addrs = [a for i in vz.interfaces for a in dev.interfaces.get(i, _NoIface).addresses]
    return bool(addrs) and all(a.version == 6 for a in addrs)


class _NoIface:
    addresses: ClassVar[list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]] = []


def assign_subnets6(
    dev: DeviceConfig, zone_map: dict[str, str], zones: dict[str, dict[str, Any]],
    report: ImportReport,
) -> dict[str, IPv6Net]:  # fmt: skip
    """Each zone's IPv6 subnet (`subnet6`, and `gateway6` when the interface's address is not
    the subnet's first): its interfaces' first IPv6 network (widened to a /120 at least). A zone
    without one has no IPv6 when other zones' interfaces have some; when none has (a device
    whose rules name IPv6 networks), every zone gets the /64 of the first IPv6 network its
    rules name for it (as a source from it, a destination in it) that is free, so a twin host
    exercises those rules, else a /64 of the benchmarking pool."""
    found: dict[str, tuple[IPv6Net, ipaddress.IPv6Address, int | None]] = {}
    for vz in dev.zones.values():
        for iface in vz.interfaces:
            i = dev.interfaces.get(iface)
            for addr in i.addresses if i else ():
                if isinstance(addr, ipaddress.IPv6Interface) and not addr.ip.is_link_local:
                    found.setdefault(vz.name, (addr.network, addr.ip, i.line if i else None))
    taken = [net for net, _, _ in found.values()]
    pool = (
        n for n in ASSUMED_POOL6.subnets(new_prefix=64) if not any(n.overlaps(t) for t in taken)
    )
    out: dict[str, IPv6Net] = {}
    for vname, vz in dev.zones.items():
        twin = zone_map[vname]
        if found and vname not in found:
            continue  # the device routes IPv6 elsewhere, not into this zone: no IPv6 flow
        net, gw, line = found.get(vname, (None, None, vz.line))
        if net is not None and net.prefixlen > 120:
            wider = net.supernet(new_prefix=120)
            report.add(Kind.assumed, f"zone {vname!r}", f"{net} widened to {wider} (IPv6)", line)
            net = wider
        if net is not None and any(net.overlaps(o) for o in out.values()):
            net = None
        if net is None:
            named = _named64(dev, vname, [*taken, *out.values()])
            net, gw = named or next(pool), None
            why = "the first IPv6 network its rules name" if named else "for its IPv6 hosts"
            report.add(
                Kind.assumed, f"zone {vname!r}",
                f"no IPv6 interface address: twin uses {net} ({why})", vz.line,
            )  # fmt: skip
        zones[twin]["subnet6"] = str(net)
        if gw is not None and gw != net[1] and gw != net[0]:
            zones[twin]["gateway6"] = str(gw)
        out[twin] = net
    return out


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


def place_hosts(
    zones: dict[str, dict[str, Any]],
    nets: dict[str, IPv4Net],
    addresses: dict[str, list[str]],
    names: Namespace,
    nets6: dict[str, IPv6Net] | None = None,
) -> None:
    """Two hosts per zone, on addresses the rules name where they can (so the twin exercises
    those rules); in a dual-stack import the same for their IPv6 addresses."""
    named: list[ipaddress.IPv4Address] = []
    named6: list[ipaddress.IPv6Address] = []
    for items in addresses.values():
        for item in items:
            try:
                n = ipaddress.ip_network(item)
            except ValueError:
                continue
            if isinstance(n, ipaddress.IPv4Network) and n.prefixlen >= 24:
                named.append(n[0] if n.prefixlen == 32 else n[1])
            elif isinstance(n, ipaddress.IPv6Network) and n.prefixlen >= 64:
                named6.append(n[0] if n.prefixlen == 128 else n[1])
    for zname, zone in zones.items():
        if zname not in nets:  # IPv6 only
            zone["hosts"] = [{"name": names.claim(f"{zname}-h{i}", node=True)}
                             for i in range(1, HOSTS_PER_ZONE + 1)]  # fmt: skip
            _hosts6(zone, (nets6 or {}).get(zname), named6)
            continue
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
        _hosts6(zone, (nets6 or {}).get(zname), named6)


def _hosts6(
    zone: dict[str, Any], subnet6: IPv6Net | None, named6: list[ipaddress.IPv6Address]
) -> None:
    """The zone's hosts' IPv6 addresses: those the rules name first, then ::11, ::12, …"""
    if subnet6 is None:
        return
    gw6 = ipaddress.IPv6Address(zone.get("gateway6") or subnet6[1])
    used: set[ipaddress.IPv6Address] = {gw6, subnet6[0]}
    for host, a in zip(zone["hosts"], [a for a in named6 if a in subnet6], strict=False):
        if a not in used:
            host["address6"] = str(a)
            used.add(a)
    spare = (subnet6[k] for k in range(0x11, subnet6.num_addresses))
    for host in zone["hosts"]:
        if "address6" not in host:
            host["address6"] = str(next(a for a in spare if a not in used))
