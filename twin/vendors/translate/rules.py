"""Vendor rules and objects → twin rules and objects, exactly where possible.

Exact: address/service objects and groups, ip ranges (as CIDRs), negate-source/destination
(as the complement within the rule's zones: the twin's hosts only ever send from their zone's
subnet), rule-type (split per zone pair), disabled, log, destination NAT (the rule is tested
against the server the public address reaches), IPv6 members (they never match an IPv4 flow).

Never abort, never widen silently. Each vendor rule ends exact, approximated, skipped, disabled
or never (see `report.Outcome`). Only an *allow* rule is approximated, and the report says which
way: a dropped condition (source ports, schedule, an application's L7 identity) *could allow
more*; a kept subset (its known applications, its modelled addresses) *could block more*. A deny
rule that would lose or shrink a condition is skipped (*could allow more*) — never widened into
blocking what the device allows. A broken reference skips the rule; it does not stop the import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twin.policy.model import ANY, RESERVED_RULES, Action
from twin.policy.resolve import IPNet, IPv4Net, IPv6Net
from twin.vendors.device import Approx, DeviceConfig, DevRule
from twin.vendors.netsets import exclude, intersect_ports
from twin.vendors.report import Direction, ImportReport, Kind, Outcome, RuleOutcome
from twin.vendors.translate.addrs import AddressResolver
from twin.vendors.translate.context import Ctx
from twin.vendors.translate.names import Namespace
from twin.vendors.translate.nat import NatRewriter, Variant
from twin.vendors.translate.services import ServiceResolver
from twin.vendors.translate.skips import Ipv6Only, Never, Skip, Unmodelled


@dataclass
class Translator:
    dev: DeviceConfig
    report: ImportReport
    names: Namespace  # zones, hosts, addresses
    zone_map: dict[str, str]  # vendor zone → twin zone
    zone_nets: dict[str, IPv4Net]  # twin zone → subnet
    rules: list[dict[str, Any]] = field(default_factory=list)
    rule_names: Namespace = field(default_factory=lambda: Namespace(set(RESERVED_RULES)))
    zone_nets6: dict[str, IPv6Net] = field(default_factory=dict)  # a dual-stack import's

    def __post_init__(self) -> None:
        self.addrs = AddressResolver(self.dev, self.names, ipv6=bool(self.zone_nets6))
        self.svcs = ServiceResolver(self.dev)
        self.nat = NatRewriter(self.dev, self.addrs, self.svcs, self.zone_map)

    @property
    def addresses(self) -> dict[str, list[str]]:
        return self.addrs.addresses

    @property
    def services(self) -> dict[str, list[str]]:
        return self.svcs.services

    # --- rules ---------------------------------------------------------------------------

    def rule(self, r: DevRule) -> None:
        c = Ctx(r, list(r.approximated))
        if r.ipv6_part:
            c.untested.append(r.ipv6_part)
        subject = f"rule {r.name!r}"
        froms: list[str] = [ANY]
        tos: list[str] = [ANY]
        try:
            froms, tos = self._zones(r.from_), self._zones(r.to)
            if r.ipv6_only:
                raise Ipv6Only(r.ipv6_only)
            if r.unsupported:
                raise Skip(r.unsupported)
            src = self._side(c, r.source, r.negate_source, froms, "source")
            services = self.svcs.rule_services(c, r)
            variants = self.nat.destinations(c, r, services)
            if variants is None:
                dst = self._side(c, r.destination, r.negate_destination, tos, "destination")
                services = self._forwarded_ports(c, r, services)
                variants = [Variant(dst, None)]
            if c.notes and not c.allow:
                why = "; ".join(n.message for n in c.notes)
                raise Skip(f"{why} (a {r.action.value} rule is skipped rather than widened)")
        except (Skip, Unmodelled) as why:
            self._skipped(r, subject, str(why), froms, tos)
            return
        except Never as why:
            self.report.add(Kind.skipped, subject, f"never matches an IPv4 flow ({why})", r.line)
            self.report.rules.append(RuleOutcome(r.name, r.line, Outcome.never))
            return
        except Ipv6Only as why:
            self.report.add(
                Kind.skipped, subject, f"{why}: the twin is IPv4", r.line, Direction.untested
            )
            self.report.rules.append(
                RuleOutcome(r.name, r.line, Outcome.skipped, Direction.untested)
            )
            return
        self._write(c, subject, src, variants, services, froms, tos)

    def _skipped(
        self, r: DevRule, subject: str, why: str, froms: list[str], tos: list[str]
    ) -> None:
        if r.disabled:
            self.report.add(
                Kind.skipped, subject, f"disabled on the device; not imported: {why}", r.line
            )
            self.report.rules.append(RuleOutcome(r.name, r.line, Outcome.disabled))
            return
        if r.action is Action.allow:
            direction, tail = Direction.block_more, "; flows it allowed go to the rules after it"
        else:
            direction, tail = Direction.allow_more, "; flows it blocked go to the rules after it"
        self.report.add(Kind.skipped, subject, why + tail, r.line, direction)
        self.report.rules.append(
            RuleOutcome(r.name, r.line, Outcome.skipped, direction, (), tuple(froms), tuple(tos))
        )

    def _write(  # noqa: PLR0917 - one rule's resolved parts
        self,
        c: Ctx,
        subject: str,
        src: list[str] | None,
        variants: list[Variant],
        services: list[str] | None,
        froms: list[str],
        tos: list[str],
    ) -> None:
        r = c.rule
        direction: Direction | None = None
        for note in c.notes:
            d = _direction(note)
            self.report.add(Kind.approximated, subject, note.message, r.line, d)
            direction = d if direction in (None, d) else Direction.both
        for text in c.rewrites:
            self.report.add(Kind.rewritten, subject, text, r.line)
        for text in c.untested:
            self.report.add(Kind.rewritten, subject, text, r.line)
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
        written: list[str] = []
        for v_index, variant in enumerate(variants):
            svc = services if variant.services is None else variant.services
            vsrc0 = src if variant.source is None else variant.source
            svc = self._live(svc, self._families(vsrc0) & self._families(variant.destination))
            if svc == []:
                continue
            for f0, t, suffix in pairs:
                f = f0 if variant.from_ is None else _within(f0, variant.from_)
                if not f:
                    continue
                many = variant.nat and len(variants) > 1
                tail = suffix + (f".nat{v_index}" if many else "")
                out: dict[str, Any] = {"name": self.rule_names.claim(r.name, suffix=tail)}
                out["from"], out["to"] = f, t
                vsrc = src if variant.source is None else variant.source
                if vsrc is not None:
                    out["source"] = vsrc
                if variant.destination is not None:
                    out["destination"] = variant.destination
                if svc is not None:
                    out["services"] = svc
                out["action"] = r.action.value
                out["log"] = r.log
                if r.disabled:
                    out["disabled"] = True
                out["description"] = desc + ("; approximated" if c.notes else "")
                self.rules.append(out)
                written.append(out["name"])
        if r.disabled:
            outcome = Outcome.disabled
        elif not written:
            self.report.add(Kind.skipped, subject, "never matches an IPv4 flow", r.line)
            outcome = Outcome.never
        else:
            outcome = Outcome.approximated if c.notes else Outcome.exact
        self.report.rules.append(
            RuleOutcome(
                r.name,
                r.line,
                outcome,
                direction if outcome is Outcome.approximated else None,
                tuple(written),
                tuple(froms),
                tuple(tos),
            )
        )

    def _families(self, refs: list[str] | None, depth: int = 0) -> set[int]:
        """The address families twin address references cover (None: any, both)."""
        if refs is None or depth > 32:
            return {4, 6}
        out: set[int] = set()
        for ref in refs:
            if ref in self.addresses:
                out |= self._families(self.addresses[ref], depth + 1)
            else:
                out.add(6 if ":" in ref else 4)
        return out

    def _live(self, services: list[str] | None, families: set[int]) -> list[str] | None:
        """Services without the echo of a family the rule's addresses do not have (an ICMP
        service on IPv6 addresses only matches nothing)."""
        if services is None or families == {4, 6}:
            return services
        dead = {"icmp"} if 4 not in families else {"icmpv6"} if 6 not in families else set()
        return [s for s in services if set(self.svcs.services.get(s, [s])) - dead]

    def _forwarded_ports(self, c: Ctx, r: DevRule, services: list[str] | None) -> list[str] | None:
        """Port-forwarding VIPs: only their mapped ports reach the server."""
        if not c.dest_ports:
            return services
        if not all(
            (vips := self.addrs.vips(ref)) and all(v.vip and v.vip.ports for v in vips)
            for ref in r.destination
        ):
            c.notes.append(
                Approx(
                    "a port-forwarding VIP beside other destinations: its "
                    "server's other ports match too"
                )
            )
            return services
        both = intersect_ports(self.svcs.twin_ranges(services), c.dest_ports)
        if not both:
            raise Never("its services are not the ports its VIPs forward")
        return [str(x) for x in both]

    def _zones(self, refs: list[str]) -> list[str]:
        if ANY in refs:
            return [ANY]
        out = []
        for ref in refs:
            if ref not in self.zone_map:
                raise Skip(f"unknown zone {ref!r}")
            out.append(self.zone_map[ref])
        return list(dict.fromkeys(out))

    def _pairs(
        self, r: DevRule, froms: list[str], tos: list[str]
    ) -> list[tuple[list[str], list[str], str]]:
        every = list(dict.fromkeys(self.zone_map.values()))
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
        self, c: Ctx, refs: list[str], negate: bool, zones: list[str], side: str
    ) -> list[str] | None:
        is_any = any(ref == ANY or self.addrs.is_all(ref) for ref in refs)
        if not negate:
            if is_any:
                return None
            return self.addrs.refs(c, refs, side)
        if is_any:
            raise Never(f"negate-{side} of any")
        nets = [n for ref in refs for n in self.addrs.nets(ref)]
        zs = list(dict.fromkeys(self.zone_map.values())) if ANY in zones else zones
        universe: list[IPNet] = [self.zone_nets[z] for z in zs if z in self.zone_nets]
        universe += [self.zone_nets6[z] for z in zs if z in self.zone_nets6]
        rest = exclude(universe, nets)
        if not rest:
            raise Never(f"negate-{side}: its {side} covers every zone it applies to")
        name = self.names.claim(f"not-{side}.{c.rule.name}")
        self.addrs.addresses[name] = [str(n) for n in rest]
        c.rewrites.append(
            f"negate-{side} written as its exact complement within its zones: address {name!r}"
            f" ({len(rest)} networks)"
        )
        return [name]


def _within(zones: list[str], allowed: list[str]) -> list[str]:
    return list(allowed) if ANY in zones else [z for z in zones if z in allowed]


def _direction(note: Approx) -> Direction:
    if note.wider and note.narrower:
        return Direction.both
    return Direction.allow_more if note.wider else Direction.block_more
