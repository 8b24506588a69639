"""load: policy YAML → validated `Policy`, or every problem at once, each with its file line."""

from __future__ import annotations

import difflib
import enum
import ipaddress
import itertools
import re
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from twin.errors import InputError, Problem
from twin.files import read_regular
from twin.model import Invalid, Policy
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
# Values in the file (~50,000 rules), and again once aliases are expanded: bounds time and
# memory. Measured here: the pure-Python parser needs ~9 s to reach it on a file of `0,0,0…`.
MAX_NODES = 500_000
MAX_DEPTH = 64  # a policy nests ~6 deep; this stops a `[[[[…` file before Python's stack does
RESERVED_RULES = {"interzone-default", "intrazone-default", "anti-spoofing", "ct-invalid"}
RESERVED_NAMES = {"any"}
START_HINT = "start from topologies/zero-trust-6zone.yml"
PLAIN_TAGS = {
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
}
# Plain scalar keys are taken as written: `no:` is the zone "no", not False (YAML 1.1).
KEY_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "bool", "int", "float", "null", "timestamp")}

PLAIN_KEY = re.compile(r"\A[A-Za-z0-9_.-]+\Z")

Path_ = tuple[str | int, ...]


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file. Raises InputError listing every problem."""
    return parse_policy(read_policy_file(path), str(path))


def read_policy_file(path: str | Path) -> bytes:
    """A policy file's bytes: a regular file of at most MAX_BYTES, with a printable name."""
    file = str(path)
    if not file.isprintable():
        # the name is printed in every message and rendered into comments of generated files
        shown = file.encode("unicode_escape").decode("ascii")
        raise InputError(
            [Problem(shown, None, "", "file name has control characters", "rename it")]
        )
    return read_regular(file, MAX_BYTES)


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
        raise fail("file is empty", hint=START_HINT)
    fast = _fast_read(raw, file)
    if fast is not None:
        return fast
    try:
        loader = _Loader(raw)  # reads the whole text at once: refuses control characters here
    except yaml.reader.ReaderError as exc:
        raise fail(*_reader_problem(exc, raw)) from None
    walker = _Walker(loader, file)
    try:
        node = loader.get_single_node()
        if node is None:
            raise fail("file has no YAML document, only comments", hint=START_HINT)
        data = walker.value(node, ())
    except yaml.MarkedYAMLError as exc:
        raise fail(*_yaml_problem(exc)) from None
    except yaml.reader.ReaderError as exc:
        raise fail(*_reader_problem(exc, raw)) from None
    except yaml.YAMLError as exc:
        raise fail(f"invalid YAML: {exc}".splitlines()[0]) from None
    finally:
        loader.dispose()
    if walker.problems:
        raise InputError(walker.problems)
    if not isinstance(data, dict):
        raise fail("the top level must be a mapping (name:, zones:, rules:, …)", 1, START_HINT)
    return data, walker.lines


FAST_PATH_BYTES = 64 * 1024


class _CLoader(yaml.CSafeLoader):
    """libyaml's composer calls back into Python to resolve each scalar's tag; a big policy
    repeats the same few scalars (actions, services, zones) thousands of times: remember them."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._tags: dict[tuple[str, tuple[bool, bool]], str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode:
            key = (value, implicit)
            tag = self._tags.get(key)
            if tag is None:
                tag = self._tags[key] = RESOLVE(self, kind, value, implicit)
            return tag
        return RESOLVE(self, kind, value, implicit)


RESOLVE: Callable[..., Any] = yaml.CSafeLoader.resolve


def _fast_read(raw: str, file: str) -> tuple[dict[str, Any], dict[Path_, int]] | None:
    """Big, valid files: compose with libyaml (C, ~10x faster), walk the same way. Anything
    unusual returns None and the Python path below reads the file and words the error."""
    if len(raw) < FAST_PATH_BYTES or not yaml.__with_libyaml__:
        return None
    depth = deepest = 0  # libyaml's composer recurses in C: refuse deep flow nesting up front
    for ch in re.findall(r"[\[\]{}]", raw):
        depth += 1 if ch in "[{" else -1
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        return None
    try:
        node = yaml.compose(raw, Loader=_CLoader)
        if node is None:
            return None
        walker = _Walker(yaml.SafeLoader(""), file)
        data = walker.value(node, ())
    except (yaml.YAMLError, RecursionError):
        return None
    if walker.problems or not isinstance(data, dict):
        return None
    return data, walker.lines


def _decode(raw: bytes, fail: Callable[..., InputError]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
        raise fail(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x})", bad_line, "save the file as UTF-8"
        ) from None


def _reader_problem(exc: yaml.reader.ReaderError, raw: str) -> tuple[str, int, str]:
    return (
        f"invalid YAML: control character U+{exc.character:04X}",
        raw[: exc.position].count("\n") + 1,
        "remove it; YAML allows only printable characters, tabs and newlines",
    )


def _yaml_problem(exc: yaml.MarkedYAMLError) -> tuple[str, int | None, str]:
    """PyYAML's error → (message, line, hint) in the user's terms."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    problem, context = exc.problem or "", exc.context or ""
    if "another document" in problem:
        return "a policy is one YAML document; found a second one", line, "remove the '---' line"
    if "'\\t'" in problem:
        return "invalid YAML: a tab character", line, "indent with spaces, not tabs"
    if problem.endswith("once aliases are expanded"):
        return f"too big: {problem}", line, "an alias bomb? *aliases repeat what they name"
    if problem.startswith("more than"):
        return f"too big: {problem}", line, "split the policy"
    if problem.startswith("nested deeper"):
        return f"invalid YAML: {problem}", line, "a policy nests ~6 levels: an unclosed [ or {?"
    if "constructor for the tag" in problem:
        tag = problem.rsplit(" ", 1)[-1].replace("tag:yaml.org,2002:", "!!")
        return (
            f"unsupported YAML tag {tag}",
            line,
            "twin reads plain YAML: no tags (!include, !!python/...)",
        )
    hint = ""
    start = exc.context_mark
    if start and context.startswith("while ") and start.line != (mark.line if mark else -1):
        thing = context.removeprefix("while parsing ").removeprefix("while scanning ")
        hint = f"see {thing} starting on line {start.line + 1}"
        if thing in {"a flow mapping", "a flow sequence"}:
            bracket = "{...}" if "mapping" in thing else "[...]"
            hint = (
                f"is the {bracket} opened on line {start.line + 1} closed, with ',' between items?"
            )
        elif problem.startswith("expected <block end>"):
            hint = f"indent it like the other keys of the block starting on line {start.line + 1}"
            return "invalid YAML: indentation does not match the lines above", line, hint
    return f"invalid YAML: {problem or context}", line, hint


