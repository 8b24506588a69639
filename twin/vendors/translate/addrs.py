"""Vendor address references → twin address objects (registered once, reused by every rule).

A reference is an object, a group, a literal (CIDR, range) or something the twin cannot model
(FQDN, region, external dynamic list, an unknown name): that raises `Unmodelled` and the rule
decides what to do (an allow rule keeps its other members, a deny rule is skipped). IPv6 values
are twin addresses like IPv4 ones when the import is dual stack (`ipv6`: a PAN-OS or FortiGate
device that routes or filters IPv6); else they never match an IPv4 flow: a reference that is
IPv6 only resolves to None. A FortiGate VIP (or an ASA static NAT object) resolves to its
mapped servers.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from twin.policy.model import ANY
from twin.policy.resolve import IPNet, IPv4Net, PortRange
from twin.vendors.device import Approx, DevAddress, DeviceConfig
from twin.vendors.netsets import range_to_nets
from twin.vendors.translate.names import Namespace
from twin.vendors.translate.skips import Ipv6Only, Unmodelled

if TYPE_CHECKING:
    from twin.vendors.translate.context import Ctx

IPNet_ALL6 = ipaddress.IPv6Network("::/0")
REGION = re.compile(r"^[A-Z]{2}$")  # PAN-OS accepts a country code wherever an address goes
MAX_DEPTH = 32


class AddressResolver:
    def __init__(self, dev: DeviceConfig, names: Namespace, ipv6: bool = False) -> None:
        self.dev = dev
        self.names = names
        self.ipv6 = ipv6  # IPv6 values become twin addresses (a dual-stack import)
        self.addresses: dict[str, list[str]] = {}
        self.addr_map: dict[str, str | None] = {}  # vendor ref → twin name (None: IPv6 only)

    def is_all(self, ref: str) -> bool:
        obj = self.dev.addresses.get(ref)
        return obj is not None and obj.any

    def refs(self, c: Ctx, refs: list[str], side: str) -> list[str]:
        """One side of a rule, not negated and not any → twin references."""
        out: list[str] = []
        dropped: list[str] = []
        v6: list[str] = []
        for ref in refs:
            try:
                name = self.ref(ref)
            except Unmodelled as why:
                dropped.append(str(why))
                kept = self._partial(ref) if c.allow else None
                if kept is not None:
                    out.append(kept)
                continue
            if name is None:
                v6.append(ref)
            else:
                out.append(name)
                self._vip_notes(c, ref, side)
        if dropped and (not c.allow or not out):
            raise Unmodelled("; ".join(dropped))
        if dropped:
            c.notes.append(
                Approx(
                    f"{side} {'; '.join(dropped)}: left out, the twin keeps what it can model",
                    wider=False,
                    narrower=True,
                )
            )
        if not out:
            raise Ipv6Only(f"its {side} is IPv6 only ({', '.join(v6)})")
        if v6:
            c.untested.append(f"{side} {', '.join(v6)}: IPv6, not tested (the twin is IPv4)")
        return out

    def ref(self, ref: str, seen: tuple[str, ...] = ()) -> str | None:
        """A vendor address name or literal → a twin address name (None: IPv6 only)."""
        if ref in self.addr_map:
            return self.addr_map[ref]
        obj = self.dev.addresses.get(ref)
        if obj is None:
            nets = literal(ref, self.ipv6)
            if not nets:
                self.addr_map[ref] = None
                return None
            if len(nets) == 1:
                return str(nets[0])
            return self._register(ref, "range-" + ref, [str(n) for n in nets])
        self._check(obj, seen)
        if obj.any:
            raise Unmodelled(f"address {ref!r} (all) inside a group")
        if obj.members is not None:
            items = [self.ref(m, (*seen, ref)) for m in obj.members]
            kept = [i for i in items if i is not None]
        else:
            kept = [str(n) for n in obj.networks if self.ipv6 or n.version == 4]
        if not kept:
            self.addr_map[ref] = None
            return None
        return self._register(ref, ref, kept)

    def nets(self, ref: str, seen: tuple[str, ...] = ()) -> list[IPNet]:
        """Flattened networks (for complements); IPv6 ones only in a dual-stack import."""
        obj = self.dev.addresses.get(ref)
        if obj is None:
            return literal(ref, self.ipv6)
        self._check(obj, seen)
        if obj.any:
            return [IPv4Net("0.0.0.0/0"), *([IPNet_ALL6] if self.ipv6 else [])]
        if obj.members is None:
            return [n for n in obj.networks if self.ipv6 or n.version == 4]
        return [n for m in obj.members for n in self.nets(m, (*seen, ref))]

    def vips(self, ref: str, depth: int = 0) -> list[DevAddress]:
        obj = self.dev.addresses.get(ref)
        if obj is None or depth > MAX_DEPTH:
            return []
        if obj.vip is not None:
            return [obj]
        return [v for m in obj.members or () for v in self.vips(m, depth + 1)]

    def _vip_notes(self, c: Ctx, ref: str, side: str) -> None:
        for obj in self.vips(ref):
            vip = obj.vip
            assert vip is not None
            if side != "destination":
                raise Unmodelled(f"VIP {obj.name!r} as a {side}")
            ext = ", ".join(map(str, vip.external))
            mapped = ", ".join(map(str, vip.mapped))
            c.rewrites.append(
                f"VIP {obj.name!r}: the device translates {ext} to {mapped}; the twin tests "
                "the real server"
            )
            if vip.narrower:
                c.notes.append(Approx(f"VIP {obj.name!r}: {vip.narrower} not modelled"))
            if vip.ports is not None:
                lo, hi = vip.ports[1]
                c.dest_ports.append(PortRange(vip.proto, lo, hi))  # type: ignore[arg-type]

    def _partial(self, ref: str) -> str | None:
        """An allow rule's group with some unmodelled members: its modelled networks."""
        nets = self._modelled_nets(ref, 0)
        if not nets:
            return None
        return self._register(ref + "#modelled", ref + ".modelled", [str(n) for n in nets])

    def _modelled_nets(self, ref: str, depth: int) -> list[IPNet]:
        obj = self.dev.addresses.get(ref)
        if depth > MAX_DEPTH:
            return []
        if obj is None:
            try:
                return literal(ref, self.ipv6)
            except Unmodelled:
                return []
        if obj.unsupported or obj.any:
            return []
        if obj.members is None:
            return [n for n in obj.networks if self.ipv6 or n.version == 4]
        return [n for m in obj.members for n in self._modelled_nets(m, depth + 1)]

    def _check(self, obj: DevAddress, seen: tuple[str, ...]) -> None:
        if obj.unsupported:
            raise Unmodelled(f"address {obj.name!r}: {obj.unsupported}")
        if obj.name in seen or len(seen) > MAX_DEPTH:
            raise Unmodelled(f"address group {obj.name!r} contains itself")

    def _register(self, key: str, wanted: str, items: list[str]) -> str:
        name = self.names.claim(wanted)
        self.addresses[name] = items
        self.addr_map[key] = name
        return name


def literal(ref: str, ipv6: bool = False) -> list[IPNet]:
    """A CIDR, address or range written in a rule → networks (IPv6 ones only with `ipv6`,
    else [])."""
    if ref == ANY:
        return [IPv4Net("0.0.0.0/0"), *([IPNet_ALL6] if ipv6 else [])]
    try:
        if ":" in ref:
            if "-" in ref and ipv6:
                first, last = ref.split("-", 1)
                return range_to_nets(first.strip(), last.strip())
            net = ipaddress.ip_network(ref.split("-", maxsplit=1)[0], strict=False)
            return [net] if ipv6 else []
        if "-" in ref:
            first, last = ref.split("-", 1)
            return range_to_nets(first.strip(), last.strip())
        return [IPv4Net(ref, strict=False)]
    except ValueError:
        pass
    if REGION.match(ref):
        raise Unmodelled(f"region {ref!r} (a country: no fixed L3 meaning)")
    if ref.startswith("panw-"):
        raise Unmodelled(f"predefined external dynamic list {ref!r} (its content changes)")
    raise Unmodelled(f"unknown address {ref!r}")
