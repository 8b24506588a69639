"""load: policy YAML → validated `Policy`, or every problem at once, each with its file line."""

from __future__ import annotations

import ipaddress
import itertools
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from twin.errors import InputError, Problem
from twin.model import Policy
from twin.objects import (
    Unresolved,
    default_addresses,
    gateway,
    host_addresses,
    resolve_address,
    resolve_service,
    zone_refs,
)

MAX_BYTES = 8 * 1024 * 1024
MAX_NODES = 2_000_000
RESERVED_RULES = {"interzone-default", "intrazone-default", "anti-spoofing", "ct-invalid"}
RESERVED_NAMES = {"any"}

Path_ = tuple[str | int, ...]


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file. Raises InputError listing every problem."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError([Problem(file, None, "", f"cannot read: {exc.strerror}")]) from None
    return parse_policy(raw, file)


def parse_policy(raw: bytes | str, file: str = "<policy>") -> Policy:
    data, lines = read_yaml(raw, file)
    return validate_policy(data, lines, file)


def read_yaml(raw: bytes | str, file: str) -> tuple[dict[str, Any], dict[Path_, int]]:
    """YAML → plain data plus a map from each value's path to its line."""

    def fail(message: str, line: int | None = None, hint: str = "") -> InputError:
        return InputError([Problem(file, line, "", message, hint)])

    if len(raw) > MAX_BYTES:
        raise fail(f"file is {len(raw)} bytes; the limit is {MAX_BYTES}", hint="split the policy")
    if isinstance(raw, bytes):
        raw = _decode(raw, fail)
    if not raw.strip():
        raise fail("file is empty", hint="start from topologies/zero-trust-6zone.yml")
    loader = yaml.SafeLoader(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            raise fail("file holds no YAML document", hint="start from topologies/")
        walker = _Walker(loader, file)
        data = walker.value(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise fail(
            f"invalid YAML: {exc.problem or exc.context}", mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise fail(f"invalid YAML: {exc}".splitlines()[0]) from None
    finally:
        loader.dispose()
    if walker.problems:
        raise InputError(walker.problems)
    if not isinstance(data, dict):
        raise fail("the top level must be a mapping (name:, zones:, rules:, …)", 1)
    return data, walker.lines


def _decode(raw: bytes, fail: Callable[..., InputError]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
        raise fail("not UTF-8 text", bad_line, "save the file as UTF-8") from None


class _Walker:
    """Builds python values from YAML nodes, recording lines and refusing duplicate keys."""

    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.lines: dict[Path_, int] = {}
        self.problems: list[Problem] = []
        self.count = 0

    def value(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise yaml.YAMLError(f"more than {MAX_NODES} values (alias bomb or huge file)")
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for knode, vnode in node.value:
                key = self.loader.construct_object(knode, deep=True)
                if not isinstance(key, str | int | float | bool) or key is None:
                    self._problem(knode, path, f"unsupported key {key!r}", "keys are plain words")
                    continue
                key = str(key) if not isinstance(key, str) else key
                if key in out:
                    self._problem(knode, (*path, key), "duplicate key", "remove one of the two")
                    continue
                self.lines[(*path, key)] = knode.start_mark.line + 1
                out[key] = self.value(vnode, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)

    def _problem(self, node: yaml.Node, path: Path_, message: str, hint: str) -> None:
        self.problems.append(
            Problem(self.file, node.start_mark.line + 1, dotted(path), message, hint)
        )


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_of(lines: dict[Path_, int], path: Path_) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def validate_policy(data: dict[str, Any], lines: dict[Path_, int], file: str) -> Policy:
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = [_pydantic_problem(err, lines, file) for err in exc.errors()]
        raise InputError(_unique(problems)) from None
    problems = [
        Problem(file, line_of(lines, path), dotted(path), msg, hint)
        for path, msg, hint in check_policy(policy)
    ]
    if problems:
        raise InputError(_unique(problems))
    return policy


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def _pydantic_problem(err: Any, lines: dict[Path_, int], file: str) -> Problem:
    loc: Path_ = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    kind, msg, hint = err["type"], err["msg"], ""
    if kind == "extra_forbidden":
        key = loc[-1]
        allowed = _allowed_keys(loc[:-1])
        msg = f"unknown key {key!r}"
        hint = f"allowed here: {', '.join(allowed)}" if allowed else ""
    elif kind == "missing":
        msg = f"missing key {loc[-1]!r}"
        loc_line = line_of(lines, loc)
        return Problem(file, loc_line, dotted(loc[:-1]) or "(top level)", msg, hint)
    elif kind == "enum":
        expected = err.get("ctx", {}).get("expected", "")
        msg = f"{err['input']!r} is not one of {expected}".replace("'", "")
    elif kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    elif kind == "too_short":
        msg = "must not be empty"
    elif kind in {"string_type", "list_type", "dict_type", "bool_type", "model_type"}:
        msg = f"{msg.lower().replace('input should be', 'must be')}, not {_kind(err['input'])}"
    else:
        msg = msg.replace("Input should be", "must be")
    return Problem(file, line_of(lines, loc), dotted(loc), msg, hint)


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", type(None): "empty"}.get(
        type(value), type(value).__name__
    )


def _allowed_keys(loc: Path_) -> list[str]:
    """The keys a mapping at `loc` accepts, read from the models (for the hint)."""
    tp: Any = Policy
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = next((f for n, f in tp.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return []
            tp = field.annotation
        elif typing.get_origin(tp) in (dict, list):
            tp = typing.get_args(tp)[-1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    """Strip Annotated[...] and Optional[...] to the type underneath."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        else:
            return tp


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
            yield (("zones", zn, "gateway"), f"{gw} is not a usable address of {net}", "")
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
            elif addr in used:
                yield ((*path, "address"), f"{addr} is already {used[addr]}", "")
            used[addr] = f"host {host.name!r}"


def _check_names(policy: Policy) -> Iterator[Found]:
    kinds = {
        "zone": list(policy.zones),
        "host": [h.name for z in policy.zones.values() for h in z.hosts],
        "address": list(policy.addresses),
    }
    owner: dict[str, str] = {}
    for kind, names in kinds.items():
        for name in names:
            path: Path_ = ("addresses", name) if kind == "address" else ("zones",)
            if name in RESERVED_NAMES:
                yield (path, f"{name!r} is reserved", "rename it")
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
        if name in {"tcp", "udp", "icmp", "any"}:
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
        try:
            resolve_service(policy, exp.service)
        except Unresolved as exc:
            yield ((*base, "service"), exc.message, exc.hint)