class _Loader(yaml.SafeLoader):
    """SafeLoader that stops composing past MAX_NODES values or MAX_DEPTH levels."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.nodes = 0
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.nodes += 1
        self.depth += 1
        try:
            if self.nodes > MAX_NODES:
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_NODES} values", self._mark()
                )
            if self.depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested deeper than {MAX_DEPTH} levels",
                    self._mark(),
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def _mark(self) -> yaml.Mark | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        return event.start_mark if event is not None else None


STR_TAG = "tag:yaml.org,2002:str"


class _Walker:
    """Builds python values from YAML nodes, recording lines and refusing duplicate keys,
    tags, and aliases that contain themselves."""

    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.lines: dict[Path_, int] = {}
        self.problems: list[Problem] = []
        self.count = 0
        self.open: set[int] = set()  # ids of the collection nodes being walked (ancestors)
        self.own_keys: dict[int, set[int]] = {}  # mapping node → ids of its own key nodes

    def value(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"more than {MAX_NODES} values once aliases are expanded",
                node.start_mark,
            )
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            if node.tag == STR_TAG:  # what the constructor would return, without its overhead
                return node.value
            return self.loader.construct_object(node, deep=True)
        if node.tag not in PLAIN_TAGS:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"could not determine a constructor for the tag {node.tag!r}",
                node.start_mark,
            )
        if id(node) in self.open:
            self._problem(node, path, "an alias contains itself", "YAML aliases must not loop")
            return None
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self.open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        # A key written twice in one mapping is an error; a key that came in through a merge
        # (`<<: *base`) is overridden by the mapping's own, as YAML says. Flattening changes
        # the node in place (and an aliased node is walked again): remember its own keys once.
        if id(node) not in self.own_keys:
            merge = "tag:yaml.org,2002:merge"
            self.own_keys[id(node)] = {id(k) for k, _ in node.value if k.tag != merge}
        own = self.own_keys[id(node)]
        self.loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        written: set[str] = set()
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode) or knode.tag not in KEY_TAGS:
                self._problem(knode, path, "a key must be a plain word", "write name: value")
                continue
            key = str(knode.value)
            if key in written and id(knode) in own:
                first = self.lines[(*path, key)]
                self._problem(
                    knode,
                    (*path, key),
                    "duplicate key",
                    f"remove one (the other is on line {first})",
                )
                continue
            if id(knode) in own:
                written.add(key)
            self.lines[(*path, key)] = knode.start_mark.line + 1
            out[key] = self.value(vnode, (*path, key))
        return out

    def _problem(self, node: yaml.Node, path: Path_, message: str, hint: str) -> None:
        self.problems.append(
            Problem(self.file, node.start_mark.line + 1, dotted(path), message, hint)
        )


def dotted(path: Path_) -> str:
    """`rules[3].services[0]`; a key that is not a plain word shows quoted and escaped,
    `zones['a b\\n']`, so a message stays one line and says exactly what the key is."""
    out = ""
    for part in path:
        if isinstance(part, int) or not PLAIN_KEY.fullmatch(part):
            out += f"[{part!a}]" if isinstance(part, str) else f"[{part}]"
        else:
            out += f".{part}" if out else part
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
        errors = _drop_misspelled_missing(exc.errors())
        problems = [_pydantic_problem(err, lines, file) for err in errors]
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


# What a missing or empty key looks like when written (the hint says "add …").
EXAMPLES = {
    "name": "web-to-app",
    "zones": "{web: {subnet: 10.1.0.0/24, hosts: [web1]}}",
    "subnet": "10.1.0.0/24",
    "hosts": "[web1, web2]",
    "from": "web",
    "to": "app",
    "service": "tcp/443",
}
TOP_EXAMPLES = {"name": "lab1"}


def _loc(err: Any) -> Path_:
    return tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))


def _close(word: str, choices: list[str]) -> str | None:
    found = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return found[0] if found else None


def _drop_misspelled_missing(errors: list[Any]) -> list[Any]:
    """`verdit: allow` is one mistake, not two: drop "missing 'verdict'" when an unknown key
    beside it is a misspelling of it (the unknown key's hint names the right spelling)."""
    misspelled: set[Path_] = set()
    for err in errors:
        loc = _loc(err)
        if err["type"] == "extra_forbidden" and loc:
            right = _close(str(loc[-1]), _allowed_keys(loc[:-1]))
            if right is not None:
                misspelled.add((*loc[:-1], right))
    return [e for e in errors if not (e["type"] == "missing" and _loc(e) in misspelled)]


def _pydantic_problem(err: Any, lines: dict[Path_, int], file: str) -> Problem:
    loc = _loc(err)
    kind, msg, hint = err["type"], err["msg"], ""
    key = str(loc[-1]) if loc and isinstance(loc[-1], str) else ""
    example = (len(loc) == 1 and TOP_EXAMPLES.get(key)) or EXAMPLES.get(key, "")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        msg = f"unknown key {key!r}"
        right = _close(key, allowed)
        hint = f"did you mean {right!r}? " if right else ""
        hint += f"allowed here: {', '.join(allowed)}" if allowed else ""
    elif kind == "missing":
        choices = _enum_values(loc)
        hint = f"add {key}: {choices or example or '...'}"
        loc_line = line_of(lines, loc)
        return Problem(
            file, loc_line, dotted(loc[:-1]) or "(top level)", f"missing key {key!r}", hint
        )
    elif kind == "enum":
        expected = err.get("ctx", {}).get("expected", "")
        msg = f"{err['input']!r} is not one of {expected}".replace("'", "")
    elif kind == "value_error":
        msg = msg.removeprefix("Value error, ")
        cause = err.get("ctx", {}).get("error")
        hint = cause.hint if isinstance(cause, Invalid) else ""
    elif kind == "too_short":
        msg = "must not be empty"
        hint = f"e.g. {key}: {example}" if example else ""
        if loc[0] == "rules" and key in {"services", "source", "destination"}:
            hint = f"leave {key} out to match any"
        elif loc[0] in {"services", "addresses"} and len(loc) == 2:
            hint = "list at least one member, or remove the group"
    elif kind == "string_type":
        msg = f"must be text, not {_kind(err['input'])}"
        if isinstance(err["input"], bool):
            hint = "quote it: YAML reads yes/no/on/off/true/false unquoted as booleans"
        elif isinstance(err["input"], int | float):
            hint = "quote it"
    elif kind == "list_type":
        msg = f"must be a list, not {_kind(err['input'])}"
        hint = "write [a, b], or one '- ' line per item"
    elif kind in {"dict_type", "model_type"}:
        msg = f"must be a mapping, not {_kind(err['input'])}"
        allowed = _allowed_keys(loc)
        hint = f"keys allowed here: {', '.join(allowed)}" if allowed else "write key: value lines"
    elif kind in {"bool_type", "bool_parsing"}:
        msg = f"must be true or false, not {err['input']!r}"
    else:
        msg = msg.replace("Input should be", "must be")
    return Problem(file, line_of(lines, loc), dotted(loc), msg, hint)


def _kind(value: Any) -> str:
    kinds = {dict: "a mapping", list: "a list", str: "text", type(None): "empty"}
    kinds |= {bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(type(value), type(value).__name__)


def _enum_values(loc: Path_) -> str:
    """`allow, deny or reject` when the field at `loc` is an enum."""
    tp = _unwrap(_type_at(loc))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [str(m.value) for m in tp]
        return ", ".join(values[:-1]) + f" or {values[-1]}" if len(values) > 1 else values[0]
    return ""


def _type_at(loc: Path_) -> Any:
    """The annotation of the value at `loc`, read from the models (None when unknown)."""
    tp: Any = Policy
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = next((f for n, f in tp.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return None
            tp = field.annotation
        elif typing.get_origin(tp) in (dict, list):
            tp = typing.get_args(tp)[-1]
        else:
            return None
    return tp


def _allowed_keys(loc: Path_) -> list[str]:
    """The keys a mapping at `loc` accepts, read from the models (for the hint)."""
    tp = _unwrap(_type_at(loc))
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
