"""plan: a validated Policy → everything derived (addresses, nodes, links, chains, verdicts).

Pure. The renderers only print what is here; the runtimes only build what is here; the verifier
predicts every probe's verdict from `decide`, which reads the rules, not the chains.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from twin.images.recipe import node_tag
from twin.policy.model import Action, FirewallKind, Policy
from twin.policy.resolve import (
    IPv4Net,
    PortRange,
    gateway,
    host_addresses,
    merge_ranges,
    resolve_address,
    resolve_service,
    zone_refs,
)

IPv4 = ipaddress.IPv4Address
NFLOG_GROUP = 1
INTERZONE_DEFAULT = "interzone-default"
INTRAZONE_DEFAULT = "intrazone-default"
ANTI_SPOOFING = "anti-spoofing"
CT_INVALID = "ct-invalid"


@dataclass(frozen=True)
class ZonePlan:
    name: str
    index: int
    subnet: IPv4Net
    gateway: IPv4
    bridge: str  # the firewall's one interface for this zone
    ports: tuple[str, ...]  # firewall-side veth ends, one per host, enslaved to the bridge


@dataclass(frozen=True)
class HostPlan:
    name: str
    zone: str
    address: IPv4
    gateway: IPv4
    prefixlen: int
    fw_port: str  # the firewall interface this host is wired to

    @property
    def interface(self) -> str:
        return "eth1"


@dataclass(frozen=True)
class LinkPlan:
    a_node: str
    a_iface: str
    b_node: str
    b_iface: str

    @property
    def endpoints(self) -> tuple[str, str]:
        return (f"{self.a_node}:{self.a_iface}", f"{self.b_node}:{self.b_iface}")


@dataclass(frozen=True)
class RulePlan:
    """One policy rule (or a default) with every reference resolved."""

    name: str
    index: int  # position in the rulebase; defaults come last
    action: Action
    log: bool
    src_zones: frozenset[str]
    dst_zones: frozenset[str]
    sources: tuple[IPv4Net, ...] | None  # None = the whole zone
    destinations: tuple[IPv4Net, ...] | None
    services: tuple[PortRange, ...] | None  # None = any protocol at all
    scope: str = "rule"  # "rule", or for the two defaults "intrazone" / "interzone"

    @property
    def default(self) -> bool:
        return self.scope != "rule"

    def applies(self, src_zone: str, dst_zone: str) -> bool:
        """Does the rule cover this zone pair (before looking at addresses and ports)?"""
        if self.scope != "rule" and (self.scope == "intrazone") != (src_zone == dst_zone):
            return False
        return src_zone in self.src_zones and dst_zone in self.dst_zones

    def matches(self, src: IPv4, dst: IPv4, proto: str, port: int) -> bool:
        return (
            (self.sources is None or any(src in n for n in self.sources))
            and (self.destinations is None or any(dst in n for n in self.destinations))
            and (
                self.services is None
                or any(s.proto == proto and s.lo <= port <= s.hi for s in self.services)
            )
        )


@dataclass(frozen=True)
class ChainRule:
    """A rule as it sits in one zone-pair chain: addresses narrowed to the pair's subnets."""

    rule: RulePlan
    saddr: tuple[IPv4Net, ...] | None
    daddr: tuple[IPv4Net, ...] | None
    ports: tuple[PortRange, ...]  # tcp/udp ranges (empty: no port match)
    icmp: bool  # the rule also matches icmp
    any_proto: bool  # no protocol match at all

    @property
    def catch_all(self) -> bool:
        return self.any_proto and self.saddr is None and self.daddr is None


@dataclass(frozen=True)
class ChainPlan:
    name: str
    src_zone: str
    dst_zone: str
    rules: tuple[ChainRule, ...]


