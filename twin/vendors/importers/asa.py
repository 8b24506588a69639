"""Cisco ASA and Firepower Threat Defense `show running-config` → `DeviceConfig`.

Read: interfaces with a `nameif` (one zone each: its security level, its addresses), `name`
aliases, `object` / `object-group` (network, service, protocol, icmp-type; nested), extended
ACLs (`remark`, `inactive`, `log`, `time-range`, FTD `advanced` entries with `trust` and `ifc`),
`access-group` (in / out per interface, global), `same-security-traffic`, and NAT as it bears on
access rules (`asa_nat`). `asa_policy` turns the bindings into ordered rules per interface pair,
the implicit security-level rules included. Shut-down and management-only interfaces carry no
through traffic: they are reported, not modelled.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re

from twin.errors import InputError, Problem
from twin.policy.model import Action
from twin.policy.resolve import IPv4Net
from twin.vendors.device import DevDefault, DeviceConfig, DevInterface, DevZone
from twin.vendors.importers.asa_ace import Ace, parse_ace
from twin.vendors.importers.asa_lines import Cmd, read_config
from twin.vendors.importers.asa_nat import Static, mapped_note, pre83_rewrite, read_static
from twin.vendors.importers.asa_objects import AsaObjects
from twin.vendors.importers.asa_policy import Bindings, Zone, compose
from twin.vendors.report import Kind, Note

VERSION = re.compile(r"^(?:ASA|PIX) Version (\d+)\.(\d+)", re.M)
FTD = re.compile(r"^NGFW Version|^Cisco Firepower Threat Defense|CSM_FW_ACL_", re.M | re.I)


def parse_asa(text: str, file: str) -> DeviceConfig:
    cmds = read_config(text)
    ftd = bool(FTD.search(text))
    dev = DeviceConfig("Cisco FTD" if ftd else "Cisco ASA", file)
    dev.intrazone = DevDefault(Action.allow)
    dev.interzone = DevDefault(Action.deny)
    objs = AsaObjects(dev)
    b = Bindings({}, {})
    statics: list[Static] = []
    mapped: dict[IPv4Net, int] = {}
    acl_lines: list[Cmd] = []
    for cmd in cmds:
        w = cmd.words
        if w[0] == "hostname" and len(w) > 1:
            dev.hostname = w[1]
        elif w[0] in ("name", "object", "object-group"):
            objs.define(cmd)
            if w[0] == "object" and cmd.word(1) == "network":
                _object_nat(cmd, objs, mapped)
        elif w[0] == "access-list" and len(w) > 2:
            acl_lines.append(cmd)
        elif w[0] == "access-group" and len(w) > 2:
            _access_group(cmd, b, dev)
        elif w[:3] == ["same-security-traffic", "permit", "inter-interface"]:
            b.same_inter = True
        elif w[0] == "static" and len(w) > 2:
            got = read_static(cmd, objs)
            if isinstance(got, str):
                dev.notes.append(Note(Kind.assumed, "NAT", got, cmd.line))
            else:
                statics.append(got)
        elif w[:2] == ["firewall", "transparent"]:
            dev.notes.append(
                Note(Kind.assumed, "firewall", "transparent mode read as routed", cmd.line)
            )
    for cmd in cmds:
        if cmd.words[0] == "interface":
            _interface(cmd, dev, b, objs)
    if not b.zones:
        raise InputError(
            [
                Problem(
                    file,
                    None,
                    "",
                    "no security policy in this file: no interface has a nameif (ACLs decide "
                    "nothing until access-group binds them to one)",
                    "give the whole `show running-config` of the ASA or FTD",
                )
            ]
        )
    _acls(acl_lines, b, objs, dev, statics if _pre83(text, statics) else [], mapped)
    dev.has_policy = True
    dev.rules = compose(b)
    return dev


def _pre83(text: str, statics: list[Static]) -> bool:
    m = VERSION.search(text)
    if m is not None:
        return (int(m.group(1)), int(m.group(2))) < (8, 3)
    return bool(statics)


def _interface(cmd: Cmd, dev: DeviceConfig, b: Bindings, objs: AsaObjects) -> None:
    nameif, level, off = "", None, ""
    addrs: list[ipaddress.IPv4Interface] = []
    for sub in cmd.children:
        w = sub.words
        if w[0] == "nameif" and len(w) > 1:
            nameif = w[1]
        elif w[0] == "security-level" and len(w) > 1 and w[1].isdigit():
            level = int(w[1])
        elif w[:2] == ["ip", "address"] and len(w) > 3 and w[3].count(".") == 3:
            ip = objs.alias(w[2])
            with contextlib.suppress(ValueError):  # a later `ip address` replaces it
                addrs = [ipaddress.IPv4Interface(f"{ip}/{w[3]}")]
        elif w[0] in ("shutdown", "management-only"):
            off = "shut down" if w[0] == "shutdown" else "management-only"
    if not nameif:
        return
    if off:
        dev.notes.append(
            Note(Kind.assumed, f"interface {nameif!r}", f"{off}: no through traffic, not a zone",
                 cmd.line)
        )  # fmt: skip
        return
    if level is None:
        level = 100 if nameif == "inside" else 0
    phys = cmd.words[1] if len(cmd.words) > 1 else nameif
    taken = [a.network for i in dev.interfaces.values() for a in i.addresses]
    for addr in [a for a in addrs if any(a.network.overlaps(t) for t in taken)]:
        addrs.remove(addr)
        dev.notes.append(
            Note(Kind.assumed, f"interface {nameif!r}", f"{addr} overlaps another interface's "
                 "subnet (the ASA refuses that): not used as this zone's subnet", cmd.line)
        )  # fmt: skip
    dev.interfaces[phys] = DevInterface(phys, list(addrs), cmd.line)
    dev.zones[nameif] = DevZone(nameif, [phys], cmd.line)
    b.zones[nameif] = Zone(nameif, level, cmd.line)


def _access_group(cmd: Cmd, b: Bindings, dev: DeviceConfig) -> None:
    w = cmd.words
    acl = w[1]
    if w[2] == "global":
        b.global_acl = acl
        return
    rest = w[2:]
    direction = next((x for x in rest if x in ("in", "out")), "")
    iface = rest[rest.index("interface") + 1] if "interface" in rest[:-1] else ""
    if "control-plane" in rest:
        dev.notes.append(
            Note(Kind.assumed, f"access-group {acl}", "control-plane (to the box): not modelled",
                 cmd.line)
        )  # fmt: skip
    elif direction == "in" and iface:
        b.inbound[iface] = acl
    elif direction == "out" and iface:
        b.outbound[iface] = acl


def _acls(  # noqa: PLR0917 - the reader's collected parts
    lines: list[Cmd],
    b: Bindings,
    objs: AsaObjects,
    dev: DeviceConfig,
    statics: list[Static],
    mapped: dict[IPv4Net, int],
) -> None:
    bound = {*b.inbound.values(), *b.outbound.values(), *([b.global_acl] if b.global_acl else [])}
    remark: dict[str, str] = {}
    for cmd in lines:
        name = cmd.words[1]
        if name not in bound:
            continue
        entries = b.acls.setdefault(name, [])
        if cmd.word(2) == "remark":
            remark[name] = cmd.text.split(" remark ", 1)[-1].strip()
            continue
        ace = parse_ace(cmd.words[1:], cmd.line, cmd.text, len(entries) + 1, objs)
        if ace is None:
            continue
        ace.remark = remark.pop(name, "")
        ace = _nat(ace, statics, mapped, dev)
        entries.append(ace)
    for name in sorted(bound - set(b.acls)):
        dev.notes.append(
            Note(Kind.assumed, f"access-list {name}", "bound by access-group but not defined: "
                 "its implicit deny decides")
        )  # fmt: skip


def _nat(ace: Ace, statics: list[Static], mapped: dict[IPv4Net, int], dev: DeviceConfig) -> Ace:
    if statics:
        ace, notes = pre83_rewrite(ace, statics)
        for text in notes:
            dev.notes.append(Note(Kind.rewritten, f"rule {ace.name!r}", text, ace.line))
        return ace
    note = mapped_note(ace, mapped)
    if note:
        dev.notes.append(Note(Kind.assumed, f"rule {ace.name!r}", note, ace.line))
    return ace


def _object_nat(cmd: Cmd, objs: AsaObjects, mapped: dict[IPv4Net, int]) -> None:
    """`object network X` + `nat (real,mapped) static MAPPED`: remember the mapped address."""
    for sub in cmd.children:
        w = sub.words
        if w[0] == "nat" and "static" in w:
            target = w[w.index("static") + 1] if w.index("static") + 1 < len(w) else ""
            ip = objs.alias(target)
            nets = objs.nets(target) if ip is None else [IPv4Net(f"{ip}/32")]
            for n in nets:
                mapped[n] = sub.line
