"""Cross-reference checks of a policy the model accepted: overlaps, names, references, intent."""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterator

from twin.policy.model import RESERVED_NAMES, RESERVED_RULES, SERVICE_WORDS, Policy, Segment
from twin.policy.resolve import (
    Unresolved,
    default_addresses,
    gateway,
    host_addresses,
    resolve_address,
    resolve_service,
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
        if a.subnet.overlaps(b.subnet):
            yield (
                ("zones", bn, "subnet"),
                f"{b.subnet} overlaps zone {an!r} ({a.subnet})",
                "give every zone its own subnet",
            )
    seen_host: dict[str, str] = {}
    for zn, zone in zones:
        gw = gateway(policy, zn)
        net = zone.subnet
        if zone.gateway is not None and (gw not in net or gw in (net[0], net[-1])):
            yield (
                ("zones", zn, "gateway"),
                f"{gw} is not a usable address of {net}",
                f"pick an address inside {net}, not its network or broadcast; "
                f"or leave gateway out ({net[1]})",
            )
        defaults = default_addresses(net, len(zone.hosts))
        used: dict[ipaddress.IPv4Address, str] = {gw: "the gateway"}
        if defaults[-1] >= net[-1]:
            yield (
                ("zones", zn, "hosts"),
                f"{len(zone.hosts)} hosts do not fit in {net}",
                "use a larger subnet",
            )
            continue
        for i, (host, default) in enumerate(zip(zone.hosts, defaults, strict=True)):
            path: Path_ = ("zones", zn, "hosts", i)
            if host.name in seen_host:
                yield (
                    (*path, "name"),
                    f"duplicate host {host.name!r} (also in zone {seen_host[host.name]!r})",
                    "host names are unique across zones",
                )
            seen_host[host.name] = zn
            addr = host.address or default
            if addr not in net or addr in (net[0], net[-1]):
                yield (
                    (*path, "address"),
                    f"{addr} is not a usable address of zone {zn!r} ({net})",
                    f"pick an address inside {net}, not its network or broadcast",
                )
            elif addr in used and host.address is None:
                other = "move the gateway" if used[addr] == "the gateway" else "change the other"
                yield (
                    path,
                    f"host {host.name!r} gets {addr} by default, but that is {used[addr]}",
                    f"give it an address ({{name: {host.name}, address: ...}}) or {other}",
                )
            elif addr in used:
                yield (
                    (*path, "address"),
                    f"{addr} is already {used[addr]}",
                    "give every host its own address (hosts without one get .11, .12, … by "
                    "position)",
                )
            used[addr] = f"host {host.name!r}" + (" (by default)" if host.address is None else "")


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
        for key, arefs in (("source", rule.source), ("destination", rule.destination)):
            for j, ref in enumerate(arefs or []):
                try:
                    resolve_address(policy, ref, hosts)
                except Unresolved as exc:
                    yield ((*base, key, j), exc.message, exc.hint)


def _check_expect(policy: Policy) -> Iterator[Found]:
    hosts = host_addresses(policy)
    known = f"zones: {', '.join(policy.zones)}; or a host name"
    for i, exp in enumerate(policy.expect):
        base: Path_ = ("expect", i)
        for key, ref in (("from", exp.from_), ("to", exp.to)):
            if ref not in policy.zones and ref not in hosts:
                yield ((*base, key), f"unknown zone or host {ref!r}", known)
        if exp.from_ == exp.to and exp.from_ in hosts:
            yield ((*base, "to"), "a host cannot be probed from itself", "pick another host")
        elif not exp.flow and _overlap(exp.from_, exp.to, hosts):
            what = "is 'from' itself" if exp.to == exp.from_ else f"is inside {exp.from_!r}"
            yield (
                (*base, "to"),
                f"{exp.to!r} {what}: it cannot be unreachable from it",
                "name a zone or host outside the 'from' side",
            )
        if exp.flow and "service" not in exp.model_fields_set:
            yield (base, "missing key 'service'", "add service: tcp/443 (or any)")
        try:
            resolve_service(policy, exp.service)
        except Unresolved as exc:
            yield ((*base, "service"), exc.message, exc.hint)


def _overlap(a: str, b: str, hosts: dict[str, tuple[str, ipaddress.IPv4Address]]) -> bool:
    """Do two intent ends (zone or host names) share a host?"""
    zone_a, zone_b = (hosts[x][0] if x in hosts else x for x in (a, b))
    return a == b or (zone_a == zone_b and (a not in hosts or b not in hosts))


def flat_warnings(policy: Policy) -> list[Found]:
    """What a valid policy says that can never happen: rules that only cover traffic inside flat
    zones, which never crosses the firewall. (The intrazone default is not named: an imported
    device's default stays as the device has it, flat zones or not.)"""
    flat = {z for z, zone in policy.zones.items() if zone.segment is Segment.flat}
    if not flat:
        return []
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
