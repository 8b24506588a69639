"""Vendor services and applications → twin services (registered once, reused by every rule).

Applications become their standard ports (`data/applications.yml`, or a custom application's
own default ports); that is an approximation unless the application *is* the protocol (icmp).
An allow rule keeps the applications and services it can model (*could block more* for the
others); what cannot be modelled at all raises `Unmodelled`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twin.policy.model import ANY, SERVICE_WORDS
from twin.policy.resolve import PortRange, Unresolved, merge_ranges, parse_service_literal
from twin.vendors.device import APPLICATION_DEFAULT, Approx, DeviceConfig, DevRule
from twin.vendors.netsets import complement_ports, intersect_ports
from twin.vendors.translate.names import Namespace
from twin.vendors.translate.skips import Never, Unmodelled
from twin.vendors.translate.tables import applications, predefined_services

if TYPE_CHECKING:
    from twin.vendors.translate.context import Ctx

MAX_DEPTH = 32


class ServiceResolver:
    def __init__(self, dev: DeviceConfig) -> None:
        self.dev = dev
        self.services: dict[str, list[str]] = {}
        self.svc_map: dict[str, str] = {}
        self.names = Namespace(set(SERVICE_WORDS))
        self._any: set[str] = set()  # twin service names that mean any protocol

    def rule_services(self, c: Ctx, r: DevRule) -> list[str] | None:
        """The twin services of a rule (None: any), with its approximations noted on `c`."""
        apps = self._apps(c, r)
        svc_any = ANY in r.services
        app_default = APPLICATION_DEFAULT in r.services
        if r.negate_service:
            if svc_any:
                raise Never("negate-service of any")
            ranges = complement_ports(self.ranges(r.services))
            c.rewrites.append(
                "service negation written as its complement (tcp, udp and icmp: the protocols "
                "the twin tests)"
            )
            return [str(x) for x in ranges]
        if apps is None:
            if app_default:
                c.notes.append(
                    Approx("application any with service application-default: every port")
                )
            if svc_any or app_default:
                return None
            refs = self._refs(c, r.services)
            return None if any(s in self._any for s in refs) else refs
        app_ranges = merge_ranges([x for ranges, _ in apps.values() for x in ranges])
        inexact = [a for a, (_, exact) in apps.items() if not exact]
        shown = ", ".join(str(x) for x in app_ranges)
        if svc_any or app_default:
            if inexact:
                c.notes.append(
                    Approx(
                        f"application {', '.join(inexact)} enforced at L4 as its standard ports "
                        f"{shown}" + ("; the device allows it on any port" if svc_any else ""),
                        wider=True,
                        narrower=svc_any,
                    )
                )
            return [str(x) for x in app_ranges]
        if not inexact:
            both = intersect_ports(self.ranges(r.services), app_ranges)
            if not both:
                raise Never("its applications never use its services' ports")
            return [str(x) for x in both]
        c.notes.append(
            Approx(
                f"application {', '.join(inexact)} not enforced at L4: any traffic on the "
                "rule's services matches"
            )
        )
        return self._refs(c, r.services)

    def _apps(self, c: Ctx, r: DevRule) -> dict[str, tuple[tuple[PortRange, ...], bool]] | None:
        """name → (ports, exact) of the rule's applications; None: any application."""
        names = self._expand(r.applications, 0)
        if names is None:
            return None
        table = applications()
        out: dict[str, tuple[tuple[PortRange, ...], bool]] = {}
        unknown: list[str] = []
        for a in names:
            if a in self.dev.applications:
                out[a] = (self.dev.applications[a], False)
            elif a in table:
                out[a] = (table[a].ranges, table[a].exact)
            elif a in self.dev.app_filters:
                unknown.append(f"{a} (an application filter: a set that changes with App-ID)")
            else:
                unknown.append(a)
        why = (
            f"application {', '.join(unknown)}: no standard ports in "
            "twin/vendors/data/applications.yml"
        )
        if unknown and not out:
            raise Unmodelled(why + " (add them there to import this rule)")
        if unknown:
            c.notes.append(Approx(why + ": left out, the rest kept", wider=False, narrower=True))
        return out

    def _expand(self, refs: list[str], depth: int) -> list[str] | None:
        out: list[str] = []
        for a in refs:
            if a == ANY:
                return None
            group = self.dev.app_groups.get(a)
            if group is not None and depth < MAX_DEPTH:
                inner = self._expand(group, depth + 1)
                if inner is None:
                    return None
                out.extend(inner)
            else:
                out.append(a)
        return list(dict.fromkeys(out))

    def _refs(self, c: Ctx, refs: list[str]) -> list[str]:
        out: list[str] = []
        dropped: list[str] = []
        for ref in refs:
            try:
                out.append(self.ref(c, ref))
            except Unmodelled as why:
                dropped.append(str(why))
        if dropped and (not c.allow or not out):
            raise Unmodelled("; ".join(dropped))
        if dropped:
            c.notes.append(
                Approx(f"{'; '.join(dropped)}: left out, the rest kept", wider=False, narrower=True)
            )
        return out

    def ref(self, c: Ctx, ref: str, seen: tuple[str, ...] = ()) -> str:
        if ref in self.svc_map:
            self._note(c, ref)
            return self.svc_map[ref]
        obj = self.dev.services.get(ref)
        if obj is None:
            known = predefined_services(self.dev.vendor)
            if ref not in known:
                literal = _literal(ref)
                if literal is None:
                    raise Unmodelled(f"unknown service {ref!r}")
                return ref
            ranges = known[ref]
            name = self.names.claim(ref)
            if ranges is None:
                self._any.add(name)
                self.services[name] = ["any"]
            else:
                self.services[name] = [str(x) for x in ranges]
            self.svc_map[ref] = name
            return name
        if obj.unsupported:
            raise Unmodelled(f"service {ref!r}: {obj.unsupported}")
        if ref in seen or len(seen) > MAX_DEPTH:
            raise Unmodelled(f"service group {ref!r} contains itself")
        if obj.any:
            items = ["any"]
        elif obj.members is not None:
            items = [self.ref(c, m, (*seen, ref)) for m in obj.members]
        else:
            items = [str(x) for x in obj.ranges]
        name = self.names.claim(ref)
        if obj.any or any(i in self._any for i in items):
            self._any.add(name)
        self.services[name] = items
        self.svc_map[ref] = name
        self._note(c, ref)
        return name

    def _note(self, c: Ctx, ref: str) -> None:
        obj = self.dev.services.get(ref)
        if obj is not None and obj.approximated:
            c.notes.append(Approx(f"service {ref!r}: {obj.approximated}"))

    def ranges(self, refs: list[str], depth: int = 0) -> list[PortRange]:
        """Flattened port ranges of vendor service refs (for complements and intersections)."""
        out: list[PortRange] = []
        if depth > MAX_DEPTH:
            raise Unmodelled("service group nests too deep (a loop?)")
        for ref in refs:
            obj = self.dev.services.get(ref)
            if obj is None:
                known = predefined_services(self.dev.vendor)
                if ref in (ANY, APPLICATION_DEFAULT):
                    out.extend(_literal("any") or ())
                elif ref in known:
                    out.extend(known[ref] or _literal("any") or ())
                else:
                    lit = _literal(ref)
                    if lit is None:
                        raise Unmodelled(f"unknown service {ref!r}")
                    out.extend(lit)
            elif obj.unsupported:
                raise Unmodelled(f"service {ref!r}: {obj.unsupported}")
            elif obj.any:
                out.extend(_literal("any") or ())
            elif obj.members is not None:
                out.extend(self.ranges(list(obj.members), depth + 1))
            else:
                out.extend(obj.ranges)
        return out

    def twin_ranges(self, refs: list[str] | None) -> list[PortRange]:
        """Twin service refs (as `rule_services` returns them) → port ranges."""
        if refs is None:
            return list(_literal("any") or ())
        out: list[PortRange] = []
        for ref in refs:
            lit = _literal(ref)
            if lit is not None:
                out.extend(lit)
            else:
                out.extend(self.twin_ranges(self.services[ref]))
        return out


def _literal(text: str) -> tuple[PortRange, ...] | None:
    try:
        return parse_service_literal(text)
    except Unresolved:
        return None
