"""FortiGate configuration (a full backup, `show full-configuration`) → `DeviceConfig`.

Read: `system interface` addresses (and secondary IPs; under `config global` on a multi-VDOM
unit, those of the chosen VDOM), `system zone` (members, intrazone), `firewall address`
(ipmask, iprange, interface-subnet; fqdn, geography, wildcard, dynamic are kept as unsupported),
`address6`/`addrgrp6`, `addrgrp` (nested, with exclude-member), `vip` and
`vipgrp` (destination NAT: a policy naming a VIP is tested against its mapped server), `service
custom` (tcp/udp ranges, ICMP, IP protocol), `service group`, and `firewall policy` (and the old
`policy6`) in list order, not by id. A policy names interfaces or zones; an interface outside
every zone is its own twin zone. Defaults: the implicit deny, both interzone and intrazone; a
zone's `intrazone allow` becomes a rule after every policy. Several VDOMs: `--vdom` picks one
(else the first with policies, reported).

IPv6: interfaces' `ip6-address`; a FortiOS 6.4+ policy matches IPv4 flows where both srcaddr and
dstaddr are set and IPv6 flows where both srcaddr6 and dstaddr6 are (a `policy6` entry: IPv6
only). On a device with IPv6 (an interface address or a policy's IPv6 part) a rule's sides list
both families' addresses, and `all` is spelled per family (0.0.0.0/0, ::/0), since the twin's
any covers both.
"""

from __future__ import annotations

import ipaddress

from twin.errors import InputError, Problem
from twin.policy.model import ANY, Action
from twin.vendors.device import Approx, DevDefault, DeviceConfig, DevInterface, DevRule, DevZone
from twin.vendors.importers.fortigate_objects import (
    read_addresses,
    read_addresses6,
    read_services,
    read_vips,
)
from twin.vendors.importers.fortios import Block, Entry, find, parse_fortios
from twin.vendors.report import Kind, Note

VENDOR = "FortiGate"
WHOLE6 = ipaddress.IPv6Network("::/0")


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
    read_addresses(dev, blocks)
    read_vips(dev, blocks)
    read_addresses6(dev, blocks)
    read_services(dev, blocks)
    zone_of: dict[str, str] = {}
    for b in find(blocks, "system zone"):
        for z in b.entries.values():
            members = z.values("interface")
            action = Action.allow if z.get("intrazone", "deny") == "allow" else Action.deny
            dev.zones[z.name] = DevZone(z.name, members, z.line, action)
            zone_of.update(dict.fromkeys(members, z.name))
    sides: list[Sides] = []
    for b in find(blocks, "firewall policy"):
        dev.has_policy = True
        for p in b.entries.values():
            dev.rules.append(_policy(dev, p, zone_of))
            sides.append(_sides(dev, p, dev.rules[-1], v6_only=False))
    for b in find(blocks, "firewall policy6"):
        dev.has_policy = True
        for p in b.entries.values():
            dev.rules.append(_policy(dev, p, zone_of, v6_only=True))
            sides.append(_sides(dev, p, dev.rules[-1], v6_only=True))
    dual = any(
        a.version == 6 for i in dev.interfaces.values() for a in i.addresses
    ) or any(s6 for _, _, s6, _ in sides)  # fmt: skip
    for rule, (src4, dst4, src6, dst6) in zip(dev.rules, sides, strict=True):
        if dual:
            rule.source = _families(dev, src4, src6)
            rule.destination = _families(dev, dst4, dst6)
    return dev


Sides = tuple[list[str], list[str], list[str], list[str]]  # srcaddr, dstaddr, srcaddr6, dstaddr6


def _sides(dev: DeviceConfig, p: Entry, rule: DevRule, v6_only: bool) -> Sides:
    """A policy's addresses per family: a family it matches has both sides (else none)."""
    if v6_only:  # `policy6`: srcaddr and dstaddr are IPv6 names
        src6, dst6 = p.values("srcaddr") or ["all"], p.values("dstaddr") or ["all"]
        return [], [], [dev.names6.get(r, r) for r in src6], [dev.names6.get(r, r) for r in dst6]
    src4, dst4 = p.values("srcaddr"), p.values("dstaddr")
    src6, dst6 = p.values("srcaddr6"), p.values("dstaddr6")
    if not (src4 and dst4):
        src4 = dst4 = []
    if not (src6 and dst6):
        src6 = dst6 = []
    if (src6 or dst6) and (rule.negate_source or rule.negate_destination):
        rule.unsupported = "negated addresses with an IPv6 part"
    return src4, dst4, [dev.names6.get(r, r) for r in src6], [dev.names6.get(r, r) for r in dst6]


def _families(dev: DeviceConfig, v4: list[str], v6: list[str]) -> list[str]:
    """One side of a dual-stack rule: `all` of a family is that family's whole space; both
    families' `all` are the twin's any."""
    v4_all = any(r == "all" or (r in dev.addresses and dev.addresses[r].any) for r in v4)
    v6_all = any(_whole6(dev, r) for r in v6)
    if v4_all and v6_all:
        return [ANY]
    out = ["0.0.0.0/0"] if v4_all else list(v4)
    return out + (["::/0"] if v6_all else list(v6))


def _whole6(dev: DeviceConfig, ref: str) -> bool:
    """Is an IPv6 reference all of IPv6 (`all`, whether the file defines it or not)?"""
    if "all" not in dev.names6:
        return ref == "all"
    obj = dev.addresses.get(ref)
    return ref == dev.names6["all"] and obj is not None and obj.networks == (WHOLE6,)


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


def _ip6(entry: Entry) -> list[ipaddress.IPv6Interface]:
    """An interface's IPv6 addresses (`config ipv6`: ip6-address, ip6-extra-addr)."""
    out: list[ipaddress.IPv6Interface] = []
    block = entry.blocks.get("ipv6")
    if block is None:
        return out
    values = block.settings.values("ip6-address")
    values += [e.name for b in block.settings.blocks.values() for e in b.entries.values()]
    for v in values:
        try:
            iface = ipaddress.IPv6Interface(v)
        except ValueError:
            continue
        if iface.ip != ipaddress.IPv6Address(0):
            out.append(iface)
    return out


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
            addrs: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = []
            for entry in (e, *(s for blk in e.blocks.values() for s in blk.entries.values())):
                try:
                    ip = _ip(entry.values("ip"))
                except ValueError:
                    continue  # not an IPv4 interface address: no zone subnet from it
                if ip is not None:
                    addrs.append(ip)
            addrs.extend(_ip6(e))
            dev.interfaces[e.name] = DevInterface(e.name, addrs, e.line)


def _policy(dev: DeviceConfig, p: Entry, zone_of: dict[str, str], v6_only: bool = False) -> DevRule:
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
    if not v6_only:
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
    one with neither pair complete matches nothing."""
    v6 = bool(p.values("srcaddr6")) and bool(p.values("dstaddr6"))
    v4 = bool(p.values("srcaddr")) and bool(p.values("dstaddr"))
    if (
        not v4
        and not v6
        and p.get("internet-service") != "enable"
        and p.get("internet-service-src") != "enable"
    ):
        missing = [k for k in ("srcaddr", "dstaddr") if not p.values(k)]
        rule.unsupported = f"no {' and no '.join(missing)}: FortiOS matches nothing without them"
