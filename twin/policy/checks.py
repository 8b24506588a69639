"""Cross-reference checks of a policy the model accepted: overlaps, names, references, intent."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from twin.policy.model import (
    RESERVED_NAMES,
    RESERVED_RULES,
    SERVICE_WORDS,
    Enforcement,
    Policy,
    Rule,
    Segment,
    Zone,
)
from twin.policy.resolve import (
    End,
    HostAddr,
    IPAddr,
    IPNet,
    Unresolved,
    families_of,
    gateway,
    gateway6,
    host_addresses,
    intent_end,
    resolve_address,
    resolve_service,
    zone_addresses,
    zone_refs,
)
from twin.policy.source import Path_

Found = tuple[Path_, str, str]


def check_policy(policy: Policy) -> list[Found]:
    """Cross-reference checks; returns (path, message, hint) for every problem."""
    return [
        *_check_zones(policy),
        *_check_names(policy),
        *_check_objects(policy),
        *_check_rules(policy),
        *_check_expect(policy),
    ]


def _check_zones(policy: Policy) -> Iterator[Found]:
    zones = list(policy.zones.items())
    for (an, a), (bn, b) in itertools.combinations(zones, 2):
        for key, x, y in (("subnet", a.subnet, b.subnet), ("subnet6", a.subnet6, b.subnet6)):
            if x is not None and y is not None and x.overlaps(y):
                yield (
                    ("zones", bn, key),
                    f"{y} overlaps zone {an!r} ({x})",
                    "give every zone its own subnet",
                )
    seen_host: dict[str, str] = {}
    for zn, zone in zones:
        addrs = zone_addresses(zn, zone)
        for i, host in enumerate(zone.hosts):
            if host.name in seen_host:
                yield (
                    ("zones", zn, "hosts", i, "name"),
                    f"duplicate host {host.name!r} (also in zone {seen_host[host.name]!r})",
                    "host names are unique across zones",
                )
            seen_host[host.name] = zn
        for suffix, net, gw in (
            ("", zone.subnet, gateway(policy, zn)),
            ("6", zone.subnet6, gateway6(policy, zn)),
        ):
            if net is None:
                yield from _no_family(zn, zone, suffix)
                continue
            own = [
                (h.name, getattr(h, f"address{suffix}"), _of(a, suffix))
                for h, a in zip(zone.hosts, addrs, strict=True)
            ]
            yield from _check_family(zn, net, gw, getattr(zone, f"gateway{suffix}"), own)


def _of(addr: HostAddr, suffix: str) -> IPAddr | None:
    return addr.v6 if suffix else addr.v4


def _no_family(zn: str, zone: Zone, suffix: str) -> Iterator[Found]:
    """An address of a family the zone has no subnet of."""
    subnet_key = f"subnet{suffix}"
    if getattr(zone, f"gateway{suffix}") is not None:
        yield (("zones", zn, f"gateway{suffix}"), f"zone {zn!r} has no {subnet_key}",
               f"add {subnet_key}:")  # fmt: skip
    for i, h in enumerate(zone.hosts):
        if (addr := getattr(h, f"address{suffix}")) is not None:
            yield (
                ("zones", zn, "hosts", i, f"address{suffix}"),
                f"{addr}: zone {zn!r} has no {subnet_key}",
                f"add {subnet_key}: to the zone, or remove the address",
            )


def _check_family(
    zn: str,
    net: IPNet,
    gw: IPAddr | None,
    given_gw: IPAddr | None,
    hosts: list[tuple[str, IPAddr | None, IPAddr | None]],  # (name, given, default or given)
) -> Iterator[Found]:
    """One family of a zone: its gateway and its hosts' addresses (given or by default)."""
    v6 = net.version == 6
    suffix = "6" if v6 else ""
    last = net[-1] if not v6 else None  # IPv6 has no broadcast address
    unusable = "network" if v6 else "network or broadcast"
    if gw is None:
        return
    if given_gw is not None and (gw not in net or gw in (net[0], last)):
        yield (
            ("zones", zn, f"gateway{suffix}"),
            f"{gw} is not a usable address of {net}",
            f"pick an address inside {net}, not its {unusable}; or leave gateway{suffix} out "
            f"({net[1]})",
        )
    used: dict[IPAddr, str] = {gw: "the gateway"}
    if any(addr is None for _, _, addr in hosts):
        return
    defaults = [addr for _, given, addr in hosts if given is None]
    if defaults and any(a not in net or a == last for a in defaults):
        yield (
            ("zones", zn, "hosts"),
            f"{len(hosts)} hosts do not fit in {net}",
            "use a larger subnet",
        )
        return
    for i, (name, given, addr) in enumerate(hosts):
        path: Path_ = ("zones", zn, "hosts", i)
        assert addr is not None
        if addr not in net or addr in (net[0], last):
            yield (
                (*path, f"address{suffix}"),
                f"{addr} is not a usable address of zone {zn!r} ({net})",
                f"pick an address inside {net}, not its {unusable}",
            )
        elif addr in used and given is None:
            other = "move the gateway" if used[addr] == "the gateway" else "change the other"
            yield (
                path,
                f"host {name!r} gets {addr} by default, but that is {used[addr]}",
                f"give it an address ({{name: {name}, address{suffix}: ...}}) or {other}",
            )
        elif addr in used:
            yield (
                (*path, f"address{suffix}"),
                f"{addr} is already {used[addr]}",
                "give every host its own address (hosts without one get "
                + ("::11, ::12, …" if v6 else ".11, .12, …")
                + " by position)",
            )
        used[addr] = f"host {name!r}" + (" (by default)" if given is None else "")


