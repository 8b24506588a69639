"""A twin policy as FortiGate CLI configuration (FortiOS 7).

Zones are `system zone`s of one interface `portN` each (intrazone deny: every same-zone flow
is decided by a policy). Twin's defaults become explicit policies at the end: one intrazone
policy per zone when it is not a plain deny, then an any→any policy when the interzone default
is not deny; FortiGate's implicit deny (a silent drop) is twin's `deny`. `reject` is a deny
policy with `send-deny-packet enable`.

IPv6 (FortiOS 6.4+ consolidated policies): IPv6 objects are `firewall address6` (groups of
IPv6 members `addrgrp6`, under the same name as their IPv4 part), a policy lists its IPv6
addresses as `srcaddr6`/`dstaddr6` beside the IPv4 ones, and matches a family only where both
of its sides have addresses of it; a zone's IPv6 gateway is its interface's `ip6-address`;
ICMPv6 is a custom service of protocol ICMP6.
"""

from __future__ import annotations

from twin.policy.model import ANY, INTERZONE_DEFAULT, Action
from twin.policy.resolve import range_text
from twin.vendors.exporters.view import View, XRule

MAX_POLICY_NAME = 35
ICMP_SERVICE = "twin-icmp"
ICMP6_SERVICE = "twin-icmp6"


def to_cli(v: View, source: str, rules_only: bool = False) -> str:
    """The configuration; `rules_only`: objects and policies, no hostname, interface or zone
    (pasted into a device, it changes its policy and nothing else; the zones must exist)."""
    out = [f"# FortiGate configuration exported by twin from {source}"]
    if not rules_only:
        out += _system(v)
    out += ["config firewall address", '    edit "all"', "    next"]
    for name, net in v.addresses.items():
        if net.version == 4:
            out += [
                f"    edit {_q(name)}",
                f"        set subnet {net.network_address} {net.netmask}",
            ]
            out.append("    next")
    out.append("end")
    if v.dual_stack:
        out += ["config firewall address6", '    edit "all"', "        set ip6 ::/0", "    next"]
        for name, net in v.addresses.items():
            if net.version == 6:
                out += [f"    edit {_q(name)}", f"        set ip6 {net}", "    next"]
        out.append("end")
    for path, family in (("firewall addrgrp", 4), ("firewall addrgrp6", 6)):
        _block(out, path, {
            name: [m for m in members if family in v.families(m)]
            for name, members in v.address_groups.items() if family in v.families(name)
        })  # fmt: skip
    out += ["config firewall service custom", f"    edit {_q(ICMP_SERVICE)}"]
    out += ["        set protocol ICMP", "    next"]
    if v.dual_stack:
        out += [f"    edit {_q(ICMP6_SERVICE)}", "        set protocol ICMP6", "    next"]
    for name, pr in v.services.items():
        ports = range_text(pr.lo, pr.hi)
        out += [f"    edit {_q(name)}", "        set protocol TCP/UDP/SCTP"]
        out += [f"        set {pr.proto}-portrange {ports}", "    next"]
    out.append("end")
    _block(out, "firewall service group", v.service_groups)
    out.append("config firewall policy")
    taken: set[str] = set()
    for pid, r in enumerate(_policies(v), start=1):
        out += [f"    edit {pid}", *_policy(v, r, taken), "    next"]
    out.append("end")
    return "\n".join(out) + "\n"


def _system(v: View) -> list[str]:
    out = ["config system global", f"    set hostname {_q(v.lab)}", "end"]
    out.append("config system interface")
    for z in v.zones:
        out += [f"    edit {_q(_port(z.index))}", "        set mode static"]
        if z.subnet is not None:
            out.append(f"        set ip {z.gateway} {z.subnet.netmask}")
        if z.subnet6 is not None:
            out += ["        config ipv6", f"            set ip6-address {z.gateway6}/"
                    f"{z.subnet6.prefixlen}", "        end"]  # fmt: skip
        out += [f"        set alias {_q(z.name[:25])}", "    next"]
    out += ["end", "config system zone"]
    for z in v.zones:
        out += [
            f"    edit {_q(z.name)}",
            f"        set interface {_q(_port(z.index))}",
            "        set intrazone deny",
            "    next",
        ]
    out.append("end")
    return out


def _policies(v: View) -> list[XRule]:
    policies = list(v.rules)
    if v.intrazone is not Action.deny or v.interzone is not Action.deny:
        for z in v.zones:
            name = f"intrazone-default.{z.name}"
            policies.append(_default(name, [z.name], [z.name], v.intrazone))
    if v.interzone is not Action.deny:
        policies.append(_default(INTERZONE_DEFAULT, [ANY], [ANY], v.interzone))
    return policies


def _policy(v: View, r: XRule, taken: set[str]) -> list[str]:
    lines = [
        f"set name {_q(_name(r.name, taken))}",
        f"set srcintf {_qs(r.from_)}",
        f"set dstintf {_qs(r.to)}",
    ]
    for family, suffix in ((4, ""), (6, "6")):
        if family == 6 and not v.dual_stack:
            continue
        src, dst = (_of(v, refs, family) for refs in (r.source, r.destination))
        if src and dst:  # the policy matches this family
            lines += [f"set srcaddr{suffix} {_qs(src)}", f"set dstaddr{suffix} {_qs(dst)}"]
    nothing = not any(line.startswith("set srcaddr") for line in lines)
    if nothing:  # no family on both sides: a disabled placeholder keeps the list order
        lines += ['set srcaddr "all"', 'set dstaddr "all"']
    lines.append(f"set action {'accept' if r.action is Action.allow else 'deny'}")
    if r.action is Action.reject:
        lines.append("set send-deny-packet enable")
    lines.append('set schedule "always"')
    services = ["ALL"] if r.services is None else [*r.services]
    if r.icmp:
        services.append(ICMP_SERVICE)
    if r.icmp6:
        services.append(ICMP6_SERVICE)
    disabled = r.disabled or nothing
    if not services:  # matches nothing: a disabled placeholder keeps the list order
        services, disabled = ["ALL"], True
    lines.append(f"set service {_qs(services)}")
    lines.append(f"set logtraffic {'all' if r.log else 'disable'}")
    if disabled:
        lines.append("set status disable")
    if r.description:
        lines.append(f"set comments {_q(r.description[:1023])}")
    return ["        " + line for line in lines]


def _of(v: View, refs: list[str] | None, family: int) -> list[str]:
    """The refs of one side that hold addresses of `family` (any: `all`)."""
    if refs is None:
        return ["all"]
    return [ref for ref in refs if family in v.families(ref)]


def _default(name: str, src: list[str], dst: list[str], action: Action) -> XRule:
    return XRule(name, src, dst, None, None, None, False, action, True, False, "twin default")


def _block(out: list[str], path: str, entries: dict[str, list[str]]) -> None:
    if not entries:
        return
    out.append(f"config {path}")
    for name, members in entries.items():
        out += [f"    edit {_q(name)}", f"        set member {_qs(members)}", "    next"]
    out.append("end")


def _name(name: str, taken: set[str]) -> str:
    out, n = name[:MAX_POLICY_NAME], 1
    while out in taken:
        n += 1
        out = f"{name[: MAX_POLICY_NAME - len(str(n)) - 1]}-{n}"
    taken.add(out)
    return out


def _port(index: int) -> str:
    return f"port{index}"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _qs(values: list[str]) -> str:
    return " ".join(_q(v) for v in values)
