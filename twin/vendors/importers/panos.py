"""PAN-OS running configuration (XML, `set`, or the CLI's brace format) → `DeviceConfig`.

Read: interfaces' layer-3 addresses, zones (their interfaces), address objects (ip-netmask,
ip-range; IPv6 kept apart; fqdn, wildcard, regions, external dynamic lists kept as unsupported),
static address groups (nested), service objects and groups, custom applications (their default
ports), application groups and filters, destination NAT rules, security rules in rulebase order
and the default-rule overrides. Panorama: shared objects and rules, device groups (with their
parents), zones from templates; a firewall's Panorama-pushed rules (`panorama` scope). Rule
order: shared pre-rules, ancestors' and the device group's pre-rules, local rules, post-rules
back up to shared post-rules. One vsys (or device group) is read; `--vsys` picks it (else the
first with rules, reported).
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET

from twin.errors import InputError, Problem
from twin.policy.model import ANY, Action
from twin.vendors.device import (
    Approx,
    DevDefault,
    DeviceConfig,
    DevInterface,
    DevNat,
    DevRule,
    DevZone,
)
from twin.vendors.importers.panos_brace import looks_like_braces, parse_braces
from twin.vendors.importers.panos_objects import read_objects
from twin.vendors.importers.panos_set import parse_set
from twin.vendors.importers.xmltree import line, members, parse_xml, text
from twin.vendors.report import Kind, Note

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
UNSUPPORTED_MATCH = ("source-user", "category", "source-hip", "destination-hip", "source-imei")


def parse_panos(text_: str, file: str, vsys: str | None = None) -> DeviceConfig:
    stripped = text_.lstrip()
    if stripped.startswith("<"):
        root = parse_xml(text_, file)
    elif looks_like_braces(stripped):
        root = parse_braces(text_, file)
    else:
        root = parse_set(text_, file)
        if root.find("*") is None:
            raise InputError(
                [Problem(file, None, "", "no PAN-OS configuration found", _FORMAT_HINT)]
            )
    config = root if root.tag == "config" else root.find(".//config")
    if config is None:
        config = root  # e.g. `show config pushed-shared-policy`: <policy><panorama>…
    return _Reader(config, file).read(vsys)


_FORMAT_HINT = "expected `show config running` (XML, set, or the CLI's brace format)"


class _Reader:
    def __init__(self, config: ET.Element, file: str) -> None:
        self.config = config
        self.file = file
        self.dev = DeviceConfig(VENDOR, file)
        self.dev.hostname = text(config, ".//deviceconfig/system/hostname")

    def read(self, vsys: str | None) -> DeviceConfig:
        scope = self._scope(vsys)
        shared = self.config.find("shared")
        pushed = next(  # Panorama-pushed rules (show config pushed-shared-policy / merged)
            (
                p
                for p in self.config.iter("panorama")
                if p.find("pre-rulebase") is not None or p.find("post-rulebase") is not None
            ),
            None,
        )
        chain = self._ancestors(scope)
        scopes = [s for s in (shared, pushed, *chain, scope) if s is not None]
        for s in dict.fromkeys(scopes):  # shared first: a closer object of the same name wins
            read_objects(self.dev, s)
        self._interfaces()
        self._zones(scope)
        order: list[tuple[ET.Element | None, str]] = [
            (shared, "pre-rulebase"),
            (pushed, "pre-rulebase"),
            *((a, "pre-rulebase") for a in chain),
            (scope, "pre-rulebase"),
            (scope, "rulebase"),
            (scope, "post-rulebase"),
            *((a, "post-rulebase") for a in reversed(chain)),
            (pushed, "post-rulebase"),
            (shared, "post-rulebase"),
        ]
        seen: set[tuple[int, str]] = set()
        for where, base in order:
            if where is None or (id(where), base) in seen:
                continue
            seen.add((id(where), base))
            if where.find(f"{base}/security") is not None or (
                where.find(f"{base}/default-security-rules") is not None
            ):
                self.dev.has_policy = True
            for r in where.findall(f"{base}/security/rules/entry"):
                self.dev.rules.append(self._rule(r))
            for n in where.findall(f"{base}/nat/rules/entry"):
                self.dev.nat.extend(self._nat(n))
        for base in ("rulebase", "post-rulebase"):
            for d in [
                *(
                    s
                    for a in (shared, *chain, scope)
                    if a is not None
                    for s in a.findall(f"{base}/default-security-rules/rules/entry")
                )
            ]:
                action = text(d, "action")
                if action in ACTIONS:
                    default = DevDefault(ACTIONS[action], line(d))
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
        parents = {text(e, "parent-dg") for e in c.findall(".//readonly//device-group/entry")}
        leaves = [e for e in with_rules if e.get("name") not in parents]
        with_rules = leaves or with_rules  # a child device group inherits its parents' rules
        if len(with_rules) > 1:
            names = ", ".join(e.get("name", "") for e in with_rules)
            self.dev.notes.append(
                Note(
                    Kind.assumed,
                    f"vsys {with_rules[0].get('name', '')!r}",
                    f"{len(with_rules)} vsys/device groups have rules ({names}); this import is "
                    "of the first — pick another with --vsys NAME",
                    line(with_rules[0]),
                )
            )
        if with_rules:
            return with_rules[0]
        if c.find("rulebase") is not None or c.find("zone") is not None or not candidates:
            return c  # single-vsys set format: everything at the top
        return candidates[0]

    def _ancestors(self, scope: ET.Element) -> list[ET.Element]:
        """A device group's parents, the farthest first (Panorama's readonly hierarchy)."""
        groups = {
            e.get("name", ""): e
            for e in self.config.iter("entry")
            if e.find("pre-rulebase") is not None or e.find("post-rulebase") is not None
        }
        parent_of: dict[str, str] = {}
        for e in self.config.findall(".//readonly//device-group/entry"):
            p = text(e, "parent-dg")
            if p:
                parent_of[e.get("name", "")] = p
        chain: list[ET.Element] = []
        name = scope.get("name", "")
        while name in parent_of and len(chain) < 16:
            name = parent_of[name]
            if name in groups:
                chain.insert(0, groups[name])
        return chain

    def _zones(self, scope: ET.Element) -> None:
        found = scope.findall("zone/entry")
        if not found:  # Panorama: zones live in templates
            found = self.config.findall(".//template/entry/config//vsys/entry/zone/entry")
            found += self.config.findall(".//template-stack/entry/config//vsys/entry/zone/entry")
        for z in found:
            name = z.get("name", "")
            net = z.find("network")
            ifaces = [
                m for kind in (net if net is not None else []) for m in members(net, kind.tag)
            ]
            self.dev.zones.setdefault(name, DevZone(name, ifaces, line(z)))

    # --- objects ---------------------------------------------------------------------------

    def _interfaces(self) -> None:
        for iface in self.config.iter("interface"):
            for e in iface.iter("entry"):
                ips = [*e.findall("layer3/ip/entry"), *e.findall("ip/entry")]
                ips += [*e.findall("layer3/ipv6/address/entry"), *e.findall("ipv6/address/entry")]
                addrs: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = []
                for ip in ips:
                    value = ip.get("name", "")
                    obj = self.dev.addresses.get(value)
                    if obj is not None and len(obj.networks) == 1:
                        value = text_of_object(self.config, value) or value
                    try:
                        addrs.append(ipaddress.ip_interface(value))
                    except ValueError:
                        continue  # an unresolvable object: no zone subnet from it
                if addrs:
                    name = e.get("name", "")
                    self.dev.interfaces[name] = DevInterface(name, addrs, line(e))

    # --- rules -----------------------------------------------------------------------------

    def _rule(self, r: ET.Element) -> DevRule:
        name = r.get("name", "")
        action = text(r, "action", "allow")  # a rule without one allows (the schema's default)
        rule = DevRule(
            name=name,
            line=line(r),
            from_=members(r, "from", [ANY]),
            to=members(r, "to", [ANY]),
            action=ACTIONS.get(action, Action.deny),
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
        if action not in ACTIONS:
            rule.unsupported = f"action {action!r}"
        schedule = text(r, "schedule")
        if schedule:
            rule.approximated.append(
                Approx(
                    f"schedule {schedule!r}: the device applies it only then; always in the twin"
                )
            )
        for key in UNSUPPORTED_MATCH:
            values = members(r, key, [ANY])
            if values not in ([ANY], ["any"]):
                rule.unsupported = f"{key} {', '.join(values)} (the twin matches L3/L4 only)"
        if rule.rule_type not in ("universal", "intrazone", "interzone"):
            rule.unsupported = f"unknown rule-type {rule.rule_type!r}"
        return rule

    def _nat(self, n: ET.Element) -> list[DevNat]:
        """Destination NAT (and the reverse of a bi-directional static source NAT)."""
        out: list[DevNat] = []
        base = {
            "name": n.get("name", ""),
            "line": line(n),
            "from_": members(n, "from", [ANY]),
            "disabled": text(n, "disabled") == "yes",
        }
        dt = n.find("destination-translation")
        if dt is None:
            dt = n.find("dynamic-destination-translation")
        if dt is not None:
            port = text(dt, "translated-port")
            translated = members(dt, "translated-address")
            nat = DevNat(
                **base,  # type: ignore[arg-type]
                source=members(n, "source", [ANY]),
                destination=members(n, "destination", [ANY]),
                service=text(n, "service", ANY),
                translated=translated,
                translated_port=int(port) if port.isdigit() else None,
            )
            if dt.find("dns-rewrite") is not None or not translated:
                nat.unsupported = "no fixed translated address"
            out.append(nat)
        st = n.find("source-translation/static-ip")
        if st is not None and text(st, "bi-directional") == "yes":
            out.append(
                DevNat(
                    **{**base, "from_": [ANY]},  # type: ignore[arg-type]
                    source=[ANY],
                    destination=members(st, "translated-address"),
                    service=ANY,
                    translated=members(n, "source", [ANY]),
                )
            )
        return [x for x in out if ANY not in x.translated]


def text_of_object(config: ET.Element, name: str) -> str:
    for a in config.iter("entry"):
        if a.get("name") == name and a.find("ip-netmask") is not None:
            return text(a, "ip-netmask")
    return ""