def _check_names(policy: Policy) -> Iterator[Found]:
    named: list[tuple[str, str, Path_]] = [("zone", z, ("zones", z)) for z in policy.zones]
    for zn, zone in policy.zones.items():
        named += [("host", h.name, ("zones", zn, "hosts", i)) for i, h in enumerate(zone.hosts)]
    named += [("address", a, ("addresses", a)) for a in policy.addresses]
    owner: dict[str, str] = {}
    for kind, name, path in named:
        if name in RESERVED_NAMES:
            yield (
                path,
                f"{kind} name {name!r} is reserved (it means every zone)",
                f"rename the {kind}",
            )
        elif name in owner and owner[name] != kind:
            yield (path, f"{kind} {name!r} has the name of a {owner[name]}", "rename one")
        owner.setdefault(name, kind)
    if policy.firewall.name in owner:
        yield (
            ("firewall", "name"),
            f"firewall {policy.firewall.name!r} has the name of a {owner[policy.firewall.name]}",
            "rename the firewall (firewall: {name: ...})",
        )


def _check_objects(policy: Policy) -> Iterator[Found]:
    hosts = host_addresses(policy)
    for name in policy.addresses:
        try:
            resolve_address(policy, name, hosts)
        except Unresolved as exc:
            yield (("addresses", name), exc.message, exc.hint)
    for name in policy.services:
        if name in SERVICE_WORDS:
            yield (("services", name), f"{name!r} is reserved", "rename the service")
            continue
        try:
            resolve_service(policy, name)
        except Unresolved as exc:
            yield (("services", name), exc.message, exc.hint)


def _check_rules(policy: Policy) -> Iterator[Found]:
    hosts = host_addresses(policy)
    seen: dict[str, int] = {}
    for i, rule in enumerate(policy.rules):
        base: Path_ = ("rules", i)
        if rule.name in RESERVED_RULES:
            yield ((*base, "name"), f"{rule.name!r} is reserved for twin's defaults", "rename it")
        if rule.name in seen:
            yield (
                (*base, "name"),
                f"duplicate rule name {rule.name!r} (also rules[{seen[rule.name]}])",
                "rule names are unique",
            )
        seen.setdefault(rule.name, i)
        for key, refs in (("from", rule.from_), ("to", rule.to)):
            try:
                zone_refs(policy, refs)
            except Unresolved as exc:
                yield ((*base, key), exc.message, exc.hint)
        for j, svc in enumerate(rule.services or []):
            try:
                resolve_service(policy, svc)
            except Unresolved as exc:
                yield ((*base, "services", j), exc.message, exc.hint)
        sides: list[frozenset[int] | None] = []
        for key, arefs in (("source", rule.source), ("destination", rule.destination)):
            nets: list[IPNet] = []
            for j, ref in enumerate(arefs or []):
                try:
                    nets.extend(resolve_address(policy, ref, hosts))
                except Unresolved as exc:
                    yield ((*base, key, j), exc.message, exc.hint)
            sides.append(families_of(nets) if arefs else None)
        yield from _check_families(policy, rule, base, sides)


