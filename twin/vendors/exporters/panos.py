"""A twin policy as PAN-OS configuration: XML (one vsys) and the equivalent `set` commands.

The XML tree is built once; the `set` commands are that tree walked, so both say the same.
Zones are layer-3 interfaces `ethernet1/N` carrying the zone's gateway address. PAN-OS service
objects carry tcp/udp only, so ICMP is the `icmp` application: a twin rule matching both ports
and ICMP becomes two adjacent rules (`<name>` and `<name>-icmp`), which decide the same flows;
ICMPv6 is the `ipv6-icmp` application (`<name>-icmp6`). A zone's IPv6 gateway sits on the same
interface (`layer3/ipv6`); addresses of either family are `ip-netmask` objects.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from twin.policy.model import ANY, INTERZONE_DEFAULT, INTRAZONE_DEFAULT, Action
from twin.policy.resolve import range_text
from twin.vendors.device import APPLICATION_DEFAULT
from twin.vendors.exporters.view import View, XRule

ACTIONS = {Action.allow: "allow", Action.deny: "deny", Action.reject: "reset-both"}
ICMP6_APP = "ipv6-icmp"
MAX_NAME = 63


def to_xml(v: View, source: str, rules_only: bool = False) -> str:
    root = tree(v, rules_only)
    ET.indent(root, space="  ")
    head = '<?xml version="1.0"?>\n'
    head += f"<!-- PAN-OS configuration exported by twin from {_safe(source)} -->\n"
    return head + ET.tostring(root, encoding="unicode") + "\n"


def to_set(v: View, source: str, rules_only: bool = False) -> str:
    root = tree(v, rules_only)
    device = root.find("devices/entry")
    assert device is not None
    lines = [f"# PAN-OS set commands exported by twin from {source} (single vsys)."]
    for part in device:
        if part.tag == "vsys":
            vsys = part.find("entry")
            assert vsys is not None
            for child in vsys:
                lines.extend(_walk(child, []))
        else:
            lines.extend(_walk(part, []))
    return "\n".join(lines) + "\n"


def tree(v: View, rules_only: bool = False) -> ET.Element:
    """The configuration; `rules_only`: objects and rules, no hostname, interface or zone
    (loaded into a device, it changes its policy and nothing else; the zones must exist)."""
    config = ET.Element("config", {"version": "10.2.0"})
    device = _sub(ET.SubElement(config, "devices"), "entry", name="localhost.localdomain")
    if not rules_only:
        system = ET.SubElement(ET.SubElement(device, "deviceconfig"), "system")
        ET.SubElement(system, "hostname").text = v.lab
        interfaces = ET.SubElement(ET.SubElement(device, "network"), "interface")
        eth = ET.SubElement(interfaces, "ethernet")
        for z in v.zones:
            layer3 = ET.SubElement(_sub(eth, "entry", name=_iface(z.index)), "layer3")
            if z.subnet is not None:
                ip = ET.SubElement(layer3, "ip")
                _sub(ip, "entry", name=f"{z.gateway}/{z.subnet.prefixlen}")
            if z.subnet6 is not None:
                ipv6 = ET.SubElement(layer3, "ipv6")
                ET.SubElement(ipv6, "enabled").text = "yes"
                address = ET.SubElement(ipv6, "address")
                _sub(address, "entry", name=f"{z.gateway6}/{z.subnet6.prefixlen}")
    vsys = _sub(ET.SubElement(device, "vsys"), "entry", name="vsys1")
    if not rules_only:
        zones = ET.SubElement(vsys, "zone")
        for z in v.zones:
            layer3 = ET.SubElement(
                ET.SubElement(_sub(zones, "entry", name=z.name), "network"), "layer3"
            )
            _members(layer3, [_iface(z.index)])
    if v.addresses:
        addresses = ET.SubElement(vsys, "address")
        for name, net in v.addresses.items():
            ET.SubElement(_sub(addresses, "entry", name=name), "ip-netmask").text = str(net)
    if v.address_groups:
        groups = ET.SubElement(vsys, "address-group")
        for name, members in v.address_groups.items():
            _members(ET.SubElement(_sub(groups, "entry", name=name), "static"), members)
    if v.services:
        services = ET.SubElement(vsys, "service")
        for name, pr in v.services.items():
            entry = _sub(services, "entry", name=name)
            proto = ET.SubElement(ET.SubElement(entry, "protocol"), pr.proto)
            ET.SubElement(proto, "port").text = range_text(pr.lo, pr.hi)
    if v.service_groups:
        groups = ET.SubElement(vsys, "service-group")
        for name, members in v.service_groups.items():
            _members(ET.SubElement(_sub(groups, "entry", name=name), "members"), members)
    rulebase = ET.SubElement(vsys, "rulebase")
    rules = ET.SubElement(ET.SubElement(rulebase, "security"), "rules")
    taken: set[str] = set()
    for r in v.rules:
        if r.services is None or r.services:
            _rule(rules, r, _name(r.name, taken), r.services, [ANY])
        if r.icmp:
            _rule(rules, r, _name(r.name + "-icmp", taken), [APPLICATION_DEFAULT], ["icmp"])
        if r.icmp6:
            _rule(rules, r, _name(r.name + "-icmp6", taken), [APPLICATION_DEFAULT], [ICMP6_APP])
    defaults = ET.SubElement(ET.SubElement(rulebase, "default-security-rules"), "rules")
    for name, action in ((INTRAZONE_DEFAULT, v.intrazone), (INTERZONE_DEFAULT, v.interzone)):
        d = _sub(defaults, "entry", name=name)
        ET.SubElement(d, "action").text = ACTIONS[action]
        ET.SubElement(d, "log-end").text = "yes"
    return config


def _rule(
    rules: ET.Element, r: XRule, name: str, services: list[str] | None, apps: list[str]
) -> None:
    e = _sub(rules, "entry", name=name)
    _members(ET.SubElement(e, "from"), r.from_)
    _members(ET.SubElement(e, "to"), r.to)
    _members(ET.SubElement(e, "source"), r.source or [ANY])
    _members(ET.SubElement(e, "destination"), r.destination or [ANY])
    _members(ET.SubElement(e, "application"), apps)
    _members(ET.SubElement(e, "service"), services or [ANY])
    ET.SubElement(e, "action").text = ACTIONS[r.action]
    ET.SubElement(e, "log-end").text = "yes" if r.log else "no"
    if r.disabled:
        ET.SubElement(e, "disabled").text = "yes"
    if r.description:
        ET.SubElement(e, "description").text = r.description[:1024]


def _walk(el: ET.Element, path: list[str]) -> list[str]:
    """One element → its `set` commands (entries are names, members are `[ … ]` lists)."""
    here = [*path, el.tag]
    if el.tag == "entry":
        here = [*path, _quote(el.get("name", ""))]
    kids = list(el)
    if not kids:
        if el.tag == "entry":
            return ["set " + " ".join(here)]
        return [f"set {' '.join(here)} {_quote(el.text or '')}"] if el.text else []
    if all(k.tag == "member" for k in kids):
        values = [_quote(k.text or "") for k in kids]
        tail = values[0] if len(values) == 1 else "[ " + " ".join(values) + " ]"
        return [f"set {' '.join(here)} {tail}"]
    return [line for k in kids for line in _walk(k, here)]


def _quote(text: str) -> str:
    if text and all(c.isalnum() or c in "-_./:" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _name(name: str, taken: set[str]) -> str:
    out, n = name[:MAX_NAME], 1
    while out in taken:
        n += 1
        out = f"{name[: MAX_NAME - len(str(n)) - 1]}-{n}"
    taken.add(out)
    return out


def _iface(index: int) -> str:
    return f"ethernet1/{index}"


def _sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, attrs)


def _members(parent: ET.Element, values: list[str]) -> None:
    for value in values:
        ET.SubElement(parent, "member").text = value


def _safe(text: str) -> str:
    return text.replace("--", "- -")
