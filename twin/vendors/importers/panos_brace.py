"""PAN-OS `show config running` as the CLI prints it (braces) → the same tree as the XML.

    rulebase {                          set rulebase security rules "Allow Web" from trust
      security {                   →    set rulebase security rules "Allow Web" to untrust
        rules {                         set rulebase security rules "Allow Web" service
          "Allow Web" {                     [ service-http service-https ]
            from trust;
            to untrust;
            service [ service-http service-https];

Each statement becomes the `set` command it stands for, and `panos_set.build_tree` builds the
element tree from them, so the three formats are read by one reader.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from twin.errors import InputError, Problem
from twin.vendors.importers.panos_set import build_tree

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|([{};\[\]])|(\n)|([^\s{};\[\]"]+)|(")', re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)


def looks_like_braces(text: str) -> bool:
    head = text.lstrip()[:200]
    return bool(re.match(r"^[A-Za-z0-9_.-]+\s*\{", head))


def parse_braces(text: str, file: str) -> ET.Element:
    commands = ((n, w[1:] if w[0] == "config" else w) for n, w in _commands(text, file))
    return build_tree(commands, file)


def _commands(text: str, file: str) -> Iterator[tuple[int, list[str]]]:
    path: list[list[str]] = []
    words: list[str] = []
    start = line = 1
    in_list = False

    def fail(message: str, hint: str) -> InputError:
        return InputError([Problem(file, line, "", message, hint)])

    for m in _TOKEN.finditer(text):
        quoted, punct, newline, bare, stray = m.groups()
        if newline is not None:
            line += 1
            continue
        if stray is not None:
            raise fail("a quoted value starts here and is never closed", "check the quotes")
        if quoted is not None or bare is not None:
            if not words:
                start = line
            words.append(_ESCAPE.sub(r"\1", quoted) if quoted is not None else bare)
            line += (quoted or "").count("\n")
            continue
        if punct == "[":
            in_list = True
            words.append("[")
        elif punct == "]":
            if not in_list:
                raise fail("']' without '['", "check the member list")
            in_list = False
            words.append("]")
        elif in_list:
            raise fail(f"{punct!r} inside a member list", "close the list with ']'")
        elif punct == "{":
            if not words:
                raise fail("'{' without a name", "")
            path.append(words)
            words = []
        elif punct == ";":
            if words:
                yield start, [w for p in path for w in p] + words
            words = []
        elif punct == "}":
            if words:
                yield start, [w for p in path for w in p] + words
                words = []
            if not path:
                raise fail("'}' without '{'", "remove it or add the missing block")
            path.pop()
    if path or words:
        raise fail("the configuration ends inside a block", "the file is cut short: add '}'")
