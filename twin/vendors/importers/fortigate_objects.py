"""FortiGate objects → `DeviceConfig`: addresses (ipmask, iprange, interface-subnet; fqdn,
geography, wildcard, dynamic kept as unsupported), `address6`/`addrgrp6` (IPv6 networks; their
names are FortiGate's other namespace: one that an IPv4 object also has is kept as `<name>.v6`,
`DeviceConfig.names6` maps them), address groups with exclude-member (flattened exactly), VIPs
and VIP groups (destination NAT: the mapped servers), custom services and service groups.
"""

from __future__ import annotations

import ipaddress

from twin.policy.resolve import IPNet, PortRange
from twin.vendors.device import DevAddress, DeviceConfig, DevService, DevVip
from twin.vendors.importers.fortios import Block, Entry, find
from twin.vendors.netsets import exclude, range_to_nets


def read_addresses(dev: DeviceConfig, blocks: list[Block]) -> None:
    for b in find(blocks, "firewall address"):
        for e in b.entries.values():
            dev.addresses[e.name] = _address(e)
    groups = [e for b in find(blocks, "firewall addrgrp") for e in b.entries.values()]
    for e in groups:
        dev.addresses[e.name] = DevAddress(e.name, e.line, members=tuple(e.values("member")))
    for e in groups:  # exclude-member: flatten to networks, exactly
        if e.get("exclude") == "enable" and e.values("exclude-member"):
            keep = _flat(dev, list(e.values("member")))
            drop = _flat(dev, e.values("exclude-member"))
            if keep is None or drop is None:
                dev.addresses[e.name].unsupported = "exclude-member of an unsupported address"
            else:
                dev.addresses[e.name] = DevAddress(e.name, e.line, tuple(exclude(keep, drop)))


def read_addresses6(dev: DeviceConfig, blocks: list[Block]) -> None:
    """The IPv6 objects, once every IPv4 name is known (theirs is another namespace)."""
    objects = [e for b in find(blocks, "firewall address6") for e in b.entries.values()]
    groups = [e for b in find(blocks, "firewall addrgrp6") for e in b.entries.values()]
    for e in (*objects, *groups):
        key = e.name if e.name not in dev.addresses else f"{e.name}.v6"
        dev.names6[e.name] = key
    for e in objects:
        dev.addresses[dev.names6[e.name]] = _address6(e)
    for e in groups:
        members = tuple(dev.names6.get(m, m) for m in e.values("member"))
        dev.addresses[dev.names6[e.name]] = DevAddress(e.name, e.line, members=members)


def _address6(e: Entry) -> DevAddress:
    kind = e.get("type", "ipprefix")
    try:
        if kind == "ipprefix":
            return DevAddress(e.name, e.line, (ipaddress.IPv6Network(e.get("ip6", "::/0")),))
        if kind == "iprange":
            return DevAddress(e.name, e.line, tuple(range_to_nets(e.get("start-ip"),
                                                                  e.get("end-ip"))))  # fmt: skip
    except ValueError as exc:
        return DevAddress(e.name, e.line, unsupported=f"a value the twin cannot read ({exc})")
    value = " ".join(e.values(kind) or e.values("fqdn"))
    return DevAddress(
        e.name, e.line, unsupported=f"IPv6 type {kind} {value}".strip() + " has no fixed L3 meaning"
    )


def read_vips(dev: DeviceConfig, blocks: list[Block]) -> None:
    for b in find(blocks, "firewall vip"):
        for e in b.entries.values():
            dev.addresses[e.name] = _vip(e)
    for b in find(blocks, "firewall vipgrp"):
        for e in b.entries.values():
            dev.addresses[e.name] = DevAddress(e.name, e.line, members=tuple(e.values("member")))


def _vip(e: Entry) -> DevAddress:
    kind = e.get("type", "static-nat")
    if kind not in ("static-nat", "load-balance", "server-load-balance"):
        return DevAddress(e.name, e.line, unsupported=f"VIP of type {kind}")
    try:
        external = tuple(_nets(e.values("extip")))
        if kind == "static-nat":
            mapped = tuple(_nets(e.values("mappedip")))
        else:
            servers = e.blocks.get("realservers")
            ips = [s.get("ip") for s in (servers.entries.values() if servers else [])]
            mapped = tuple(_nets([ip for ip in ips if ip]))
        ports = None
        proto = e.get("protocol", "tcp")
        if e.get("portforward") == "enable":
            if proto not in ("tcp", "udp"):
                return DevAddress(e.name, e.line, unsupported=f"VIP port forwarding of {proto}")
            ext = _port_range(e.get("extport"))
            inner = _port_range(e.get("mappedport") or e.get("extport"))
            ports = (ext, inner)
    except ValueError as exc:
        return DevAddress(
            e.name, e.line, unsupported=f"VIP with a value the twin cannot read ({exc})"
        )
    if not mapped:
        return DevAddress(e.name, e.line, unsupported="VIP without an IPv4 mapped address")
    extra = [f"{k} {' '.join(e.values(k))}" for k in ("src-filter", "service") if e.values(k)]
    vip = DevVip(external, mapped, proto if ports else "", ports, "; ".join(extra))
    return DevAddress(e.name, e.line, mapped, vip=vip)


