"""ASA `name`, `object` and `object-group` definitions → resolved networks and services.

Network objects and groups become `DevAddress`es (nested groups as members); every reference is
also resolved here to IPv4 networks (an ACE's conjunction with an `out` ACL and NAT need them).
Service objects and groups resolve to a `SvcSet`: the tcp/udp/icmp ranges the twin tests, plus
what it drops (source ports, ICMP types: an allow rule is approximated, a deny rule skipped) and
protocols it does not model (gre, esp, …).
"""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass, field

from twin.policy.resolve import IPv4Net, PortRange, merge_ranges
from twin.vendors.device import DevAddress, DeviceConfig
from twin.vendors.importers.asa_lines import Cmd, port_number, protocol_number
from twin.vendors.netsets import range_to_nets

MAX_DEPTH = 32
ALL_PORTS = (1, 65535)


@dataclass
class SvcSet:
    """What a service match covers. `any`: every IP protocol."""

    ranges: list[PortRange] = field(default_factory=list)
    any: bool = False
    src_ports: bool = False  # a source-port condition the twin does not enforce
    icmp_types: bool = False  # ICMP restricted to some types (the twin tests echo only)
    other: list[str] = field(default_factory=list)  # IP protocols the twin does not model
    ipv6: bool = False  # icmp6 and other IPv6-only protocols
    unknown: list[str] = field(default_factory=list)  # names this file does not define

    def add(self, other: SvcSet) -> None:
        self.ranges.extend(other.ranges)
        self.any |= other.any
        self.src_ports |= other.src_ports
        self.icmp_types |= other.icmp_types
        self.other.extend(other.other)
        self.ipv6 |= other.ipv6
        self.unknown.extend(other.unknown)

    def merged(self) -> tuple[PortRange, ...]:
        return merge_ranges(self.ranges)


def port_ranges(op: str, args: list[str], proto: str) -> tuple[list[tuple[int, int]], str]:
    """`eq 80`, `range 1 5`, `neq www`, `lt 1024`, `gt 1023` → port intervals, or an error."""
    values = [port_number(proto, a) for a in args]
    if any(v is None for v in values) or not values:
        return [], f"port {' '.join(args)!r} for {proto} is not a known port"
    nums = [v for v in values if v is not None]
    lo, hi = ALL_PORTS
    if op == "eq":
        return [(nums[0], nums[0])], ""
    if op == "range" and len(nums) == 2:
        return [(min(nums), max(nums))], ""
    if op == "neq":
        return [r for r in ((lo, nums[0] - 1), (nums[0] + 1, hi)) if r[0] <= r[1]], ""
    if op == "lt":
        return ([(lo, nums[0] - 1)] if nums[0] > lo else []), ""
    if op == "gt":
        return ([(nums[0] + 1, hi)] if nums[0] < hi else []), ""
    return [], f"port operator {op!r}"


def proto_set(proto: str, dst: list[tuple[int, int]] | None) -> SvcSet:
    """One protocol (name or number) with optional destination port intervals."""
    out = SvcSet()
    if proto == "ip":
        out.any = True
        return out
    protos = ["tcp", "udp"] if proto == "tcp-udp" else [proto]
    for p in protos:
        number = protocol_number(p)
        if number in (6, 17):
            name = "tcp" if number == 6 else "udp"
            for lo, hi in dst if dst is not None else [ALL_PORTS]:
                out.ranges.append(PortRange(name, max(lo, 1), hi))  # type: ignore[arg-type]
        elif number == 1:
            out.ranges.append(PortRange("icmp"))
        elif number == 58:
            out.ipv6 = True
        elif number is None:
            out.unknown.append(p)
        else:
            out.other.append(p)
    return out


