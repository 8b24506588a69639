"""Destination NAT, so a rule written against a public address is tested against its server.

PAN-OS matches a security rule on the *pre-NAT* destination address (and its original port)
and the *post-NAT* zone; the packet is translated on its way out. The twin has no public
addresses: its hosts are the real servers. So each destination of a security rule that a
destination NAT rule translates becomes, in the twin, the translated server (and port), in a
twin rule of its own; what the NAT rule adds as a condition (source zones, source addresses)
narrows the twin rule too (its source zones and addresses). (A FortiGate VIP is an address
object: `addrs` resolves it to its mapped server.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from twin.policy.model import ANY
from twin.policy.resolve import IPNet, PortRange, merge_ranges
from twin.vendors.device import Approx, DeviceConfig, DevNat, DevRule
from twin.vendors.netsets import exclude, intersect_nets, intersect_ports
from twin.vendors.translate.addrs import AddressResolver
from twin.vendors.translate.services import ServiceResolver
from twin.vendors.translate.skips import Skip

if TYPE_CHECKING:
    from twin.vendors.translate.context import Ctx


@dataclass(frozen=True)
class Variant:
    """One twin rule's destination (None: any) and services (None: the rule's own)."""

    destination: list[str] | None
    services: list[str] | None
    nat: bool = False
    source: list[str] | None = None  # the NAT rule's own sources, when narrower than the rule's
    from_: list[str] | None = None  # the NAT rule's own source zones, when narrower


@dataclass(frozen=True)
class _Dnat:
    rule: DevNat
    original: list[IPNet]
    ports: list[PortRange] | None  # the NAT rule's service; None: any


class NatRewriter:
    def __init__(
        self,
        dev: DeviceConfig,
        addrs: AddressResolver,
        svcs: ServiceResolver,
        zone_map: dict[str, str],
    ) -> None:
        self.addrs = addrs
        self.svcs = svcs
        self.zone_map = zone_map
        self.dnat: list[_Dnat] = []
        for n in dev.nat:
            if n.disabled or n.unsupported or not n.translated:
                continue
            try:
                original = [x for ref in n.destination for x in addrs.nets(ref)]
                ports = None if n.service in (ANY, "") else svcs.ranges([n.service])
            except Skip:
                continue
            if original and not any(x.prefixlen == 0 for x in original):
                self.dnat.append(_Dnat(n, original, ports))

    def destinations(self, c: Ctx, r: DevRule, services: list[str] | None) -> list[Variant] | None:
        """The rule's destinations split into plain ones and NAT'd ones; None: no NAT here."""
        if not self.dnat or r.negate_destination or ANY in r.destination or r.nat_applied:
            return None
        plain: list[str] = []
        variants: list[Variant] = []
        for ref in r.destination:
            try:
                rest = self.addrs.nets(ref)
            except Skip:
                plain.append(ref)
                continue
            hit_any = False
            for d in self.dnat:
                hit = intersect_nets(rest, d.original)
                if not hit:
                    continue
                hit_any = True
                v = self._variant(c, r, d, hit, services)
                if v is not None:
                    variants.append(v)
                if self._whole(d.rule, r):
                    rest = exclude(rest, hit)  # every flow of the rule to it is translated
                elif v is not None:  # other sources still reach the original address
                    c.notes.append(
                        Approx(
                            f"the sources of NAT rule {d.rule.name!r} reach "
                            f"{', '.join(map(str, hit))} too in the twin (the device translates "
                            "their flows)"
                        )
                    )
            if not hit_any:
                plain.append(ref)
            else:
                plain.extend(str(n) for n in rest)
        if not variants and len(plain) == len(r.destination):
            return None
        out = [Variant(self.addrs.refs(c, plain, "destination"), None)] if plain else []
        return out + variants

    def _whole(self, n: DevNat, r: DevRule) -> bool:
        """Does the NAT rule translate every flow of the security rule to its address?"""
        if ANY not in n.source:
            return False
        if ANY in n.from_:
            return True
        return ANY not in r.from_ and set(r.from_) <= set(n.from_)

    def _variant(
        self,
        c: Ctx,
        r: DevRule,
        d: _Dnat,
        hit: list[IPNet],
        services: list[str] | None,
    ) -> Variant | None:
        n = d.rule
        dst = self.addrs.refs(c, n.translated, "destination")
        rule_ranges = self.svcs.twin_ranges(services)
        reach = (
            list(rule_ranges) if d.ports is None else list(intersect_ports(rule_ranges, d.ports))
        )
        where = f" line {n.line}" if n.line else ""
        shown = ", ".join(map(str, hit))
        if not reach:
            c.rewrites.append(
                f"destination {shown}: NAT rule {n.name!r}{where} translates other ports; "
                "no flow of this rule reaches its server"
            )
            return None
        if n.translated_port is not None:
            protos = sorted({p.proto for p in reach if p.proto != "icmp"})
            new = [f"{p}/{n.translated_port}" for p in protos]
        elif d.ports is None:
            new = services  # type: ignore[assignment]
        else:
            new = [str(x) for x in merge_ranges(reach)]
        c.rewrites.append(
            f"destination {shown} is translated by NAT rule {n.name!r}{where} to "
            f"{', '.join(n.translated)}"
            + (f" port {n.translated_port}" if n.translated_port else "")
            + ": the twin tests that server"
        )
        if new == []:
            return None
        from_: list[str] | None = None
        if ANY not in n.from_:  # only flows from the NAT rule's zones reach the server
            nat_zones = [self.zone_map[z] for z in n.from_ if z in self.zone_map]
            rule_zones = [self.zone_map.get(z, z) for z in r.from_]
            from_ = nat_zones if ANY in rule_zones else [z for z in rule_zones if z in nat_zones]
            if not from_:
                return None
        source: list[str] | None = None
        if ANY not in n.source:  # … and only from its sources
            if r.negate_source:
                c.notes.append(Approx(f"NAT rule {n.name!r} translates only some sources"))
            elif ANY in r.source:
                source = self.addrs.refs(c, n.source, "source")
            else:
                both = intersect_nets(
                    [x for ref in r.source for x in self.addrs.nets(ref)],
                    [x for ref in n.source for x in self.addrs.nets(ref)],
                )
                if not both:
                    return None
                source = [str(x) for x in both]
        return Variant(dst, new, nat=True, source=source, from_=from_)