def _nets(values: list[str]) -> list[IPNet]:
    out: list[IPNet] = []
    for v in values:
        if "-" in v:
            first, last = v.split("-", 1)
            out.extend(range_to_nets(first, last))
        else:
            out.append(ipaddress.IPv4Network(v, strict=False))
    return out


def _port_range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    first, last = int(lo), int(hi or lo)
    if not 1 <= first <= last <= 65535:
        raise ValueError(f"port range {text!r}")
    return first, last


def _flat(dev: DeviceConfig, names: list[str], depth: int = 0) -> list[IPNet] | None:
    out: list[IPNet] = []
    for n in names:
        a = dev.addresses.get(n)
        if a is None or a.unsupported or depth > 32:
            return None
        if a.any:
            out.append(ipaddress.IPv4Network("0.0.0.0/0"))
        elif a.members is not None:
            inner = _flat(dev, list(a.members), depth + 1)
            if inner is None:
                return None
            out.extend(inner)
        else:
            out.extend(a.networks)
    return out


def _address(e: Entry) -> DevAddress:
    kind = e.get("type", "ipmask")
    try:
        if kind in ("ipmask", "interface-subnet"):
            values = e.values("subnet") or ["0.0.0.0", "0.0.0.0"]
            spec = values[0] if len(values) == 1 else f"{values[0]}/{values[1]}"
            net = ipaddress.IPv4Network(spec, strict=False)
            if net.prefixlen == 0:
                return DevAddress(e.name, e.line, any=True)
            return DevAddress(e.name, e.line, (net,))
        if kind == "iprange":
            nets = range_to_nets(e.get("start-ip"), e.get("end-ip"))
            return DevAddress(e.name, e.line, tuple(nets))
    except ValueError as exc:
        return DevAddress(e.name, e.line, unsupported=f"a value the twin cannot read ({exc})")
    value = " ".join(e.values(kind) or e.values("fqdn") or e.values("country"))
    if kind == "wildcard":
        value = " ".join(e.values("wildcard"))
    return DevAddress(
        e.name, e.line, unsupported=f"type {kind} {value}".strip() + " has no fixed L3 meaning"
    )


def read_services(dev: DeviceConfig, blocks: list[Block]) -> None:
    for b in find(blocks, "firewall service custom"):
        for e in b.entries.values():
            dev.services[e.name] = _service(e)
    for b in find(blocks, "firewall service group"):
        for e in b.entries.values():
            dev.services[e.name] = DevService(e.name, e.line, members=tuple(e.values("member")))


def _service(e: Entry) -> DevService:
    proto = e.get("protocol", "TCP/UDP/SCTP").upper()
    if e.values("fqdn") or (e.values("iprange") and e.get("iprange") != "0.0.0.0"):
        return DevService(e.name, e.line, unsupported="a service bound to destination addresses")
    if proto in ("ICMP", "ICMP6"):
        echo = PortRange("icmpv6" if proto == "ICMP6" else "icmp")
        t = e.get("icmptype")
        approx = f"{proto} type {t} matched as all of {proto}" if t else ""
        return DevService(e.name, e.line, (echo,), approximated=approx)
    if proto == "IP":
        raw = e.get("protocol-number", "0")
        if not raw.isdigit():
            return DevService(e.name, e.line, unsupported=f"IP protocol {raw!r}")
        number = int(raw)
        known = {
            1: PortRange("icmp"),
            6: PortRange("tcp", 1, 65535),
            17: PortRange("udp", 1, 65535),
        }
        if number == 0:
            return DevService(e.name, e.line, any=True)
        if number in known:
            return DevService(e.name, e.line, (known[number],))
        return DevService(e.name, e.line, unsupported=f"IP protocol {number}")
    ranges: list[PortRange] = []
    notes: list[str] = []
    try:
        for key, p in (("tcp-portrange", "tcp"), ("udp-portrange", "udp")):
            for spec in e.values(key):
                dst, _, src = spec.partition(":")
                lo, _, hi = dst.partition("-")
                first, last = int(lo), int(hi or lo)
                if not 0 <= first <= last <= 65535:
                    raise ValueError(f"{spec}: ports are 0-65535, low-high")
                ranges.append(PortRange(p, max(first, 1), last))  # type: ignore[arg-type]
                if src:
                    notes.append(f"source ports {src} not enforced by the twin")
    except ValueError as exc:
        return DevService(e.name, e.line, unsupported=f"bad port range: {exc}")
    if e.values("sctp-portrange"):
        notes.append("its SCTP ports are not modelled (the twin probes tcp, udp, icmp)")
    if not ranges:
        return DevService(e.name, e.line, unsupported="no tcp or udp port range")
    return DevService(e.name, e.line, tuple(ranges), approximated="; ".join(notes))