@dataclass(frozen=True)
class Plan:
    lab: str
    policy: Policy
    firewall: str
    firewall_kind: FirewallKind
    image: str  # the firewall's image: the node image unless the policy names one
    zones: tuple[ZonePlan, ...]
    hosts: tuple[HostPlan, ...]
    links: tuple[LinkPlan, ...]
    rules: tuple[RulePlan, ...]  # policy order, then the two defaults
    chains: tuple[ChainPlan, ...]  # one per zone pair that has a rule of its own
    nflog_group: int = NFLOG_GROUP
    host_image: str = field(default_factory=node_tag)  # every host runs the node image
    by_host: dict[str, HostPlan] = field(default_factory=dict, compare=False, repr=False)
    by_zone: dict[str, ZonePlan] = field(default_factory=dict, compare=False, repr=False)
    by_pair: dict[tuple[str, str], tuple[RulePlan, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )  # (src zone, dst zone) → the rules that can apply to it, in order, default last
    chain_names: dict[tuple[str, str], str] = field(default_factory=dict, compare=False, repr=False)

    def node_id(self, node: str) -> str:
        """containerlab's name for a node: container name, namespace name."""
        return f"clab-{self.lab}-{node}"

    @property
    def nodes(self) -> tuple[str, ...]:
        return (self.firewall, *(h.name for h in self.hosts))

    def chain_for(self, src_zone: str, dst_zone: str) -> str:
        if not self.chain_names and self.chains:
            self.chain_names.update({(c.src_zone, c.dst_zone): c.name for c in self.chains})
        default = INTRAZONE_DEFAULT if src_zone == dst_zone else INTERZONE_DEFAULT
        return self.chain_names.get((src_zone, dst_zone), default)

    def decide(self, src: str, dst: str, proto: str, port: int) -> RulePlan:
        """First match of the rulebase for a flow between two hosts: the policy's own answer."""
        s, d = self.by_host[src], self.by_host[dst]
        for rule in self.by_pair[(s.zone, d.zone)]:
            if rule.matches(s.address, d.address, proto, port):
                return rule
        raise AssertionError("the defaults match every flow")


def build_plan(policy: Policy) -> Plan:
    zones, hosts, links = _layout(policy)
    rules = _rules(policy)
    zone_nets = {z.name: z.subnet for z in zones}
    plan = Plan(
        lab=policy.name,
        policy=policy,
        firewall=policy.firewall.name,
        firewall_kind=policy.firewall.kind,
        image=policy.firewall.image or node_tag(),
        zones=zones,
        hosts=hosts,
        links=links,
        rules=rules,
        chains=_chains(policy, rules, zone_nets),
    )
    plan.by_host.update({h.name: h for h in hosts})
    plan.by_zone.update({z.name: z for z in zones})
    pairs: dict[tuple[str, str], list[RulePlan]] = {}
    for rule in rules:
        for src in rule.src_zones:
            for dst in rule.dst_zones:
                if rule.applies(src, dst):
                    pairs.setdefault((src, dst), []).append(rule)
    plan.by_pair.update({pair: tuple(rs) for pair, rs in pairs.items()})
    return plan


def _layout(
    policy: Policy,
) -> tuple[tuple[ZonePlan, ...], tuple[HostPlan, ...], tuple[LinkPlan, ...]]:
    addresses = host_addresses(policy)
    zones: list[ZonePlan] = []
    hosts: list[HostPlan] = []
    links: list[LinkPlan] = []
    port = 0
    for index, (zname, zone) in enumerate(policy.zones.items(), start=1):
        bridge = f"br-{zname}" if len(zname) <= 12 else f"brz{index}"
        if policy.firewall.kind is FirewallKind.vyos:
            bridge = f"br{index}"  # VyOS names its bridges brN
        gw = gateway(policy, zname)
        ports: list[str] = []
        for host in zone.hosts:
            port += 1
            fw_port = f"eth{port}"
            ports.append(fw_port)
            hosts.append(
                HostPlan(
                    host.name, zname, addresses[host.name][1], gw, zone.subnet.prefixlen, fw_port
                )
            )
            links.append(LinkPlan(policy.firewall.name, fw_port, host.name, "eth1"))
        zones.append(ZonePlan(zname, index, zone.subnet, gw, bridge, tuple(ports)))
    return tuple(zones), tuple(hosts), tuple(links)


def _rules(policy: Policy) -> tuple[RulePlan, ...]:
    hosts = host_addresses(policy)
    out: list[RulePlan] = []

    def nets(refs: list[str] | None) -> tuple[IPv4Net, ...] | None:
        if refs is None:
            return None
        found = [n for ref in refs for n in resolve_address(policy, ref, hosts)]
        return tuple(ipaddress.collapse_addresses(found))

    for index, rule in enumerate(policy.rules):
        if rule.disabled:
            continue
        services = None
        if rule.services is not None and "any" not in rule.services:
            services = merge_ranges([r for s in rule.services for r in resolve_service(policy, s)])
        out.append(
            RulePlan(
                name=rule.name,
                index=index,
                action=rule.action,
                log=rule.log,
                src_zones=frozenset(zone_refs(policy, rule.from_)),
                dst_zones=frozenset(zone_refs(policy, rule.to)),
                sources=nets(rule.source),
                destinations=nets(rule.destination),
                services=services,
            )
        )
    every = frozenset(policy.zones)
    n = len(policy.rules)
    out.append(_default(INTRAZONE_DEFAULT, n, policy.defaults.intrazone, every, intra=True))
    out.append(_default(INTERZONE_DEFAULT, n + 1, policy.defaults.interzone, every, intra=False))
    return tuple(out)


def _default(name: str, index: int, action: Action, zones: frozenset[str], intra: bool) -> RulePlan:
    scope = "intrazone" if intra else "interzone"
    return RulePlan(name, index, action, True, zones, zones, None, None, None, scope)


def _chains(
    policy: Policy, rules: tuple[RulePlan, ...], zone_nets: dict[str, IPv4Net]
) -> tuple[ChainPlan, ...]:
    chains: list[ChainPlan] = []
    by_pair: dict[tuple[str, str], list[RulePlan]] = {}  # each pair's rules, in order
    for rule in rules:
        for src in rule.src_zones:
            for dst in rule.dst_zones:
                by_pair.setdefault((src, dst), []).append(rule)
    for src in policy.zones:
        for dst in policy.zones:
            own: list[ChainRule] = []
            for rule in by_pair[(src, dst)]:
                if not rule.applies(src, dst):
                    continue
                if rule.default:
                    own.append(ChainRule(rule, None, None, (), False, True))
                    break
                own.extend(_narrow(rule, zone_nets[src], zone_nets[dst]))
                if own and own[-1].catch_all:
                    break  # what follows can never match in this chain
            if not (len(own) == 1 and own[0].rule.default):  # else: the shared default chain
                chains.append(ChainPlan(f"{src}/{dst}", src, dst, tuple(own)))
    return tuple(chains)


def _narrow(rule: RulePlan, src_net: IPv4Net, dst_net: IPv4Net) -> Iterable[ChainRule]:
    """The rule inside one zone pair; nothing when its addresses miss the pair's subnets."""
    saddr = _within(rule.sources, src_net)
    daddr = _within(rule.destinations, dst_net)
    if saddr == () or daddr == ():
        return
    services = rule.services
    if services is None:
        yield ChainRule(rule, saddr, daddr, (), False, True)
        return
    ports = tuple(s for s in services if s.proto != "icmp")
    icmp = any(s.proto == "icmp" for s in services)
    yield ChainRule(rule, saddr, daddr, ports, icmp, False)


def _within(nets: tuple[IPv4Net, ...] | None, zone: IPv4Net) -> tuple[IPv4Net, ...] | None:
    """`nets` ∩ `zone`: None when that is the whole zone, () when empty."""
    if nets is None:
        return None
    inside: list[IPv4Net] = []
    for n in nets:
        if zone.subnet_of(n):
            return None
        if n.subnet_of(zone):
            inside.append(n)
    return tuple(inside)
