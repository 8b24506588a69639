"""FortiOS configuration text (`show full-configuration`, a backup file) → a tree of blocks.

    config firewall address      → Block("firewall address")
        edit "web1"              → Entry("web1")
            set subnet 10.0.1.10 255.255.255.255
        next
    end

`config` inside an `edit` nests; `config vdom` / `edit root` wraps a VDOM's configuration.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field

from twin.errors import InputError, Problem


@dataclass
class Entry:
    name: str
    line: int
    settings: dict[str, list[str]] = field(default_factory=dict)
    blocks: dict[str, Block] = field(default_factory=dict)

    def get(self, key: str, default: str = "") -> str:
        values = self.settings.get(key)
        return values[0] if values else default

    def values(self, key: str) -> list[str]:
        return list(self.settings.get(key, []))


@dataclass
class Block:
    path: str
    line: int
    entries: dict[str, Entry] = field(default_factory=dict)
    settings: Entry = field(default_factory=lambda: Entry("", 0))


def parse_fortios(text: str, file: str) -> list[Block]:
    """Top-level blocks in file order."""
    top: list[Block] = []
    blocks: list[Block] = []  # open config blocks
    entries: list[Entry | None] = []  # the open edit of each block (None: none)

    def fail(n: int, message: str, hint: str) -> InputError:
        return InputError([Problem(file, n, "", message, hint)])

    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line, posix=True)
        except ValueError as exc:
            raise fail(n, f"cannot read this line: {exc}", "check the quotes") from None
        verb, args = words[0], words[1:]
        if verb == "config":
            block = Block(" ".join(args), n)
            if not blocks:
                top.append(block)
            else:
                owner = entries[-1] or blocks[-1].settings
                owner.blocks[block.path] = block
            blocks.append(block)
            entries.append(None)
        elif verb == "end":
            if not blocks:
                raise fail(n, "'end' without 'config'", "remove it or add the missing config")
            blocks.pop()
            entries.pop()
        elif verb == "edit":
            if not blocks or not args:
                raise fail(n, "'edit' outside a config block", "every edit sits in config … end")
            entry = blocks[-1].entries.setdefault(args[0], Entry(args[0], n))
            entries[-1] = entry
        elif verb == "next":
            if not blocks or entries[-1] is None:
                raise fail(n, "'next' without 'edit'", "remove it or add the edit")
            entries[-1] = None
        elif verb in ("set", "unset", "append", "select"):
            if not blocks or not args:
                raise fail(n, f"'{verb}' outside a config block", "")
            owner = entries[-1] or blocks[-1].settings
            if verb == "unset":
                owner.settings.pop(args[0], None)
            elif verb in ("append", "select") and args[0] in owner.settings:
                owner.settings[args[0]].extend(args[1:])
            else:
                owner.settings[args[0]] = args[1:]
        else:
            raise fail(n, f"unknown word {verb!r}", "a FortiOS config has config/edit/set/next/end")
    if blocks:
        raise fail(blocks[-1].line, f"config {blocks[-1].path!r} has no 'end'", "add 'end'")
    return top


def find(blocks: list[Block], path: str) -> Iterator[Block]:
    for b in blocks:
        if b.path == path:
            yield b
