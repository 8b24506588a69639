"""plan: a validated Policy → a Plan (addresses, nodes, links, rules, chains). Pure."""

from __future__ import annotations

from collections.abc import Iterable

from twin.firewalls.table import firewall_of
from twin.images.recipe import node_tag
from twin.plan.plan import ChainPlan, ChainRule, HostPlan, LinkPlan, Plan, RulePlan, ZonePlan
from twin.policy.model import (
    FLAT_SEGMENT,
    INTERZONE_DEFAULT,
    INTRAZONE_DEFAULT,
    Action,
    Enforcement,
    Policy,
    Segment,
)
from twin.policy.resolve import (
    IPNet,
    collapse,
    gateway,
    gateway6,
    host_addresses,
    merge_ranges,
    resolve_address,
    resolve_service,
    zone_refs,
)


def build_plan(policy: Policy) -> Plan:
    zones, hosts, links = _layout(policy)
    rules = _rules(policy)
    zone_nets = {z.name: z.nets for z in zones}
    flat = frozenset(z.name for z in zones if z.flat)
    if policy.firewall.enforcement is not Enforcement.central:
        # each host enforces its own rules: traffic that never crosses the firewall (inside a
        # flat zone) still meets the rules of both its hosts
        flat = frozenset()
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
        flat_rule=flat_rule(flat, len(policy.rules) + 2) if flat else None,
    )
    plan.by_host.update({h.name: h for h in hosts})
    plan.by_zone.update({z.name: z for z in zones})
    pairs: dict[tuple[str, str], list[RulePlan]] = {}
    for rule in rules:
        for src in rule.src_zones:
            for dst in rule.dst_zones:
                if rule.applies(src, dst):
                    pairs.setdefault((src, dst), []).append(rule)
    if plan.flat_rule is not None:  # before every rule: the flow never reaches the firewall
        for zone in flat:
            pairs[(zone, zone)].insert(0, plan.flat_rule)
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
        bridge = firewall_of(policy.firewall.kind).bridge(zname, index)
        gw, gw6 = gateway(policy, zname), gateway6(policy, zname)
        prefix = zone.subnet.prefixlen if zone.subnet is not None else 0
        prefix6 = zone.subnet6.prefixlen if zone.subnet6 is not None else 64
        ports: list[str] = []
        for host in zone.hosts:
            port += 1
            fw_port = f"eth{port}"
            ports.append(fw_port)
            a = addresses[host.name]
            hosts.append(HostPlan(host.name, zname, a.v4, gw, prefix, fw_port, a.v6, gw6, prefix6))
            links.append(LinkPlan(policy.firewall.name, fw_port, host.name, "eth1"))
        flat = zone.segment is Segment.flat
        zones.append(
            ZonePlan(zname, index, zone.subnet, gw, bridge, tuple(ports), flat, zone.subnet6, gw6)
        )
    return tuple(zones), tuple(hosts), tuple(links)


def _rules(policy: Policy) -> tuple[RulePlan, ...]:
    hosts = host_addresses(policy)
    out: list[RulePlan] = []

    def nets(refs: list[str] | None) -> tuple[IPNet, ...] | None:
        if refs is None:
            return None
        return collapse(n for ref in refs for n in resolve_address(policy, ref, hosts))

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


def flat_rule(zones: frozenset[str], index: int) -> RulePlan:
    """The pseudo rule of flows inside flat zones (after the defaults in rule order)."""
    allow = Action.allow
    return RulePlan(FLAT_SEGMENT, index, allow, False, zones, zones, None, None, None, "flat")


def _chains(
    policy: Policy, rules: tuple[RulePlan, ...], zone_nets: dict[str, tuple[IPNet, ...]]
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


def _narrow(
    rule: RulePlan, src_nets: tuple[IPNet, ...], dst_nets: tuple[IPNet, ...]
) -> Iterable[ChainRule]:
    """The rule inside one zone pair; nothing when its addresses miss the pair's subnets."""
    saddr = _within(rule.sources, src_nets)
    daddr = _within(rule.destinations, dst_nets)
    if saddr == () or daddr == ():
        return
    services = rule.services
    if services is None:
        yield ChainRule(rule, saddr, daddr, (), False, True)
        return
    ports = tuple(s for s in services if s.proto not in ("icmp", "icmpv6"))
    icmp = any(s.proto == "icmp" for s in services)
    icmp6 = any(s.proto == "icmpv6" for s in services)
    yield ChainRule(rule, saddr, daddr, ports, icmp, False, icmp6)


def _within(nets: tuple[IPNet, ...] | None, zone: tuple[IPNet, ...]) -> tuple[IPNet, ...] | None:
    """`nets` ∩ the zone's subnets: None when that is the whole zone (every family), () when
    empty."""
    if nets is None:
        return None
    inside: list[IPNet] = []
    whole = 0
    for z in zone:
        for n in nets:
            if n.version != z.version:
                continue
            if z.subnet_of(n):  # type: ignore[arg-type]  # same family, checked above
                inside.append(z)
                whole += 1
                break
            if n.subnet_of(z):  # type: ignore[arg-type]
                inside.append(n)
    return None if whole == len(zone) else tuple(inside)