@dataclass
class AsaObjects:
    dev: DeviceConfig
    aliases: dict[str, IPv4Net] = field(default_factory=dict)  # `name` → address
    svc_objects: dict[str, SvcSet] = field(default_factory=dict)
    svc_groups: dict[str, tuple[str, list[Cmd]]] = field(default_factory=dict)  # proto, entries
    proto_groups: dict[str, list[Cmd]] = field(default_factory=dict)
    icmp_groups: set[str] = field(default_factory=set)
    net_objects: dict[str, Cmd] = field(default_factory=dict)

    # --- definitions ---------------------------------------------------------------------

    def define(self, cmd: Cmd) -> None:
        kind, name = cmd.word(1), cmd.word(2)
        if cmd.words[0] == "name" and len(cmd.words) >= 3:
            with contextlib.suppress(ValueError):  # an IPv6 name: never in an IPv4 flow
                self.aliases[cmd.words[2]] = IPv4Net(cmd.words[1])
        elif cmd.words[0] == "object" and kind == "network":
            self.net_objects[name] = cmd
            self.dev.addresses[name] = self._net_object(cmd)
        elif cmd.words[0] == "object" and kind == "service":
            entry = next((c for c in cmd.children if c.words[0] == "service"), None)
            self.svc_objects[name] = self.service_words(entry.words[1:] if entry else ["ip"])
        elif kind == "network":
            self.dev.addresses[name] = self._net_group(cmd)
        elif kind == "service":
            self.svc_groups[name] = (cmd.word(3), cmd.children)
        elif kind == "protocol":
            self.proto_groups[name] = cmd.children
        elif kind == "icmp-type":
            self.icmp_groups.add(name)

    def _net_object(self, cmd: Cmd) -> DevAddress:
        obj = DevAddress(cmd.word(2), cmd.line)
        for sub in cmd.children:
            w = sub.words
            try:
                if w[0] == "host":
                    obj.networks, obj.ipv6 = self._one(w[1], None)
                elif w[0] == "subnet":
                    obj.networks, obj.ipv6 = self._one(w[1], w[2] if len(w) > 2 else None)
                elif w[0] == "range":
                    if ":" in w[1]:
                        obj.ipv6 = (f"{w[1]}-{w[2]}",)
                    else:
                        obj.networks = tuple(range_to_nets(w[1], w[2]))
                elif w[0] == "fqdn":
                    obj.unsupported = f"FQDN {w[-1]} (resolved by DNS on the device)"
            except (ValueError, IndexError):
                obj.unsupported = f"cannot read {sub.text!r} (line {sub.line})"
        return obj

    def _net_group(self, cmd: Cmd) -> DevAddress:
        members: list[str] = []
        obj = DevAddress(cmd.word(2), cmd.line)
        for sub in cmd.children:
            w = sub.words
            if w[0] == "group-object" and len(w) > 1:
                members.append(w[1])
            elif w[0] == "network-object" and len(w) > 1:
                if w[1] == "object" and len(w) > 2:
                    members.append(w[2])
                    continue
                try:
                    nets, v6 = self._one(w[2], None) if w[1] == "host" else self._one(w[1], w[2:3])
                except (ValueError, IndexError):
                    obj.unsupported = f"cannot read {sub.text!r} (line {sub.line})"
                    continue
                members.extend(str(n) for n in nets)
                members.extend(v6)
        obj.members = tuple(members)
        return obj

    def _one(
        self, addr: str, mask: str | list[str] | None
    ) -> tuple[tuple[IPv4Net, ...], tuple[str, ...]]:
        if isinstance(mask, list):
            mask = mask[0] if mask else None
        if ":" in addr:
            return (), (addr,)
        base = self.aliases[addr].network_address if addr in self.aliases else addr
        return (IPv4Net(f"{base}/{mask or '255.255.255.255'}", strict=False),), ()

    # --- services ------------------------------------------------------------------------

    def service_words(self, w: list[str]) -> SvcSet:
        """`tcp [source OP P] [destination OP P]`, `tcp eq 80`, `icmp echo`, `ip`, `gre`."""
        if not w:
            return SvcSet(any=True)
        proto, rest = w[0], w[1:]
        if proto in ("icmp", "icmp6", "1", "58"):
            out = proto_set(proto, None)
            out.icmp_types = bool(rest)
            return out
        dst: list[tuple[int, int]] | None = None
        src = False
        bad = ""
        i = 0
        while i < len(rest):
            side = "destination"
            if rest[i] in ("source", "destination"):
                side, i = rest[i], i + 1
            if i >= len(rest):
                break
            op = rest[i]
            n = 2 if op == "range" else 1
            ranges, err = port_ranges(op, rest[i + 1 : i + 1 + n], proto)
            bad = bad or err
            if side == "source":
                src = True
            else:
                dst = ranges
            i += 1 + n
        out = proto_set(proto, dst)
        out.src_ports = src
        if bad:
            out.unknown.append(bad)
        return out

    def service_ref(self, name: str, depth: int = 0) -> SvcSet:
        """A service object or a service group (with or without a protocol) by name."""
        if name in self.svc_objects:
            return self.svc_objects[name]
        if name not in self.svc_groups or depth > MAX_DEPTH:
            return SvcSet(unknown=[f"service {name!r}"])
        proto, entries = self.svc_groups[name]
        out = SvcSet()
        for e in entries:
            w = e.words
            if w[0] == "group-object" and len(w) > 1:
                out.add(self.service_ref(w[1], depth + 1))
            elif w[0] == "service-object" and len(w) > 1:
                if w[1] == "object" and len(w) > 2:
                    out.add(self.service_ref(w[2], depth + 1))
                else:
                    out.add(self.service_words(w[1:]))
            elif w[0] == "port-object" and len(w) > 2:
                ranges, err = port_ranges(w[1], w[2:], proto or "tcp")
                out.add(proto_set(proto or "tcp", ranges))
                if err:
                    out.unknown.append(err)
        return out

    def port_group(self, name: str, proto: str, depth: int = 0) -> list[tuple[int, int]] | None:
        """A `port-object` group (object-group service NAME tcp|udp|tcp-udp) → intervals."""
        if name not in self.svc_groups or not self.svc_groups[name][0] or depth > MAX_DEPTH:
            return None
        out: list[tuple[int, int]] = []
        for e in self.svc_groups[name][1]:
            if e.words[0] == "port-object" and len(e.words) > 2:
                out.extend(port_ranges(e.words[1], e.words[2:], proto)[0])
            elif e.words[0] == "group-object" and len(e.words) > 1:
                out.extend(self.port_group(e.words[1], proto, depth + 1) or [])
        return out

    def protocols(self, name: str, depth: int = 0) -> list[str]:
        out: list[str] = []
        for e in self.proto_groups.get(name, []):
            if e.words[0] == "protocol-object" and len(e.words) > 1:
                out.append(e.words[1])
            elif e.words[0] == "group-object" and len(e.words) > 1 and depth < MAX_DEPTH:
                out.extend(self.protocols(e.words[1], depth + 1))
        return out

    # --- networks ------------------------------------------------------------------------

    def nets(self, ref: str, depth: int = 0) -> list[IPv4Net]:
        """IPv4 networks of an object, group, alias or literal (IPv6 and FQDN: none)."""
        obj = self.dev.addresses.get(ref)
        if obj is None:
            try:
                return [IPv4Net(ref)]
            except ValueError:
                return []
        if obj.members is None or depth > MAX_DEPTH:
            return [n for n in obj.networks if isinstance(n, IPv4Net)]  # ASA: IPv4 only
        return [n for m in obj.members for n in self.nets(m, depth + 1)]

    def alias(self, text: str) -> ipaddress.IPv4Address | None:
        if text in self.aliases:
            return self.aliases[text].network_address
        try:
            return ipaddress.IPv4Address(text)
        except ValueError:
            return None
