"""FortiGate configuration (a full backup, `show full-configuration`) → `DeviceConfig`.

Read: `system interface` addresses (and secondary IPs; under `config global` on a multi-VDOM
unit, those of the chosen VDOM), `system zone` (members, intrazone), `firewall address`
(ipmask, iprange, interface-subnet; fqdn, geography, wildcard, dynamic are kept as unsupported),
`address6` (IPv6: never an IPv4 flow), `addrgrp` (nested, with exclude-member), `vip` and
`vipgrp` (destination NAT: a policy naming a VIP is tested against its mapped server), `service
custom` (tcp/udp ranges, ICMP, IP protocol), `service group`, and `firewall policy` (and the old
`policy6`) in list order, not by id. A policy names interfaces or zones; an interface outside
every zone is its own twin zone. Defaults: the implicit deny, both interzone and intrazone; a
zone's `intrazone allow` becomes a rule after every policy. Several VDOMs: `--vdom` picks one
(else the first with policies, reported).
"""

from __future__ import annotations

import ipaddress

from twin.errors import InputError, Problem
from twin.model import Action
from twin.objects import PortRange
from twin.vendors.device import (
    ANY,
    Approx,
    DevAddress,
    DevDefault,
    DeviceConfig,
    DevInterface,
    DevRule,
    DevService,
    DevVip,
    DevZone,
)
from twin.vendors.fortios import Block, Entry, find, parse_fortios
from twin.vendors.netsets import exclude, range_to_nets
from twin.vendors.report import Kind, Note

VENDOR = "FortiGate"


def parse_fortigate(text: str, file: str, vdom: str | None = None) -> DeviceConfig:
    ignored: list[tuple[int, str]] = []
    top = parse_fortios(text, file, ignored)
    dev = DeviceConfig(VENDOR, file)
    for n, what in ignored:
        dev.notes.append(Note(Kind.assumed, "syntax", f"{what}: ignored (FortiOS refuses it)", n))
    global_blocks = [b for g in find(top, "global") for b in g.settings.blocks.values()]
    blocks, picked = _vdom_blocks(dev, top, file, vdom)
    dev.intrazone = DevDefault(Action.deny)
    dev.interzone = DevDefault(Action.deny)
    for g in find([*top, *global_blocks], "system global"):
        dev.hostname = g.settings.get("hostname", dev.hostname)
    _interfaces(dev, [*top, *global_blocks, *blocks], picked)
    _addresses(dev, blocks)
    _vips(dev, blocks)
    _services(dev, blocks)
    zone_of: dict[str, str] = {}
    for b in find(blocks, "system zone"):
        for z in b.entries.values():
            members = z.values("interface")
            action = Action.allow if z.get("intrazone", "deny") == "allow" else Action.deny
            dev.zones[z.name] = DevZone(z.name, members, z.line, action)
            zone_of.update(dict.fromkeys(members, z.name))
    for b in find(blocks, "firewall policy"):
        dev.has_policy = True
        for p in b.entries.values():
            dev.rules.append(_policy(dev, p, zone_of))
    for b in find(blocks, "firewall policy6"):
        dev.has_policy = True
        for p in b.entries.values():
            rule = _policy(dev, p, zone_of)
            rule.ipv6_only = "an IPv6 policy (config firewall policy6)"
            dev.rules.append(rule)
    return dev


