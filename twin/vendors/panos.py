"""PAN-OS running configuration (XML, or `set` format) → `DeviceConfig`.

Read: interfaces' layer-3 addresses, zones (layer3 members), address objects (ip-netmask,
ip-range; fqdn/wildcard/IPv6 are kept as unsupported), static address groups (nested), service
objects and groups, application groups, security rules in rulebase order (shared pre-rules,
device-group/vsys pre-rules, local rules, post-rules, shared post-rules) and the default-rule
overrides. One vsys (or device group) is read; `--vsys` picks it when there are several.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET

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
from twin.vendors.netsets import range_to_nets
from twin.vendors.panos_set import parse_set
from twin.vendors.xmltree import line, members, parse_xml, text

VENDOR = "PAN-OS"
ACTIONS = {
    "allow": Action.allow,
    "deny": Action.deny,
    "drop": Action.deny,
    "reset-client": Action.reject,
    "reset-server": Action.reject,
    "reset-both": Action.reject,
}
# Rule fields twin cannot express: a rule using one (with a value other than any) is skipped.
UNSUPPORTED_MATCH = ("source-user", "category", "source-hip", "destination-hip")


def parse_panos(text_: str, file: str, vsys: str | None = None) -> DeviceConfig:
    stripped = text_.lstrip()
    root = parse_xml(text_, file) if stripped.startswith("<") else parse_set(text_, file)
    if not stripped.startswith("<") and root.find("*") is None:
        raise InputError([Problem(file, None, "", "no PAN-OS configuration found", _FORMAT_HINT)])
    config = root if root.tag == "config" else root.find(".//config")
    if config is None:
        raise InputError([Problem(file, line(root), "", "no <config> element", _FORMAT_HINT)])
    return _Reader(config, file).read(vsys)


_FORMAT_HINT = "expected `show config running` as XML, or `set cli config-output-format set`"


class _Reader:
    def __init__(self, config: ET.Element, file: str) -> None:
        self.config = config
        self.file = file
        self.dev = DeviceConfig(VENDOR, file)
        self.dev.hostname = text(config, ".//deviceconfig/system/hostname")

    def read(self, vsys: str | None) -> DeviceConfig:
        scope = self._scope(vsys)
        shared = self.config.find("shared")
        scopes = [s for s in (shared, scope) if s is not None]
        for s in scopes:  # shared first: a vsys object of the same name overrides it
            self._objects(s)
        self._interfaces()
        for z in scope.findall("zone/entry"):
            name = z.get("name", "")
            ifaces = members(z, "network/layer3")
            self.dev.zones[name] = DevZone(name, ifaces, line(z))
        order: list[tuple[ET.Element | None, str]] = [
            (shared, "pre-rulebase"),
            (scope, "pre-rulebase"),
            (scope, "rulebase"),
            (scope, "post-rulebase"),
            (shared, "post-rulebase"),
        ]
        for where, base in order:
            if where is None:
                continue
            for r in where.findall(f"{base}/security/rules/entry"):
                self.dev.rules.append(self._rule(r))
        for base in ("rulebase", "post-rulebase"):
            for d in scope.findall(f"{base}/default-security-rules/rules/entry"):
                action = text(d, "action")
                if action:
                    default = DevDefault(self._action(action, d), line(d))
                    if d.get("name") == "interzone-default":
                        self.dev.interzone = default
                    elif d.get("name") == "intrazone-default":
                        self.dev.intrazone = default
        return self.dev

    def _scope(self, vsys: str | None) -> ET.Element:
        c = self.config
        candidates = [
            *c.findall("devices/entry/vsys/entry"),
            *c.findall("vsys/entry"),
            *c.findall("devices/entry/device-group/entry"),
            *c.findall("device-group/entry"),
        ]
        if vsys is not None:
            for e in candidates:
                if e.get("name") == vsys:
                    return e
            known = ", ".join(e.get("name", "") for e in candidates) or "none"
            raise InputError(
                [
                    Problem(
                        self.file, None, "", f"no vsys or device group {vsys!r}", f"known: {known}"
                    )
                ]
            )
        with_rules = [e for e in candidates if e.find(".//security/rules/entry") is not None]
        if len(with_rules) > 1:
            names = ", ".join(e.get("name", "") for e in with_rules)
            raise InputError(
                [
                    Problem(
                        self.file,
                        line(with_rules[1]),
                        "",
                        f"{len(with_rules)} vsys/device groups have rules ({names})",
                        "pick one with --vsys NAME",
                    )
                ]
            )
        if with_rules:
            return with_rules[0]
        if c.find("rulebase") is not None or c.find("zone") is not None or not candidates:
            return c  # single-vsys set format: everything at the top
        return candidates[0]

    # --- objects ---------------------------------------------------------------------------

    def _objects(self, s: ET.Element) -> None:
        for a in s.findall("address/entry"):
            self.dev.addresses[a.get("name", "")] = self._address(a)
        for g in s.findall("address-group/entry"):
            name = g.get("name", "")
            if g.find("static") is not None:
                self.dev.addresses[name] = DevAddress(
                    name, line(g), members=tuple(members(g, "static"))
                )
            else:
                self.dev.addresses[name] = DevAddress(
                    name, line(g), unsupported="dynamic address group (tag match at run time)"
                )
        for sv in s.findall("service/entry"):
            self.dev.services[sv.get("name", "")] = self._service(sv)
        for g in s.findall("service-group/entry"):
            name = g.get("name", "")
            self.dev.services[name] = DevService(
                name, line(g), members=tuple(members(g, "members"))
            )
        for g in s.findall("application-group/entry"):
            self.dev.app_groups[g.get("name", "")] = members(g, "members") or members(g, ".")

    def _address(self, a: ET.Element) -> DevAddress:
        name, n = a.get("name", ""), line(a)
        try:
            if a.find("ip-netmask") is not None:
                value = text(a, "ip-netmask")
                if ":" in value:
                    return DevAddress(name, n, unsupported=f"IPv6 {value} (the twin is IPv4)")
                return DevAddress(name, n, (ipaddress.IPv4Network(value, strict=False),))
            if a.find("ip-range") is not None:
                value = text(a, "ip-range")
                if ":" in value:
                    return DevAddress(name, n, unsupported=f"IPv6 range {value}")
                first, _, last = value.partition("-")
                return DevAddress(name, n, tuple(range_to_nets(first.strip(), last.strip())))
        except ValueError as exc:
            raise InputError(
                [Problem(self.file, n, f"address {name!r}", f"bad value: {exc}", "")]
            ) from None
        for kind in ("fqdn", "ip-wildcard"):
            if a.find(kind) is not None:
                value = text(a, kind)
                return DevAddress(name, n, unsupported=f"{kind} {value} has no fixed L3 meaning")
        return DevAddress(name, n, unsupported="no ip-netmask or ip-range")

    def _service(self, sv: ET.Element) -> DevService:
        name, n = sv.get("name", ""), line(sv)
        for proto in ("tcp", "udp"):
            p = sv.find(f"protocol/{proto}")
            if p is None:
                continue
            ports = text(p, "port")
            try:
                ranges = tuple(_ports(proto, ports))
            except ValueError as exc:
                raise InputError(
                    [Problem(self.file, n, f"service {name!r}", f"bad port {ports!r}: {exc}", "")]
                ) from None
            src = text(p, "source-port")
            approx = f"source port {src} not enforced by the twin" if src else ""
            return DevService(name, n, ranges, approximated=approx)
        if sv.find("protocol/sctp") is not None:
            return DevService(name, n, unsupported="SCTP (the twin probes tcp, udp, icmp)")
        return DevService(name, n, unsupported="no tcp or udp protocol")

    def _interfaces(self) -> None:
        for iface in self.config.iter("interface"):
            for e in iface.iter("entry"):
                ips = [*e.findall("layer3/ip/entry"), *e.findall("ip/entry")]
                addrs = []
                for ip in ips:
                    value = ip.get("name", "")
                    obj = self.dev.addresses.get(value)
                    if obj is not None and len(obj.networks) == 1:
                        value = text_of_object(self.config, value) or value
                    try:
                        addrs.append(ipaddress.IPv4Interface(value))
                    except ValueError:
                        continue  # IPv6 or an unresolvable object: no zone subnet from it
                if addrs:
                    name = e.get("name", "")
                    self.dev.interfaces[name] = DevInterface(name, addrs, line(e))

    # --- rules -----------------------------------------------------------------------------

    def _rule(self, r: ET.Element) -> DevRule:
        name = r.get("name", "")
        rule = DevRule(
            name=name,
            line=line(r),
            from_=members(r, "from", [ANY]),
            to=members(r, "to", [ANY]),
            action=self._action(text(r, "action", "allow"), r),
            source=members(r, "source", [ANY]),
            destination=members(r, "destination", [ANY]),
            services=members(r, "service", [ANY]),
            applications=members(r, "application", [ANY]),
            negate_source=text(r, "negate-source") == "yes",
            negate_destination=text(r, "negate-destination") == "yes",
            log=text(r, "log-end", "yes") == "yes",
            disabled=text(r, "disabled") == "yes",
            rule_type=text(r, "rule-type", "universal"),
            description=text(r, "description"),
        )
        schedule = text(r, "schedule")
        if schedule:
            rule.approximated.append(f"schedule {schedule!r} ignored: always active in the twin")
        for key in UNSUPPORTED_MATCH:
            values = members(r, key, [ANY])
            if values not in ([ANY], ["any"]):
                rule.unsupported = f"{key} {', '.join(values)} (the twin matches L3/L4 only)"
        if rule.rule_type not in ("universal", "intrazone", "interzone"):
            rule.unsupported = f"unknown rule-type {rule.rule_type!r}"
        return rule

    def _action(self, value: str, el: ET.Element) -> Action:
        if value not in ACTIONS:
            raise InputError(
                [
                    Problem(
                        self.file,
                        line(el),
                        f"rule {el.get('name', '')!r}",
                        f"unknown action {value!r}",
                        f"one of {', '.join(ACTIONS)}",
                    )
                ]
            )
        return ACTIONS[value]


def text_of_object(config: ET.Element, name: str) -> str:
    for a in config.iter("entry"):
        if a.get("name") == name and a.find("ip-netmask") is not None:
            return text(a, "ip-netmask")
    return ""


def _ports(proto: str, spec: str) -> list[PortRange]:
    out = []
    for part in spec.replace(" ", "").split(","):
        lo, _, hi = part.partition("-")
        first, last = int(lo), int(hi or lo)
        if not (1 <= first <= last <= 65535):
            raise ValueError("ports are 1-65535, low-high")
        out.append(PortRange(proto, first, last))  # type: ignore[arg-type]
    return out
