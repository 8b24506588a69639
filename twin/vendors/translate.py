"""Vendor rules and objects → twin rules and objects, exactly where possible.

Exact: address/service objects and groups, ip ranges (as CIDRs), negate-source/destination
(as the complement within the rule's zones: the twin's hosts only ever send from their zone's
subnet), rule-type (split per zone pair), disabled, log. Approximated and reported: applications
(their standard ports from `data/applications.yml`), source ports, ICMP types, service negation.
Skipped and reported: what has no safe L4 meaning (FQDN objects, unknown applications, …).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from twin.errors import Problem
from twin.objects import IPv4Net, PortRange, merge_ranges
from twin.vendors.device import ANY, APPLICATION_DEFAULT, DeviceConfig, DevRule
from twin.vendors.names import Namespace
from twin.vendors.netsets import (
    complement_ports,
    exclude,
    intersect_ports,
    range_to_nets,
)
from twin.vendors.report import ImportReport, Kind
from twin.vendors.tables import applications, predefined_services

RESERVED_RULES = {"interzone-default", "intrazone-default", "anti-spoofing", "ct-invalid"}


class Skip(Exception):
    """This rule cannot be represented safely; the message says why."""


class Never(Exception):
    """This rule can never match (e.g. negate-source of `any`)."""


@dataclass
class Translator:
    dev: DeviceConfig
    report: ImportReport
    names: Namespace  # zones, hosts, addresses
    zone_map: dict[str, str]  # vendor zone → twin zone
    zone_nets: dict[str, IPv4Net]  # twin zone → subnet
    problems: list[Problem] = field(default_factory=list)
    addresses: dict[str, list[str]] = field(default_factory=dict)
    services: dict[str, list[str]] = field(default_factory=dict)
    rules: list[dict[str, Any]] = field(default_factory=list)
    addr_map: dict[str, str] = field(default_factory=dict)
    svc_map: dict[str, str] = field(default_factory=dict)
    svc_names: Namespace = field(default_factory=lambda: Namespace({"tcp", "udp", "icmp", "any"}))
    rule_names: Namespace = field(default_factory=lambda: Namespace(set(RESERVED_RULES)))
    _svc_any: set[str] = field(default_factory=set)

    # --- rules ---------------------------------------------------------------------------

    def rule(self, r: DevRule) -> None:
        subject = f"rule {r.name!r}"
        try:
            if r.unsupported:
                raise Skip(r.unsupported)
            froms, tos = self._zones(r, r.from_), self._zones(r, r.to)
            notes: list[str] = list(r.approximated)
            src = self._side(r, r.source, r.negate_source, froms, "source")
            dst = self._side(r, r.destination, r.negate_destination, tos, "destination")
            services = self._services(r, notes)
        except Skip as why:
            extra = ""
            if r.action.value != "allow" and not r.disabled:
                extra = "; flows it blocked are decided by the rules after it in the twin"
            self.report.add(Kind.skipped, subject, f"{why}{extra}", r.line)
            return
        except Never as why:
            self.report.add(Kind.skipped, subject, f"never matches ({why})", r.line)
            return
        except _Dangling:
            return
        for note in notes:
            self.report.add(Kind.approximated, subject, note, r.line)
        pairs = self._pairs(r, froms, tos)
        if len(pairs) > 1:
            self.report.add(
                Kind.rewritten,
                subject,
                f"rule-type {r.rule_type}: one twin rule per source zone ({len(pairs)})",
                r.line,
            )
        where = f" line {r.line}" if r.line else ""
        desc = f"{self.dev.vendor} rule {r.name!r}{where}" + (
            f": {r.description}" if r.description else ""
        )
        for f, t, suffix in pairs:
            out: dict[str, Any] = {"name": self.rule_names.claim(r.name, suffix=suffix)}
            out["from"], out["to"] = f, t
            if src is not None:
                out["source"] = src
            if dst is not None:
                out["destination"] = dst
            if services is not None:
                out["services"] = services
            out["action"] = r.action.value
            out["log"] = r.log
            if r.disabled:
                out["disabled"] = True
            out["description"] = desc + ("; approximated" if notes else "")
            self.rules.append(out)

    def _zones(self, r: DevRule, refs: list[str]) -> list[str]:
        if ANY in refs:
            return [ANY]
        out = []
        for ref in refs:
            if ref not in self.zone_map:
                self._dangling(r, f"unknown zone {ref!r}", "define the zone or fix the rule")
            out.append(self.zone_map[ref])
        return out

    def _pairs(
        self, r: DevRule, froms: list[str], tos: list[str]
    ) -> list[tuple[list[str], list[str], str]]:
        every = list(self.zone_nets)
        fz = every if ANY in froms else froms
        tz = every if ANY in tos else tos
        if r.rule_type == "intrazone":
            if len(fz) == 1:
                return [(fz, fz, "")]
            return [([z], [z], f".{z}") for z in fz]
        if r.rule_type == "interzone" and set(fz) & set(tz):
            out = []
            for s in fz:
                rest = [t for t in tz if t != s]
                if rest:
                    out.append(([s], rest, f".{s}"))
            return out
        return [(froms, tos, "")]

    # --- addresses -----------------------------------------------------------------------

    def _side(
        self, r: DevRule, refs: list[str], negate: bool, zones: list[str], side: str
    ) -> list[str] | None:
        is_any = any(ref == ANY or self._is_all(ref) for ref in refs)
        if not negate:
            return None if is_any else [self._address(r, ref) for ref in refs]
        if is_any:
            raise Never(f"negate-{side} of any")
        nets = [n for ref in refs for n in self._nets(r, ref)]
        universe = [self.zone_nets[z] for z in (self.zone_nets if ANY in zones else zones)]
        rest = exclude(universe, nets)
        if not rest:
            raise Never(f"negate-{side}: its {side} covers every zone it applies to")
        name = self.names.claim(f"not-{side}.{r.name}")
        self.addresses[name] = [str(n) for n in rest]
        self.report.add(
            Kind.rewritten,
            f"rule {r.name!r}",
            f"negate-{side} written as its exact complement within its zones: address {name!r}"
            f" ({len(rest)} networks)",
            r.line,
        )
        return [name]

    def _is_all(self, ref: str) -> bool:
        obj = self.dev.addresses.get(ref)
        return obj is not None and obj.any

    def _address(self, r: DevRule, ref: str, seen: tuple[str, ...] = ()) -> str:
        """A vendor address name (registered as a twin address) or a literal → twin ref."""
        if ref in self.addr_map:
            return self.addr_map[ref]
        obj = self.dev.addresses.get(ref)
        if obj is None:
            nets = self._literal(r, ref)
            return str(nets[0]) if len(nets) == 1 else self._literal_group(ref, nets)
        if obj.unsupported:
            raise Skip(f"address {ref!r}: {obj.unsupported}")
        if obj.any:
            raise Skip(f"address {ref!r} (all) inside a group")
        if ref in seen:
            self._dangling(r, f"address group {ref!r} contains itself", " -> ".join(seen))
        if obj.members is not None:
            items = [self._address(r, m, (*seen, ref)) for m in obj.members]
        else:
            items = [str(n) for n in obj.networks]
        name = self.names.claim(ref)
        self.addresses[name] = items
        self.addr_map[ref] = name
        return name

    def _literal_group(self, ref: str, nets: list[IPv4Net]) -> str:
        name = self.names.claim("range-" + ref)
        self.addresses[name] = [str(n) for n in nets]
        self.addr_map[ref] = name
        return name

    def _literal(self, r: DevRule, ref: str) -> list[IPv4Net]:
        try:
            if "-" in ref:
                first, last = ref.split("-", 1)
                return range_to_nets(first, last)
            return [ipaddress.IPv4Network(ref, strict=False)]
        except ValueError:
            self._dangling(r, f"unknown address {ref!r}", "define the address object")
        raise AssertionError

    def _nets(self, r: DevRule, ref: str, depth: int = 0) -> list[IPv4Net]:
        obj = self.dev.addresses.get(ref)
        if depth > 32:
            self._dangling(r, f"address group {ref!r} nests too deep (a loop?)", "")
        if obj is None:
            return self._literal(r, ref)
        if obj.unsupported:
            raise Skip(f"address {ref!r}: {obj.unsupported}")
        if obj.members is None:
            return list(obj.networks)
        return [n for m in obj.members for n in self._nets(r, m, depth + 1)]

    # --- services ------------------------------------------------------------------------

    def _services(self, r: DevRule, notes: list[str]) -> list[str] | None:
        apps = self._apps(r)
        svc_any = ANY in r.services
        app_default = APPLICATION_DEFAULT in r.services
        if r.negate_service:
            if svc_any:
                raise Never("negate-service of any")
            ranges = complement_ports(self._ranges(r, r.services))
            notes.append("service negation: other IP protocols (not tcp/udp/icmp) do not match")
            return [str(x) for x in ranges]
        if not apps:
            if app_default:
                notes.append("application any with service application-default: every port")
            if svc_any or app_default:
                return None
            refs = [self._service(r, s, notes) for s in r.services]
            return None if any(s in self._svc_any for s in refs) else refs
        table = applications()
        unknown = [a for a in apps if a not in table]
        if unknown:
            raise Skip(
                f"application {', '.join(unknown)}: no standard ports in "
                "twin/vendors/data/applications.yml (add them there to import this rule)"
            )
        app_ranges = merge_ranges([x for a in apps for x in table[a].ranges])
        inexact = [a for a in apps if not table[a].exact]
        if svc_any or app_default:
            if inexact:
                notes.append(
                    f"application {', '.join(inexact)} enforced at L4 as its standard ports "
                    f"{', '.join(str(x) for x in app_ranges)}"
                    + ("; the device allows it on any port" if svc_any else "")
                )
            return [str(x) for x in app_ranges]
        if not inexact:
            both = intersect_ports(self._ranges(r, r.services), app_ranges)
            if not both:
                raise Never("its applications never use its services' ports")
            return [str(x) for x in both]
        notes.append(
            f"application {', '.join(inexact)} not enforced at L4: any traffic on the rule's "
            "services matches"
        )
        return [self._service(r, s, notes) for s in r.services]

    def _apps(self, r: DevRule, refs: list[str] | None = None, depth: int = 0) -> list[str]:
        out: list[str] = []
        for a in r.applications if refs is None else refs:
            if a == ANY:
                return []
            if a in self.dev.app_groups and depth < 16:
                out.extend(self._apps(r, self.dev.app_groups[a], depth + 1))
            else:
                out.append(a)
        return list(dict.fromkeys(out))

    def _service(self, r: DevRule, ref: str, notes: list[str], seen: tuple[str, ...] = ()) -> str:
        if ref in self.svc_map:
            name = self.svc_map[ref]
            approx = self.dev.services[ref].approximated if ref in self.dev.services else ""
            if approx:
                notes.append(f"service {ref!r}: {approx}")
            return name
        obj = self.dev.services.get(ref)
        if obj is None:
            known = predefined_services(self.dev.vendor)
            if ref not in known:
                self._dangling(r, f"unknown service {ref!r}", "define the service object")
            ranges = known[ref]
            name = self.svc_names.claim(ref)
            if ranges is None:
                self._svc_any.add(name)
                self.services[name] = ["any"]
            else:
                self.services[name] = [str(x) for x in ranges]
            self.svc_map[ref] = name
            return name
        if obj.unsupported:
            raise Skip(f"service {ref!r}: {obj.unsupported}")
        if ref in seen:
            self._dangling(r, f"service group {ref!r} contains itself", " -> ".join(seen))
        if obj.approximated:
            notes.append(f"service {ref!r}: {obj.approximated}")
        if obj.any:
            items = ["any"]
        elif obj.members is not None:
            items = [self._service(r, m, notes, (*seen, ref)) for m in obj.members]
        else:
            items = [str(x) for x in obj.ranges]
        name = self.svc_names.claim(ref)
        if obj.any or any(i in self._svc_any for i in items):
            self._svc_any.add(name)
        self.services[name] = items
        self.svc_map[ref] = name
        return name

    def _ranges(self, r: DevRule, refs: list[str], depth: int = 0) -> list[PortRange]:
        out: list[PortRange] = []
        if depth > 32:
            self._dangling(r, "service group nests too deep (a loop?)", "")
        for ref in refs:
            obj = self.dev.services.get(ref)
            if obj is None:
                known = predefined_services(self.dev.vendor)
                if ref not in known:
                    self._dangling(r, f"unknown service {ref!r}", "define the service object")
                ranges = known[ref]
                if ranges is None:
                    raise Skip(f"service {ref!r} is any protocol")
                out.extend(ranges)
            elif obj.unsupported:
                raise Skip(f"service {ref!r}: {obj.unsupported}")
            elif obj.any:
                raise Skip(f"service {ref!r} is any protocol")
            elif obj.members is not None:
                out.extend(self._ranges(r, list(obj.members), depth + 1))
            else:
                out.extend(obj.ranges)
        return out

    def _dangling(self, r: DevRule, message: str, hint: str) -> None:
        self.problems.append(Problem(self.dev.file, r.line, f"rule {r.name!r}", message, hint))
        raise _Dangling


class _Dangling(Exception):
    """A broken reference in the vendor file: collected as a Problem, the rule abandoned."""
