"""FortiOS configuration text (`show full-configuration`, a backup file) → a tree of blocks.

    config firewall address      → Block("firewall address")
        edit "web1"              → Entry("web1")
            set subnet 10.0.1.10 255.255.255.255
        next
    end

`config` inside an `edit` nests; `config vdom` / `edit root` wraps a VDOM's configuration.
"""

from __future__ import annotations

import re
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


# A command's words: double-quoted values (backslash escapes; they may span lines: certificates,
# keys, replacement messages), bare words, and the newline that ends the command.
_TOKEN = re.compile(r'^[ \t]*(#[^\n]*)|"((?:[^"\\]|\\.)*)"|(\n)|([^\s"]+)|(")', re.S | re.M)
_ESCAPE = re.compile(r"\\(.)", re.S)


def commands(text: str, file: str) -> Iterator[tuple[int, list[str]]]:
    """(line, words) of every command; a comment line (#…) is no command."""
    line, start = 1, 1
    words: list[str] = []
    for m in _TOKEN.finditer(text):
        comment, quoted, newline, bare, stray = m.groups()
        if comment is not None:
            continue
        if newline is not None:
            if words:
                yield start, words
            words = []
            line += 1
            continue
        if stray is not None:
            raise InputError(
                [
                    Problem(
                        file,
                        line,
                        "",
                        "a quoted value starts here and is never closed",
                        'the file is cut short, or a quote inside a value is not escaped (\\")',
                    )
                ]
            )
        if not words:
            start = line
        if quoted is not None:
            words.append(_ESCAPE.sub(r"\1", quoted))
            line += quoted.count("\n")
        else:
            words.append(bare)
    if words:
        yield start, words


def parse_fortios(
    text: str, file: str, ignored: list[tuple[int, str]] | None = None
) -> list[Block]:
    """Top-level blocks in file order. A line FortiOS itself would refuse inside a block
    (`cost 10` without `set`, a stray `next`) is ignored, as the CLI ignores it, and listed in
    `ignored`; a file that cannot be read at all (an unclosed block or quote) is an error."""
    skipped = ignored if ignored is not None else []
    top: list[Block] = []
    blocks: list[Block] = []  # open config blocks
    entries: list[Entry | None] = []  # the open edit of each block (None: none)

    def fail(n: int, message: str, hint: str) -> InputError:
        return InputError([Problem(file, n, "", message, hint)])

    for n, words in commands(text, file):
        verb, args = words[0], words[1:]
        if verb == "config":
            path = " ".join(args)
            if not blocks:
                block = Block(path, n)
                top.append(block)
            else:
                owner = entries[-1] or blocks[-1].settings
                block = owner.blocks.setdefault(path, Block(path, n))
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
            if not blocks:
                raise fail(n, "'next' outside a config block", "remove it or add the config")
            if entries[-1] is None:
                skipped.append((n, "'next' without 'edit'"))
            entries[-1] = None
        elif verb in ("delete", "purge", "rename", "move", "clone") and blocks:
            _edit_verb(blocks[-1], verb, args)
        elif verb in ("set", "unset", "append", "select", "unselect"):
            if not blocks or not args:
                raise fail(n, f"'{verb}' outside a config block", "")
            _setting(entries[-1] or blocks[-1].settings, verb, args)
        elif blocks:
            skipped.append((n, f"{' '.join(words)[:60]!r} is not FortiOS configuration syntax"))
        # before the first `config`: a console prompt or banner, not configuration
    if blocks:
        raise fail(blocks[-1].line, f"config {blocks[-1].path!r} has no 'end'", "add 'end'")
    return top


def _setting(owner: Entry, verb: str, args: list[str]) -> None:
    if verb == "unset":
        owner.settings.pop(args[0], None)
    elif verb in ("append", "select") and args[0] in owner.settings:
        owner.settings[args[0]].extend(args[1:])
    elif verb == "unselect":
        gone = set(args[1:])
        owner.settings[args[0]] = [v for v in owner.values(args[0]) if v not in gone]
    else:
        owner.settings[args[0]] = args[1:]


def _edit_verb(block: Block, verb: str, args: list[str]) -> None:
    """The table verbs of a CLI script: delete/purge remove entries, rename renames one, move
    reorders (policies are matched in list order); clone is not followed."""
    if verb == "purge":
        block.entries.clear()
    elif verb == "delete" and args:
        block.entries.pop(args[0], None)
    elif verb == "rename" and len(args) >= 3 and args[0] in block.entries:
        entry = block.entries.pop(args[0])
        entry.name = args[2]
        block.entries[args[2]] = entry
    elif verb == "move" and len(args) >= 3 and {args[0], args[2]} <= set(block.entries):
        moved = block.entries.pop(args[0])
        order: list[tuple[str, Entry]] = []
        for name, entry in block.entries.items():
            if name == args[2] and args[1] == "before":
                order.append((args[0], moved))
            order.append((name, entry))
            if name == args[2] and args[1] == "after":
                order.append((args[0], moved))
        block.entries = dict(order)


def find(blocks: list[Block], path: str) -> Iterator[Block]:
    for b in blocks:
        if b.path == path:
            yield b
