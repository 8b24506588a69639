"""PAN-OS `set` format → the same element tree as the XML configuration.

`set address web1 ip-netmask 10.0.1.10/32` becomes `<address><entry name="web1"><ip-netmask>`:
the words after `set` are a path; some elements hold named entries (the next word is a name),
the last word is a value, `[ a b ]` is a member list. The XML reader then reads both formats.
"""

from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator

from twin.errors import InputError, Problem
from twin.vendors.importers.xmltree import LINE

# Elements whose children are `<entry name=…>`: always, …
ENTRIES = {
    "rules",
    "vsys",
    "device-group",
    "units",
    "ip",
    "devices",
    "template",
    "template-stack",
}
# … object tables only at the top of a scope (`service` inside a rule is a member list) …
OBJECTS = {
    "address",
    "address-group",
    "service",
    "service-group",
    "application-group",
    "application-filter",
    "application",
    "external-list",
    "region",
    "schedule",
    "zone",
    "tag",
}
SCOPES = {"config", "shared", "panorama"}
# … and interface tables under `interface`.
ENTRIES_UNDER = {
    ("interface", "ethernet"),
    ("interface", "aggregate-ethernet"),
    ("ipv6", "address"),  # an interface's IPv6 addresses
}


def parse_set(text: str, file: str) -> ET.Element:
    return build_tree(_set_commands(text, file), file)


def _set_commands(text: str, file: str) -> Iterator[tuple[int, list[str]]]:
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line.startswith("set "):
            continue
        try:
            yield lineno, shlex.split(line, comments=False, posix=True)[1:]
        except ValueError as exc:
            raise InputError(
                [Problem(file, lineno, "", f"cannot read this set command: {exc}", "fix quotes")]
            ) from None


def build_tree(commands: Iterable[tuple[int, list[str]]], file: str) -> ET.Element:
    """`set` paths (words, a `[ … ]` member list last) → the XML configuration's tree."""
    root = ET.Element("config")
    root.set(LINE, "1")
    parents: dict[ET.Element, ET.Element] = {}
    for lineno, command in commands:
        words = command
        values: list[str] | None = None
        if "[" in words:
            i = words.index("[")
            if "]" not in words[i:]:
                raise InputError(
                    [Problem(file, lineno, "", "a member list '[' is not closed", "add ' ]'")]
                )
            values = words[i + 1 : words.index("]", i)]
            words = words[:i]
        if not words:
            continue
        path, last = (words, None) if values is not None else (words[:-1], words[-1])
        el = root
        for word in path:
            el = _child(el, word, parents, lineno)
        if values is not None:
            for v in values:
                _member(el, v, lineno)
        elif last is not None:
            if _holds_entries(el, parents):
                _entry(el, last, lineno)
            elif el.text is None and el.find("member") is None:
                el.text = last
            else:
                if el.text is not None:
                    _member(el, el.text, lineno)
                    el.text = None
                _member(el, last, lineno)
    return root


def _holds_entries(el: ET.Element, parents: dict[ET.Element, ET.Element]) -> bool:
    parent = parents.get(el)
    if el.tag in ENTRIES:
        return True
    if parent is None:
        return False
    if el.tag in OBJECTS:
        grand = parents.get(parent)
        return (
            parent.tag in SCOPES
            or (
                parent.tag == "entry"
                and grand is not None
                and grand.tag in ("vsys", "device-group")
            )
            or (parent.tag, el.tag) in ENTRIES_UNDER
        )
    return (parent.tag, el.tag) in ENTRIES_UNDER


def _child(el: ET.Element, word: str, parents: dict[ET.Element, ET.Element], n: int) -> ET.Element:
    if _holds_entries(el, parents):
        child = _entry(el, word, n)
    else:
        found = el.find(word) if _plain(word) else None
        if found is None:
            found = ET.SubElement(el, word if _plain(word) else "unknown")
            found.set(LINE, str(n))
        child = found
    parents[child] = el
    return child


def _plain(word: str) -> bool:
    return bool(word) and all(c.isalnum() or c in "-_" for c in word)


def _entry(el: ET.Element, name: str, n: int) -> ET.Element:
    for e in el.findall("entry"):
        if e.get("name") == name:
            return e
    e = ET.SubElement(el, "entry", {"name": name})
    e.set(LINE, str(n))
    return e


def _member(el: ET.Element, value: str, n: int) -> None:
    m = ET.SubElement(el, "member")
    m.text = value
    m.set(LINE, str(n))
