"""ASA NAT as it bears on access rules.

ASA 8.3 and later match access rules on *real* (untranslated) addresses (Cisco: "Features That
Use Real IP Addresses … access-group"): an ACE written for an inside server names the server,
and the twin, which places that server in its zone, tests exactly that. NAT there changes no
decision the twin tests; an ACE that names a static NAT's *mapped* address is reported, since it
does not admit the translated traffic (on the device as in the twin).

Before 8.3 (`static (real_if,mapped_if) MAPPED REAL …`), ACLs name the *mapped* address: such an
ACE is rewritten to the real server it reaches (`nat_applied`), with the forwarded port when the
static translates a port.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from twin.policy.resolve import IPv4Net, PortRange
from twin.vendors.importers.asa_ace import Ace, Side
from twin.vendors.importers.asa_lines import Cmd, port_number
from twin.vendors.importers.asa_objects import AsaObjects
from twin.vendors.netsets import intersect_ports


@dataclass(frozen=True)
class Static:
    line: int
    mapped: IPv4Net
    real: IPv4Net
    proto: str = ""  # tcp | udp for a port static
    mapped_port: int = 0
    real_port: int = 0


def read_static(cmd: Cmd, objs: AsaObjects) -> Static | str:
    """`static (real_if,mapped_if) [tcp|udp] MAPPED [PORT] REAL [PORT] [netmask M] …` (pre-8.3);
    a string says why it is not modelled."""
    w = cmd.words[2:]
    proto = ""
    if w and w[0] in ("tcp", "udp"):
        proto, w = w[0], w[1:]
    if "access-list" in w:
        return "policy static NAT (translation chosen by an ACL) is not modelled"
    try:
        mask = w[w.index("netmask") + 1] if "netmask" in w else "255.255.255.255"
        if proto:
            mapped, mport, real, rport = w[0], w[1], w[2], w[3]
        else:
            mapped, real, mport, rport = w[0], w[1], "", ""
        m, r = objs.alias(mapped), objs.alias(real)
        if m is None or r is None:
            return f"static NAT of {mapped} (an interface or unknown address) is not modelled"
        mapped_net = IPv4Net(f"{m}/{mask}", strict=False)
        real_net = IPv4Net(f"{r}/{mask}", strict=False)
    except (ValueError, IndexError):
        return f"cannot read {cmd.text!r}"
    if not proto:
        return Static(cmd.line, mapped_net, real_net)
    mp, rp = port_number(proto, mport), port_number(proto, rport)
    if mp is None or rp is None:
        return f"static NAT ports {mport}/{rport} are not known ports"
    return Static(cmd.line, mapped_net, real_net, proto, mp, rp)


def pre83_rewrite(ace: Ace, statics: list[Static]) -> tuple[Ace, list[str]]:
    """The ACE with its mapped destinations written as the real servers (plus rewrite notes)."""
    dst = ace.dst
    if dst.nets is None or not dst.nets:
        return ace, []
    notes: list[str] = []
    nets = list(dst.nets)
    refs = list(dst.refs)
    svc_refs = ace.svc_refs
    for st in statics:
        hit = [n for n in dst.nets if n.overlaps(st.mapped)]
        if not hit:
            continue
        if st.proto:
            if not all(n.subnet_of(st.mapped) for n in dst.nets):
                notes.append(f"port static NAT (line {st.line}) not applied: destination wider")
                continue
            want = PortRange(st.proto, st.mapped_port, st.mapped_port)  # type: ignore[arg-type]
            if ace.svc.any or intersect_ports(ace.svc.ranges, [want]):
                real = [_shift(n, st) for n in hit]
                nets, refs = real, [str(n) for n in real]
                svc_refs = [f"{st.proto}/{st.real_port}"]
                notes.append(
                    f"static NAT (line {st.line}): {st.proto}/{st.mapped_port} to {st.mapped} "
                    f"reaches {st.real} port {st.real_port}; the twin tests the real server"
                )
            continue
        real = [_shift(n, st) for n in hit]
        nets = [n for n in nets if not any(n.subnet_of(h) for h in hit if h.subnet_of(st.mapped))]
        nets.extend(real)
        refs = [str(n) for n in nets]
        notes.append(
            f"static NAT (line {st.line}) {st.mapped} → {st.real}: ASA before 8.3 matches the "
            "mapped address; the twin tests the real server"
        )
    if not notes:
        return ace, []
    new = replace(ace, dst=Side(refs, nets, dst.ifc, dst.problem), svc_refs=svc_refs)
    return new, notes


def _shift(n: IPv4Net, st: Static) -> IPv4Net:
    """The part of `n` inside the mapped range, moved to the real range."""
    inside = n if n.subnet_of(st.mapped) else st.mapped
    offset = int(inside.network_address) - int(st.mapped.network_address)
    base = ipaddress.IPv4Address(int(st.real.network_address) + offset)
    return IPv4Net(f"{base}/{inside.prefixlen}")


def mapped_note(ace: Ace, mapped: dict[IPv4Net, int]) -> str | None:
    """8.3+: an ACE naming a static NAT's mapped address (it never admits translated traffic)."""
    if ace.dst.nets is None:
        return None
    for net, line in mapped.items():
        if any(n.subnet_of(net) for n in ace.dst.nets):
            return (
                f"destination {net} is the mapped address of static NAT (line {line}); ASA 8.3+ "
                "matches access rules on real addresses, so this entry does not admit the "
                "translated traffic, on the device as in the twin"
            )
    return None
