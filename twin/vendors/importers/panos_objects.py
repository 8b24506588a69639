"""PAN-OS objects → `DeviceConfig`: addresses (ip-netmask, ip-range; IPv6 kept apart; fqdn and
wildcard unsupported), regions with addresses, external dynamic lists (unsupported), static
address groups (dynamic ones unsupported), services and service groups, application groups and
filters, custom applications with their default ports. One scope (shared, a device group, a
vsys) at a time: a closer scope read later overrides an object of the same name.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET

from twin.policy.resolve import IPNet, PortRange
from twin.vendors.device import DevAddress, DeviceConfig, DevService
from twin.vendors.importers.xmltree import line, members, text
from twin.vendors.netsets import range_to_nets


def read_objects(dev: DeviceConfig, s: ET.Element) -> None:
    for a in s.findall("address/entry"):
        dev.addresses[a.get("name", "")] = _address(a)
    for r in s.findall("region/entry"):
        name = r.get("name", "")
        dev.addresses[name] = _nets_object(name, line(r), members(r, "address"))
    for e in s.findall("external-list/entry"):
        name = e.get("name", "")
        dev.addresses[name] = DevAddress(
            name, line(e), unsupported="external dynamic list (its content changes)"
        )
    for g in s.findall("address-group/entry"):
        name = g.get("name", "")
        if g.find("static") is not None:
            dev.addresses[name] = DevAddress(name, line(g), members=tuple(members(g, "static")))
        else:
            dev.addresses[name] = DevAddress(
                name, line(g), unsupported="dynamic address group (tag match at run time)"
            )
    for sv in s.findall("service/entry"):
        dev.services[sv.get("name", "")] = _service(sv)
    for g in s.findall("service-group/entry"):
        name = g.get("name", "")
        dev.services[name] = DevService(name, line(g), members=tuple(members(g, "members")))
    for g in s.findall("application-group/entry"):
        dev.app_groups[g.get("name", "")] = members(g, "members") or members(g, ".")
    for f in s.findall("application-filter/entry"):
        dev.app_filters.add(f.get("name", ""))
    for a in s.findall("application/entry"):
        ports = _app_ports(members(a, "default/port"))
        if ports:
            dev.applications[a.get("name", "")] = ports


def _app_ports(specs: list[str]) -> tuple[PortRange, ...]:
    out: list[PortRange] = []
    for spec in specs:  # tcp/80,8080 or udp/dynamic
        proto, _, ports = spec.partition("/")
        if proto not in ("tcp", "udp"):
            continue
        try:
            out.extend(_ports(proto, ports))
        except ValueError:
            continue
    return tuple(out)


def _nets_object(name: str, n: int | None, values: list[str]) -> DevAddress:
    nets: list[IPNet] = []
    try:
        for v in values:
            if "-" in v:
                first, _, last = v.partition("-")
                nets.extend(range_to_nets(first.strip(), last.strip()))
            else:
                nets.append(ipaddress.ip_network(v, strict=False))
    except ValueError as exc:
        return DevAddress(name, n, unsupported=f"a value the twin cannot read ({exc})")
    if not nets:
        return DevAddress(name, n, unsupported="no addresses")
    return DevAddress(name, n, tuple(nets))


def _address(a: ET.Element) -> DevAddress:
    name, n = a.get("name", ""), line(a)
    for kind in ("ip-netmask", "ip-range"):
        if a.find(kind) is not None:
            return _nets_object(name, n, [text(a, kind)])
    for kind in ("fqdn", "ip-wildcard"):
        if a.find(kind) is not None:
            value = text(a, kind)
            return DevAddress(name, n, unsupported=f"{kind} {value} has no fixed L3 meaning")
    return DevAddress(name, n, unsupported="no ip-netmask or ip-range")


def _service(sv: ET.Element) -> DevService:
    name, n = sv.get("name", ""), line(sv)
    for proto in ("tcp", "udp"):
        p = sv.find(f"protocol/{proto}")
        if p is None:
            continue
        ports = text(p, "port")
        try:
            ranges = tuple(_ports(proto, ports))
        except ValueError as exc:
            return DevService(name, n, unsupported=f"bad port {ports!r}: {exc}")
        src = text(p, "source-port")
        approx = f"source port {src} not enforced by the twin" if src else ""
        return DevService(name, n, ranges, approximated=approx)
    if sv.find("protocol/sctp") is not None:
        return DevService(name, n, unsupported="SCTP (the twin probes tcp, udp, icmp)")
    return DevService(name, n, unsupported="no tcp or udp protocol")


def _ports(proto: str, spec: str) -> list[PortRange]:
    out = []
    for part in spec.replace(" ", "").split(","):
        lo, _, hi = part.partition("-")
        first, last = int(lo), int(hi or lo)
        if not (1 <= first <= last <= 65535):
            raise ValueError("ports are 1-65535, low-high")
        out.append(PortRange(proto, first, last))  # type: ignore[arg-type]
    return out