def _vdom_blocks(
    dev: DeviceConfig, top: list[Block], file: str, vdom: str | None
) -> tuple[list[Block], str | None]:
    vdoms: dict[str, list[Block]] = {}
    first_line: dict[str, int] = {}
    for b in find(top, "vdom"):
        for e in b.entries.values():
            vdoms.setdefault(e.name, []).extend(e.blocks.values())
            first_line.setdefault(e.name, e.line)
    vdoms = {k: v for k, v in vdoms.items() if v}
    if not vdoms:
        if vdom is not None:
            raise InputError(
                [Problem(file, None, "", f"no VDOM {vdom!r}: this file has one policy table", "")]
            )
        return top, None
    if vdom is not None:
        if vdom not in vdoms:
            names = ", ".join(vdoms)
            raise InputError([Problem(file, None, "", f"no VDOM {vdom!r}", f"VDOMs: {names}")])
        return [*top, *vdoms[vdom]], vdom
    with_policy = [k for k, v in vdoms.items() if any(b.path == "firewall policy" for b in v)]
    picked = with_policy[0] if with_policy else next(iter(vdoms))
    if len(with_policy) > 1:
        dev.notes.append(
            Note(
                Kind.assumed,
                f"VDOM {picked!r}",
                f"{len(with_policy)} VDOMs have policies ({', '.join(with_policy)}); this import "
                "is of the first — pick another with --vdom NAME",
                first_line[picked],
            )
        )
    return [*top, *vdoms[picked]], picked


def _ip(values: list[str]) -> ipaddress.IPv4Interface | None:
    if not values:
        return None
    spec = values[0] if len(values) == 1 else f"{values[0]}/{values[1]}"
    iface = ipaddress.IPv4Interface(spec)
    return None if iface.ip == ipaddress.IPv4Address(0) else iface


def _interfaces(dev: DeviceConfig, blocks: list[Block], vdom: str | None) -> None:
    for b in find(blocks, "system interface"):
        for e in b.entries.values():
            if vdom is not None and e.get("vdom", vdom) != vdom:
                continue
            addrs = []
            for entry in (e, *(s for blk in e.blocks.values() for s in blk.entries.values())):
                try:
                    ip = _ip(entry.values("ip"))
                except ValueError:
                    continue  # not an IPv4 interface address: no zone subnet from it
                if ip is not None:
                    addrs.append(ip)
            dev.interfaces[e.name] = DevInterface(e.name, addrs, e.line)


def _addresses(dev: DeviceConfig, blocks: list[Block]) -> None:
    for b in find(blocks, "firewall address"):
        for e in b.entries.values():
            dev.addresses[e.name] = _address(e)
    for b in find(blocks, "firewall address6"):
        for e in b.entries.values():
            value = e.get("ip6") or e.get("fqdn") or e.get("type", "ipprefix")
            dev.addresses.setdefault(e.name, DevAddress(e.name, e.line, ipv6=(value,)))
    groups = [e for b in find(blocks, "firewall addrgrp") for e in b.entries.values()]
    for e in groups:
        dev.addresses[e.name] = DevAddress(e.name, e.line, members=tuple(e.values("member")))
    for b in find(blocks, "firewall addrgrp6"):
        for e in b.entries.values():
            dev.addresses.setdefault(
                e.name, DevAddress(e.name, e.line, ipv6=tuple(e.values("member")))
            )
    for e in groups:  # exclude-member: flatten to networks, exactly
        if e.get("exclude") == "enable" and e.values("exclude-member"):
            keep = _flat(dev, list(e.values("member")))
            drop = _flat(dev, e.values("exclude-member"))
            if keep is None or drop is None:
                dev.addresses[e.name].unsupported = "exclude-member of an unsupported address"
            else:
                dev.addresses[e.name] = DevAddress(e.name, e.line, tuple(exclude(keep, drop)))


def _vips(dev: DeviceConfig, blocks: list[Block]) -> None:
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


def _nets(values: list[str]) -> list[ipaddress.IPv4Network]:
    out: list[ipaddress.IPv4Network] = []
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


def _flat(
    dev: DeviceConfig, names: list[str], depth: int = 0
) -> list[ipaddress.IPv4Network] | None:
    out: list[ipaddress.IPv4Network] = []
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


def _services(dev: DeviceConfig, blocks: list[Block]) -> None:
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
        if proto == "ICMP6":
            return DevService(e.name, e.line, unsupported="ICMPv6 (the twin is IPv4)")
        t = e.get("icmptype")
        approx = f"ICMP type {t} matched as all of ICMP" if t else ""
        return DevService(e.name, e.line, (PortRange("icmp"),), approximated=approx)
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


