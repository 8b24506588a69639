"""A twin policy as VyOS 1.4 `set` commands (zone-based firewall).

Printed from the plan's zone-pair chains, the same ones the nftables renderer prints: one
`firewall ipv4 name <src>-<dst>` ruleset per zone pair, applied with `firewall zone <dst> from
<src>` (and `intra-zone-filtering` for the pair of a zone with itself); pairs without rules of
their own get the default's action as their ruleset's `default-action`. Zone `i` is `eth<i>`.
Until the VyOS renderer for the twin's own VyOS nodes exists (templates/vyos/), this module is
the one place that writes VyOS syntax; that renderer can call `to_set` or replace it.
"""

from __future__ import annotations

from twin.model import Action
from twin.objects import PortRange
from twin.plan import INTERZONE_DEFAULT, INTRAZONE_DEFAULT, ChainRule, Plan

ACTIONS = {Action.allow: "accept", Action.deny: "drop", Action.reject: "reject"}


def to_set(plan: Plan, source: str) -> str:
    out = [f"# VyOS 1.4 configuration exported by twin from {source}"]
    add = out.append
    add("set firewall global-options state-policy established action accept")
    add("set firewall global-options state-policy related action accept")
    add("set firewall global-options state-policy invalid action drop")
    for z in plan.zones:
        add(f"set interfaces ethernet eth{z.index} address {z.gateway}/{z.subnet.prefixlen}")
        add(f"set interfaces ethernet eth{z.index} description 'zone {z.name}'")
    groups: dict[tuple[str, ...], str] = {}
    rules_out: list[str] = []
    defaults = {r.name: r for r in plan.rules if r.default}
    for src in plan.zones:
        for dst in plan.zones:
            name = f"{src.name}-{dst.name}"[:28]
            chain = next(
                (c for c in plan.chains if (c.src_zone, c.dst_zone) == (src.name, dst.name)), None
            )
            base = f"set firewall ipv4 name {name}"
            default = defaults[INTRAZONE_DEFAULT if src is dst else INTERZONE_DEFAULT]
            number = 0
            for cr in chain.rules if chain else ():
                if cr.rule.default:
                    default = cr.rule
                    continue
                for match in _matches(cr, groups, rules_out):
                    number += 10
                    rules_out.append(f"{base} rule {number} action {ACTIONS[cr.rule.action]}")
                    rules_out.append(f"{base} rule {number} description '{cr.rule.name}'")
                    rules_out.extend(f"{base} rule {number} {m}" for m in match)
                    if cr.rule.log:
                        rules_out.append(f"{base} rule {number} log")
            rules_out.append(f"{base} default-action {ACTIONS[default.action]}")
            if default.log:
                rules_out.append(f"{base} default-log")
            if src is dst:
                rules_out.append(
                    f"set firewall zone {dst.name} intra-zone-filtering firewall name {name}"
                )
            else:
                rules_out.append(
                    f"set firewall zone {dst.name} from {src.name} firewall name {name}"
                )
    out.extend(rules_out)
    for z in plan.zones:
        add(f"set firewall zone {z.name} interface eth{z.index}")
        add(f"set firewall zone {z.name} default-action drop")
    return "\n".join(out) + "\n"


def _matches(cr: ChainRule, groups: dict[tuple[str, ...], str], out: list[str]) -> list[list[str]]:
    """The rule's match lines, one list per VyOS rule (one per protocol when ports differ)."""
    addr: list[str] = []
    for side, nets in (("source", cr.saddr), ("destination", cr.daddr)):
        if nets is None:
            continue
        if len(nets) == 1:
            addr.append(f"{side} address {nets[0]}")
        else:
            key = tuple(str(n) for n in nets)
            if key not in groups:
                groups[key] = f"twin-net-{len(groups) + 1}"
                out.extend(
                    f"set firewall group network-group {groups[key]} network {n}" for n in key
                )
            addr.append(f"{side} group network-group {groups[key]}")
    if cr.any_proto:
        return [addr]
    found: list[list[str]] = []
    for proto in ("tcp", "udp"):
        ranges = [r for r in cr.ports if r.proto == proto]
        if ranges:
            found.append([*addr, f"protocol {proto}", f"destination port {_ports(ranges)}"])
    if cr.icmp:
        found.append([*addr, "protocol icmp"])
    return found


def _ports(ranges: list[PortRange]) -> str:
    return ",".join(str(r.lo) if r.lo == r.hi else f"{r.lo}-{r.hi}" for r in ranges)
