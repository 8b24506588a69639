"""FortiGate configuration → `DeviceConfig`.

Read: `system interface` addresses (and secondary IPs), `system zone` (members, intrazone),
`firewall address` (ipmask, iprange, interface-subnet; fqdn/geography/wildcard unsupported),
`addrgrp` (nested, with exclude-member), `service custom` (tcp/udp ranges, ICMP, IP protocol),
`service group`, and `firewall policy` in list order (not by id). A policy names interfaces or
zones; an interface outside every zone is its own twin zone. Defaults: the implicit deny, both
interzone and intrazone; a zone's `intrazone allow` becomes a rule after every policy.
"""

from __future__ import annotations

import ipaddress

from twin.errors import InputError, Problem
from twin.model import Action
from twin.objects import PortRange
from twin.vendors.device import (
    ANY,
    DevAddress,
    DevDefault,
    DeviceConfig,
    DevInterface,
    DevRule,
    DevService,
    DevZone,
)
from twin.vendors.fortios import Block, Entry, find, parse_fortios
from twin.vendors.netsets import exclude, range_to_nets

VENDOR = "FortiGate"


def parse_fortigate(text: str, file: str, vdom: str | None = None) -> DeviceConfig:
    top = parse_fortios(text, file)
    blocks = _vdom_blocks(top, file, vdom)
    if not any(b.path == "firewall policy" for b in blocks):
        raise InputError(
            [
                Problem(
                    file,
                    None,
                    "",
                    "no `config firewall policy` found",
                    "is this a FortiGate configuration (show full-configuration, or a backup)?",
                )
            ]
        )
    dev = DeviceConfig(VENDOR, file)
    dev.intrazone = DevDefault(Action.deny)
    dev.interzone = DevDefault(Action.deny)
    for g in find(top, "system global"):
        dev.hostname = g.settings.get("hostname", "")
    _interfaces(dev, [*top, *blocks])
    _addresses(dev, blocks, file)
    _services(dev, blocks, file)
    zone_of: dict[str, str] = {}
    for b in find(blocks, "system zone"):
        for z in b.entries.values():
            members = z.values("interface")
            action = Action.allow if z.get("intrazone", "deny") == "allow" else Action.deny
            dev.zones[z.name] = DevZone(z.name, members, z.line, action)
            zone_of.update(dict.fromkeys(members, z.name))
    for b in find(blocks, "firewall policy"):
        for p in b.entries.values():
            dev.rules.append(_policy(dev, p, zone_of))
    return dev


def _vdom_blocks(top: list[Block], file: str, vdom: str | None) -> list[Block]:
    vdoms = [e for b in find(top, "vdom") for e in b.entries.values() if e.blocks]
    if not vdoms:
        return top
    with_policy = [e for e in vdoms if "firewall policy" in e.blocks]
    if vdom is not None:
        picked = [e for e in vdoms if e.name == vdom]
        if not picked:
            names = ", ".join(e.name for e in vdoms)
            raise InputError([Problem(file, None, "", f"no VDOM {vdom!r}", f"VDOMs: {names}")])
    elif len(with_policy) > 1:
        names = ", ".join(e.name for e in with_policy)
        raise InputError(
            [
                Problem(
                    file,
                    with_policy[1].line,
                    "",
                    f"several VDOMs have policies ({names})",
                    "pick one with --vsys NAME",
                )
            ]
        )
    else:
        picked = with_policy or vdoms[:1]
    return [*top, *picked[0].blocks.values()]


def _ip(values: list[str]) -> ipaddress.IPv4Interface | None:
    if not values:
        return None
    spec = values[0] if len(values) == 1 else f"{values[0]}/{values[1]}"
    iface = ipaddress.IPv4Interface(spec)
    return None if iface.ip == ipaddress.IPv4Address(0) else iface


def _interfaces(dev: DeviceConfig, blocks: list[Block]) -> None:
    for b in find(blocks, "system interface"):
        for e in b.entries.values():
            addrs = []
            for entry in (e, *(s for blk in e.blocks.values() for s in blk.entries.values())):
                ip = _ip(entry.values("ip"))
                if ip is not None:
                    addrs.append(ip)
            dev.interfaces[e.name] = DevInterface(e.name, addrs, e.line)


def _addresses(dev: DeviceConfig, blocks: list[Block], file: str) -> None:
    for b in find(blocks, "firewall address"):
        for e in b.entries.values():
            dev.addresses[e.name] = _address(e, file)
    groups: list[Entry] = [e for b in find(blocks, "firewall addrgrp") for e in b.entries.values()]
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


def _address(e: Entry, file: str) -> DevAddress:
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
        raise InputError(
            [Problem(file, e.line, f"address {e.name!r}", f"bad value: {exc}")]
        ) from None
    value = " ".join(e.values(kind) or e.values("fqdn") or e.values("country"))
    return DevAddress(
        e.name, e.line, unsupported=f"type {kind} {value}".strip() + " has no fixed L3 meaning"
    )


def _services(dev: DeviceConfig, blocks: list[Block], file: str) -> None:
    for b in find(blocks, "firewall service custom"):
        for e in b.entries.values():
            dev.services[e.name] = _service(e, file)
    for b in find(blocks, "firewall service group"):
        for e in b.entries.values():
            dev.services[e.name] = DevService(e.name, e.line, members=tuple(e.values("member")))


def _service(e: Entry, file: str) -> DevService:
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
        number = int(e.get("protocol-number", "0"))
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
        raise InputError(
            [Problem(file, e.line, f"service {e.name!r}", f"bad port range: {exc}")]
        ) from None
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
    if p.get("schedule", "always") != "always":
        rule.approximated.append(
            f"schedule {p.get('schedule')!r} ignored: always active in the twin"
        )
    if action == "ipsec":
        rule.approximated.append("action ipsec imported as accept (no tunnel in the twin)")
    for key in ("users", "groups", "fsso-groups"):
        if p.values(key):
            rule.unsupported = f"{key} {', '.join(p.values(key))} (the twin has no user identity)"
    if p.get("internet-service") == "enable":
        rule.unsupported = "internet-service (a vendor-maintained address database)"
    if "ALL" in rule.services and not rule.negate_service:
        rule.services = [ANY]
    for side in ("source", "destination"):
        refs = getattr(rule, side)
        if "all" in refs and "all" not in dev.addresses:
            setattr(rule, side, [ANY])
    return rule
