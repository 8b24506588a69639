"""The plan's types: everything derived from a validated Policy (addresses, nodes, links, chains,
verdicts), as `twin.plan.build` makes it.

Pure. The renderers only print what is here; the runtimes only build what is here; the verifier
predicts every probe's verdict from `decide`, which reads the rules, not the chains.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from twin.images.recipe import node_tag
from twin.lab.names import node_id
from twin.policy.model import (
    INTERZONE_DEFAULT,
    INTRAZONE_DEFAULT,
    Action,
    FirewallKind,
    Policy,
)
from twin.policy.resolve import (
    IPAddr,
    IPNet,
    IPv4Net,
    IPv6Net,
    PortRange,
)

IPv4 = ipaddress.IPv4Address
IPv6 = ipaddress.IPv6Address
NFLOG_GROUP = 1


@dataclass(frozen=True)
class ZonePlan:
    name: str
    index: int
    subnet: IPv4Net | None  # None: the zone has IPv6 only
    gateway: IPv4 | None
    bridge: str  # the firewall's one interface for this zone
    ports: tuple[str, ...]  # firewall-side veth ends, one per host, enslaved to the bridge
    flat: bool = False  # `segment: flat`: ports not isolated, no proxy ARP; L2 between hosts
    subnet6: IPv6Net | None = None
    gateway6: IPv6 | None = None

    @property
    def nets(self) -> tuple[IPNet, ...]:
        """The zone's subnets, IPv4 first."""
        return tuple(n for n in (self.subnet, self.subnet6) if n is not None)

    @property
    def families(self) -> tuple[int, ...]:
        return tuple(n.version for n in self.nets)


@dataclass(frozen=True)
class HostPlan:
    name: str
    zone: str
    address: IPv4 | None  # None: the host (its zone) has IPv6 only
    gateway: IPv4 | None
    prefixlen: int
    fw_port: str  # the firewall interface this host is wired to
    address6: IPv6 | None = None
    gateway6: IPv6 | None = None
    prefixlen6: int = 64

    @property
    def interface(self) -> str:
        return "eth1"

    @property
    def addresses(self) -> tuple[IPAddr, ...]:
        return tuple(a for a in (self.address, self.address6) if a is not None)

    @property
    def families(self) -> tuple[int, ...]:
        return tuple(a.version for a in self.addresses)

    def addr(self, family: int) -> IPAddr:
        """The host's address in `family` (it must have one)."""
        found = self.address if family == 4 else self.address6
        if found is None:
            raise ValueError(f"host {self.name} has no IPv{family} address")
        return found


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
    sources: tuple[IPNet, ...] | None  # None = the whole zone (every family)
    destinations: tuple[IPNet, ...] | None
    services: tuple[PortRange, ...] | None  # None = any protocol at all
    scope: str = "rule"  # "rule"; for the two defaults "intrazone" / "interzone"; "flat"

    @property
    def default(self) -> bool:
        return self.scope != "rule"

    @property
    def flat(self) -> bool:
        """The flat-segment pseudo rule: the flow never crosses the firewall."""
        return self.scope == "flat"

    def applies(self, src_zone: str, dst_zone: str) -> bool:
        """Does the rule cover this zone pair (before looking at addresses and ports)?"""
        if self.scope == "flat" and src_zone != dst_zone:
            return False
        if self.scope in ("intrazone", "interzone") and (self.scope == "intrazone") != (
            src_zone == dst_zone
        ):
            return False
        return src_zone in self.src_zones and dst_zone in self.dst_zones

    def matches(self, src: IPAddr, dst: IPAddr, proto: str, port: int) -> bool:
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
    saddr: tuple[IPNet, ...] | None
    daddr: tuple[IPNet, ...] | None
    ports: tuple[PortRange, ...]  # tcp/udp ranges (empty: no port match)
    icmp: bool  # the rule also matches icmp (IPv4's echo)
    any_proto: bool  # no protocol match at all
    icmp6: bool = False  # the rule also matches icmpv6

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
    flat_rule: RulePlan | None = None  # decides every flow inside a flat zone (no firewall)
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
        return node_id(self.lab, node)

    @property
    def nodes(self) -> tuple[str, ...]:
        return (self.firewall, *(h.name for h in self.hosts))

    @property
    def lab_subnets(self) -> list[str]:
        """Every zone subnet, both families: where probes may go (`check_targets`)."""
        return [str(n) for z in self.zones for n in z.nets]

    @property
    def dual_stack(self) -> bool:
        """Does any zone have IPv6? Then every node runs IPv6 (else it is switched off)."""
        return any(z.subnet6 is not None for z in self.zones)

    def chain_for(self, src_zone: str, dst_zone: str) -> str:
        if not self.chain_names and self.chains:
            self.chain_names.update({(c.src_zone, c.dst_zone): c.name for c in self.chains})
        default = INTRAZONE_DEFAULT if src_zone == dst_zone else INTERZONE_DEFAULT
        return self.chain_names.get((src_zone, dst_zone), default)

    @property
    def flat_zones(self) -> frozenset[str]:
        return frozenset(z.name for z in self.zones if z.flat)

    def decide(self, src: str, dst: str, proto: str, port: int, family: int = 4) -> RulePlan:
        """First match of the rulebase for a flow between two hosts over `family` (both must
        have an address in it): the policy's own answer."""
        s, d = self.by_host[src], self.by_host[dst]
        a, b = s.addr(family), d.addr(family)
        for rule in self.by_pair[(s.zone, d.zone)]:
            if rule.matches(a, b, proto, port):
                return rule
        raise AssertionError("the defaults match every flow")
