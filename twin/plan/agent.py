"""What each host enforces when the policy is enforced on the hosts (`firewall: {enforcement:
host}` or `both`), as an agent (Illumio, Guardicore, NSX) would program it. Pure.

Outbound, a host keeps the rules of each zone pair it sends to whose source covers it;
inbound, the rules of each pair it receives from whose destination covers it. Both keep the
rule base's order and end in the pair's default, so for one flow the source's outbound chain
and the destination's inbound chain reach the same first match as the central firewall
(`Plan.decide`): a rule left out on a host is one that matches no flow the host sends (or
receives). A flow passes only if both ends pass it; a blocked flow is stopped, and logged, by
its source already.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from twin.plan.plan import ChainRule, HostPlan, Plan, RulePlan
from twin.policy.model import Enforcement
from twin.policy.resolve import IPAddr, IPNet

OUT, IN = "out", "in"


@dataclass(frozen=True)
class AgentChain:
    """The rules a host applies to flows with one zone at the other end."""

    direction: str  # out | in
    zone: str  # the zone at the other end
    nets: tuple[IPNet, ...]  # its subnets (the dispatch keys), IPv4 first
    rules: tuple[ChainRule, ...]  # in rule-base order; the last one matches every flow
    shared: str  # the shared default chain it jumps to instead ("" when it has rules of its own)

    @property
    def name(self) -> str:
        """The nft chain: `out/<zone>` or `in/<zone>` (a zone name holds no '/')."""
        return self.shared or f"{self.direction}/{self.zone}"


@dataclass(frozen=True)
class AgentPlan:
    host: HostPlan
    outbound: tuple[AgentChain, ...]  # by destination zone, in zone order
    inbound: tuple[AgentChain, ...]  # by source zone
    gateways: tuple[IPAddr, ...]  # the central router's addresses: not a workload

    def dispatch(self, direction: str, family: int) -> list[tuple[IPNet, str]]:
        """(subnet of `family`, chain) for every zone at the other end."""
        chains = self.outbound if direction == OUT else self.inbound
        return [(n, c.name) for c in chains for n in c.nets if n.version == family]


def enforced_by_hosts(plan: Plan) -> bool:
    return plan.policy.firewall.enforcement is not Enforcement.central


def enforced_centrally(plan: Plan) -> bool:
    return plan.policy.firewall.enforcement is not Enforcement.host


def enforcing_nodes(plan: Plan) -> tuple[str, ...]:
    """Every node whose rules decide flows (and log them)."""
    hosts = tuple(h.name for h in plan.hosts) if enforced_by_hosts(plan) else ()
    return ((plan.firewall,) if enforced_centrally(plan) else ()) + hosts


def path_of(plan: Plan, src: str, dst: str) -> tuple[str, ...]:
    """The nodes that judge a flow from host `src` to host `dst`, in the order it meets them."""
    hosts = enforced_by_hosts(plan)
    zone = plan.by_host[src].zone
    inside = zone == plan.by_host[dst].zone and plan.by_zone[zone].flat  # L2: no firewall
    return (
        *((src,) if hosts else ()),
        *((plan.firewall,) if enforced_centrally(plan) and not inside else ()),
        *((dst,) if hosts else ()),
    )


def agent_plan(plan: Plan, host: str) -> AgentPlan:
    me = plan.by_host[host]
    pairs = {(c.src_zone, c.dst_zone): c for c in plan.chains}
    defaults = {r.scope: r for r in plan.rules if r.default}
    out: list[AgentChain] = []
    inn: list[AgentChain] = []
    for z in plan.zones:
        for direction, pair in ((OUT, (me.zone, z.name)), (IN, (z.name, me.zone))):
            chain = pairs.get(pair)
            if chain is None:
                scope = "intrazone" if pair[0] == pair[1] else "interzone"
                rules: tuple[ChainRule, ...] = (_default(defaults[scope]),)
            else:
                rules = _mine(chain.rules, me, direction)
            shared = rules[0].rule.name if len(rules) == 1 and rules[0].rule.default else ""
            found = AgentChain(direction, z.name, z.nets, rules, shared)
            (out if direction == OUT else inn).append(found)
    gateways = tuple(g for z in plan.zones for g in (z.gateway, z.gateway6) if g is not None)
    return AgentPlan(me, tuple(out), tuple(inn), gateways)


def _default(rule: RulePlan) -> ChainRule:
    return ChainRule(rule, None, None, (), False, True)


def _mine(rules: tuple[ChainRule, ...], me: HostPlan, direction: str) -> tuple[ChainRule, ...]:
    """The pair's rules that can match a flow `me` sends (out) or receives (in); after one that
    matches every such flow, nothing."""
    kept: list[ChainRule] = []
    for cr in rules:
        own, other = (cr.saddr, cr.daddr) if direction == OUT else (cr.daddr, cr.saddr)
        if own is not None and not any(_inside(a, own) for a in me.addresses):
            continue
        kept.append(cr)
        if cr.any_proto and other is None:
            break
    return tuple(kept)


def first_match(chain: AgentChain, src: str, dst: str, proto: str, port: int) -> RulePlan:
    """The rule the chain applies to one flow, read from what the host is given (its narrowed
    addresses, ports and protocols): what the kernel does with the rendered chain."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    for cr in chain.rules:
        if cr.saddr is not None and not _inside(s, cr.saddr):
            continue
        if cr.daddr is not None and not _inside(d, cr.daddr):
            continue
        if (
            cr.any_proto
            or (proto == "icmp" and cr.icmp and s.version == 4)
            or (proto == "icmpv6" and cr.icmp6 and s.version == 6)
            or any(r.proto == proto and r.lo <= port <= r.hi for r in cr.ports)
        ):
            return cr.rule
    raise AssertionError(f"chain {chain.name} matched nothing: its last rule matches every flow")


def _inside(addr: IPAddr, nets: tuple[IPNet, ...]) -> bool:
    """`addr` in one of `nets` of its own family (an IPv4 address is in no IPv6 net)."""
    return any(n.version == addr.version and addr in n for n in nets)
