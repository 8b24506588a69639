"""nftables: render the plan as one `inet twin` table (dispatch by zone pair, a counter and the
rule's name on every rule, NFLOG on every rule)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twin.firewalls.base import TemplateSet
from twin.plan.plan import ANTI_SPOOFING, CT_INVALID, ChainRule, Plan
from twin.policy.model import Action
from twin.policy.resolve import IPv4Net, PortRange

NFT_VERDICT = {
    Action.allow: "accept",
    Action.deny: "drop",
    Action.reject: "reject with icmpx admin-prohibited",
}


@dataclass(frozen=True)
class _NftRule:
    name: str
    match: str  # nft match expressions, ending in a space when not empty
    verdict: str


def render_nftables(t: TemplateSet, plan: Plan, source: str) -> str:
    bridge = {z.name: z.bridge for z in plan.zones}
    dispatch = [
        {"src": bridge[a.name], "dst": bridge[b.name], "chain": plan.chain_for(a.name, b.name)}
        for a in plan.zones
        for b in plan.zones
    ]
    defaults = [_NftRule(r.name, "", NFT_VERDICT[r.action]) for r in plan.rules if r.default]
    chains = [
        {"name": c.name, "rules": [line for cr in c.rules for line in _nft_rules(cr)]}
        for c in plan.chains
    ]
    return t.render(
        "nftables/ruleset.nft.j2",
        lab=plan.lab,
        source=source,
        group=plan.nflog_group,
        zones=plan.zones,
        anti_spoofing=ANTI_SPOOFING,
        ct_invalid=CT_INVALID,
        dispatch=dispatch,
        defaults=defaults,
        chains=chains,
    )


SET_THRESHOLD = 8  # up to this many nft rules for one policy rule; past it, anonymous sets


def _nft_rules(cr: ChainRule) -> list[_NftRule]:
    """One policy rule in one chain → its nft rule(s), all carrying the rule's name (counters
    and log records add up per name). A few values become one nft rule each: an anonymous set
    costs the kernel ~1 ms to create (10,000 rules: 9.5 s to load with sets, 1 s without).
    Past SET_THRESHOLD rules, each list becomes one set, one nft rule per protocol."""
    verdict, name = NFT_VERDICT[cr.rule.action], cr.rule.name
    icmp = ["meta l4proto icmp "] if cr.icmp and not cr.any_proto else []
    values = {p: _port_values(_of(cr.ports, p)) for p in ("tcp", "udp")}
    single = [_l4(p, [v]) for p in values for v in values[p]] + icmp
    grouped = [_l4(p, vs) for p, vs in values.items() if vs] + icmp
    if cr.any_proto:
        single = grouped = [""]
    sources, dests = _addrs("saddr", cr.saddr), _addrs("daddr", cr.daddr)
    if len(sources) * len(dests) * len(single) <= SET_THRESHOLD:
        return [_NftRule(name, s + d + m, verdict) for m in single for s in sources for d in dests]
    addr = _addr("saddr", cr.saddr) + _addr("daddr", cr.daddr)
    return [_NftRule(name, addr + m, verdict) for m in grouped]


def _l4(proto: str, values: list[str]) -> str:
    return f"meta l4proto {proto} " if values == [""] else f"{proto} dport {_set(values)} "


def _of(ranges: tuple[PortRange, ...], proto: str) -> list[PortRange]:
    return [r for r in ranges if r.proto == proto]


def _port_values(ranges: list[PortRange]) -> list[str]:
    """Ports and ranges as nft writes them; [''] is the whole protocol, [] none of it."""
    if any((r.lo, r.hi) == (1, 65535) for r in ranges):
        return [""]
    return [str(r.lo) if r.lo == r.hi else f"{r.lo}-{r.hi}" for r in ranges]


def _addrs(field: str, nets: tuple[IPv4Net, ...] | None) -> list[str]:
    """One match per network ('' when the whole zone)."""
    return [_addr(field, (n,)) for n in nets] if nets else [""]


def _addr(field: str, nets: tuple[IPv4Net, ...] | None) -> str:
    if nets is None:
        return ""
    return (
        f"ip {field} {_set(str(n) if n.prefixlen < 32 else str(n.network_address) for n in nets)} "
    )


def _set(items: Any) -> str:
    values = list(items)
    return values[0] if len(values) == 1 else "{ " + ", ".join(values) + " }"
