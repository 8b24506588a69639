"""The policy file as read: UTF-8 YAML, bounded, with a map from each value's path to its line.

Big files are composed by libyaml; anything unusual goes the Python way, which words the errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from twin.errors import InputError, Problem
from twin.files import read_regular

MAX_BYTES = 8 * 1024 * 1024
# Values in the file (~50,000 rules), and again once aliases are expanded: bounds time and
# memory. Measured here: the pure-Python parser needs ~9 s to reach it on a file of `0,0,0…`.
MAX_NODES = 500_000
MAX_DEPTH = 64  # a policy nests ~6 deep; this stops a `[[[[…` file before Python's stack does
START_HINT = "start from topologies/zero-trust-6zone.yml"
PLAIN_TAGS = {
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
}
# Plain scalar keys are taken as written: `no:` is the zone "no", not False (YAML 1.1).
KEY_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "bool", "int", "float", "null", "timestamp")}

PLAIN_KEY = re.compile(r"\A[A-Za-z0-9_.-]+\Z")

Path_ = tuple[str | int, ...]


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
