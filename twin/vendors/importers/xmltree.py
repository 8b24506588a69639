"""Build an ElementTree with the source line of every element; refuse DTDs (entity bombs)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.parsers import expat

from twin.errors import InputError, Problem

LINE = "__line"


class _NoDTD(Exception):
    pass


def parse_xml(text: str, file: str) -> ET.Element:
    parser = expat.ParserCreate()
    stack: list[ET.Element] = []
    roots: list[ET.Element] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        el = ET.Element(tag, attrs)
        el.set(LINE, str(parser.CurrentLineNumber))
        (stack[-1].append(el) if stack else roots.append(el))
        stack.append(el)

    def end(tag: str) -> None:
        el = stack.pop()
        if el.text is not None:
            el.text = el.text.strip()

    def data(chunk: str) -> None:
        if stack:
            stack[-1].text = (stack[-1].text or "") + chunk

    def doctype(*_: object) -> None:
        raise _NoDTD

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        raise InputError(
            [
                Problem(
                    file,
                    exc.lineno,
                    "",
                    f"not valid XML: {expat.ErrorString(exc.code)}",
                    "export the running config again (show config running, or Device > Setup "
                    "> Operations > Export named configuration snapshot)",
                )
            ]
        ) from None
    except _NoDTD:
        raise InputError(
            [Problem(file, parser.CurrentLineNumber, "", "a DOCTYPE is not allowed", "remove it")]
        ) from None
    return roots[0]


def line(el: ET.Element | None) -> int | None:
    if el is None:
        return None
    value = el.get(LINE)
    return int(value) if value else None


def members(el: ET.Element | None, tag: str, default: list[str] | None = None) -> list[str]:
    """`<tag><member>a</member>…</tag>` (or `<tag>a</tag>`) → ['a', …]."""
    child = el.find(tag) if el is not None else None
    if child is None:
        return list(default or [])
    found = [(m.text or "").strip() for m in child.findall("member")]
    if found:
        return found
    return [child.text.strip()] if child.text and child.text.strip() else list(default or [])


def text(el: ET.Element | None, path: str, default: str = "") -> str:
    child = el.find(path) if el is not None else None
    if child is None:
        return default
    if child.text and child.text.strip():
        return child.text.strip()
    first = child.find("member")
    return (first.text or default).strip() if first is not None else default