def _check_families(
    policy: Policy, rule: Rule, base: Path_, sides: list[frozenset[int] | None]
) -> Iterator[Found]:
    """A rule's addresses of one family only on one side and of the other only on the other
    match nothing; icmp (IPv4's echo) in a rule of IPv6 addresses only, or icmpv6 in one of
    IPv4 only, neither."""
    src, dst = sides
    if src is None and dst is None:
        return
    if src is not None and dst is not None and src and dst and not src & dst:
        yield (
            base,
            f"source is {_fam(src)} only and destination {_fam(dst)} only: the rule matches no "
            "flow",
            "give both sides addresses of the same family (one rule per family)",
        )
        return
    both = (src or frozenset({4, 6})) & (dst or frozenset({4, 6}))
    dead: list[tuple[int, str, str, str]] = []  # (index, service, its family, the other echo)
    for j, svc in enumerate(rule.services or []):
        try:
            protos = {r.proto for r in resolve_service(policy, svc)}
        except Unresolved:
            return
        echo = next((e for e in (("icmp", 4, "icmpv6"), ("icmpv6", 6, "icmp"))
                     if protos == {e[0]} and e[1] not in both), None)  # fmt: skip
        if echo is None:
            return  # a service of the rule can match: the rule is not dead
        dead.append((j, svc, _fam(frozenset({echo[1]})), echo[2]))
    for j, svc, family, other in dead:  # every service is the other family's echo
        yield (
            (*base, "services", j),
            f"{svc} is {family}'s but the rule's addresses are {_fam(both)} only: the rule "
            "matches no flow",
            f"write {other}, or add addresses of that family",
        )


def _fam(families: frozenset[int]) -> str:
    return " and ".join(f"IPv{f}" for f in sorted(families))


def _check_expect(policy: Policy) -> Iterator[Found]:
    hosts = host_addresses(policy)
    for i, exp in enumerate(policy.expect):
        base: Path_ = ("expect", i)
        ends: list[End] = []
        for key, ref in (("from", exp.from_), ("to", exp.to)):
            try:
                ends.append(intent_end(policy, ref, hosts))
            except Unresolved as exc:
                yield ((*base, key), exc.message, exc.hint)
        if exp.from_ == exp.to and exp.from_ in hosts:
            yield ((*base, "to"), "a host cannot be probed from itself", "pick another host")
        elif len(ends) == 2:
            a, b = ends
            named = exp.from_ in policy.zones or exp.to in policy.zones
            if len(a.hosts) == 1 and a.hosts == b.hosts and not named:
                yield ((*base, "to"), "a host cannot be probed from itself", "pick another host")
            elif not exp.flow and set(a.hosts) & set(b.hosts):
                what = "is 'from' itself" if exp.to == exp.from_ else f"is inside {exp.from_!r}"
                yield (
                    (*base, "to"),
                    f"{exp.to!r} {what}: it cannot be unreachable from it",
                    "name a zone or host outside the 'from' side",
                )
            elif not a.families & b.families:
                yield (
                    base,
                    f"'from' is {_fam(a.families)} only and 'to' {_fam(b.families)} only: "
                    "no flow between them",
                    "name ends that share an address family",
                )
        if exp.flow and "service" not in exp.model_fields_set:
            yield (base, "missing key 'service'", "add service: tcp/443 (or any)")
        try:
            resolve_service(policy, exp.service)
        except Unresolved as exc:
            yield ((*base, "service"), exc.message, exc.hint)


def flat_warnings(policy: Policy) -> list[Found]:
    """What a valid policy says that can never happen: rules that only cover traffic inside flat
    zones, which never crosses the firewall. (The intrazone default is not named: an imported
    device's default stays as the device has it, flat zones or not.)"""
    flat = {z for z, zone in policy.zones.items() if zone.segment is Segment.flat}
    if not flat or policy.firewall.enforcement is not Enforcement.central:
        return []  # with enforcement on the hosts, their own rules see that traffic too
    why = "hosts of a flat zone reach each other without crossing the firewall"
    out: list[Found] = []
    for i, rule in enumerate(policy.rules):
        if rule.disabled:
            continue
        srcs, dsts = zone_refs(policy, rule.from_), zone_refs(policy, rule.to)
        if all(s == d and s in flat for s in srcs for d in dsts):
            inside = ", ".join(dict.fromkeys(srcs))
            message = f"rule {rule.name!r} covers only traffic inside flat zone {inside}"
            fix = f"{why}; remove the rule, or make the zone `segment: isolated`"
            out.append((("rules", i), f"{message}: it never applies", fix))
    return out