def _policy(dev: DeviceConfig, p: Entry, zone_of: dict[str, str]) -> DevRule:
    def zones(key: str) -> list[str]:
        out = []
        for name in p.values(key) or [ANY]:
            if name == ANY or name in dev.zones:
                out.append(name)
            elif name in zone_of:
                out.append(zone_of[name])  # FortiOS would refuse this; read it kindly
            else:  # a standalone interface is its own zone
                iface = dev.interfaces.get(name)
                dev.zones.setdefault(name, DevZone(name, [name], iface.line if iface else None))
                out.append(name)
        return out

    action = p.get("action", "deny")
    mapped = {"accept": Action.allow, "deny": Action.deny, "ipsec": Action.allow}.get(action)
    if mapped is Action.deny and p.get("send-deny-packet") == "enable":
        mapped = Action.reject
    rule = DevRule(
        name=p.get("name") or f"policy-{p.name}",
        line=p.line,
        from_=zones("srcintf"),
        to=zones("dstintf"),
        action=mapped or Action.deny,
        source=p.values("srcaddr") or [ANY],
        destination=p.values("dstaddr") or [ANY],
        services=p.values("service") or [ANY],
        negate_source=p.get("srcaddr-negate") == "enable",
        negate_destination=p.get("dstaddr-negate") == "enable",
        negate_service=p.get("service-negate") == "enable",
        log=p.get("logtraffic", "utm") == "all",
        disabled=p.get("status", "enable") == "disable",
        description=p.get("comments"),
    )
    if mapped is None:
        rule.unsupported = f"action {action!r}"
    schedule = p.get("schedule", "always")
    if schedule != "always":
        rule.approximated.append(
            Approx(f"schedule {schedule!r}: the device applies it only then; always in the twin")
        )
    if action == "ipsec":
        rule.approximated.append(Approx("action ipsec imported as accept (no tunnel in the twin)"))
    for key in ("users", "groups", "fsso-groups", "ztna-ems-tag"):
        if p.values(key):
            rule.unsupported = f"{key} {', '.join(p.values(key))} (the twin has no user identity)"
    for key, side in (("internet-service", "destination"), ("internet-service-src", "source")):
        if p.get(key) == "enable":
            names = p.values(f"{key}-name") or p.values(f"{key}-id") or p.values(f"{key}-group")
            rule.unsupported = (
                f"{key} {' '.join(names)} as its {side} (a vendor-maintained address database)"
            ).replace("  ", " ")
    _ip_versions(rule, p)
    if "ALL" in rule.services and not rule.negate_service:
        rule.services = [ANY]
    for side in ("source", "destination"):
        refs = getattr(rule, side)
        if "all" in refs and "all" not in dev.addresses:
            setattr(rule, side, [ANY])
    return rule


def _ip_versions(rule: DevRule, p: Entry) -> None:
    """FortiOS 6.4+ policies carry IPv4 (srcaddr/dstaddr) and IPv6 (srcaddr6/dstaddr6) parts:
    one without the IPv4 pair never matches an IPv4 flow (it must not become any → any)."""
    v6 = [f"{k} {' '.join(p.values(k))}" for k in ("srcaddr6", "dstaddr6") if p.values(k)]
    v4 = bool(p.values("srcaddr")) and bool(p.values("dstaddr"))
    if v6 and not v4:
        rule.ipv6_only = f"an IPv6-only policy ({'; '.join(v6)})"
    elif v6:
        rule.ipv6_part = f"its IPv6 part ({'; '.join(v6)}) is not tested (the twin is IPv4)"
    elif (
        not v4
        and p.get("internet-service") != "enable"
        and p.get("internet-service-src") != "enable"
    ):
        missing = [k for k in ("srcaddr", "dstaddr") if not p.values(k)]
        rule.unsupported = f"no {' and no '.join(missing)}: FortiOS matches nothing without them"
