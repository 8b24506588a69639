"""Cisco ASA / FTD `show running-config` text → top-level commands with their sub-commands.

A running configuration indents sub-commands by one space; configurations pasted from
templates often do not. An unindented line stays inside the block above it when it is one of
that block's sub-commands (`nameif` under `interface`, `host` under `object network`, …) — an
object's `nat (in,out) static …` is, a twice NAT `nat (in,out) source …` is not.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parents[1] / "data" / "asa.yml"

_SUB = {
    "interface": {
        "nameif",
        "security-level",
        "ip",
        "ipv6",
        "shutdown",
        "description",
        "speed",
        "duplex",
        "vlan",
        "management-only",
        "nve-only",
        "member-interface",
        "channel-group",
        "mac-address",
        "proxy",
        "internal-port",
        "internal-segment-id",
        "external-port",
        "external-segment-id",
        "vtep-nve",
        "segment-id",
        "encapsulation",
        "pppoe",
        "delay",
        "lacp",
        "bridge-group",
    },
    "object network": {"host", "subnet", "range", "fqdn", "nat", "description"},
    "object service": {"service", "description"},
    "object-group network": {"network-object", "group-object", "description"},
    "object-group service": {"port-object", "service-object", "group-object", "description"},
    "object-group protocol": {"protocol-object", "group-object", "description"},
    "object-group icmp-type": {"icmp-object", "group-object", "description"},
}
_NO_SUB = {"shut", "shutdown", "nameif", "security-level", "ip", "ipv6", "management-only"}


@dataclass
class Cmd:
    line: int
    words: list[str]
    text: str  # the line as written, without surrounding blanks
    children: list[Cmd] = field(default_factory=list)

    def word(self, i: int) -> str:
        return self.words[i] if i < len(self.words) else ""


def _kind(words: list[str]) -> str | None:
    if not words:
        return None
    if words[0] == "interface":
        return "interface"
    if words[0] in ("object", "object-group") and len(words) > 2:
        key = f"{words[0]} {words[1]}"
        return key if key in _SUB else "opaque"
    return None


def _is_sub(kind: str, words: list[str]) -> bool:
    if kind == "opaque":
        return False
    first = words[0]
    if kind == "interface" and first == "no":
        return len(words) > 1 and words[1] in _NO_SUB
    if kind == "object network" and first == "nat":
        return "source" not in words  # object NAT, not a twice NAT
    return first in _SUB[kind]


def read_config(text: str) -> list[Cmd]:
    """Top-level commands in file order; comments (`!`, `:`, `#`) and blank lines dropped."""
    top: list[Cmd] = []
    block: Cmd | None = None
    kind: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped[0] in "!:#":
            continue
        cmd = Cmd(number, stripped.split(), stripped)
        indented = raw[:1] in (" ", "\t")
        if block is not None and kind is not None and (indented or _is_sub(kind, cmd.words)):
            block.children.append(cmd)
            continue
        top.append(cmd)
        kind = _kind(cmd.words)
        block = cmd if kind is not None else None
    return top


@functools.cache
def _tables() -> dict[str, dict[str, int]]:
    raw = yaml.safe_load(DATA.read_text())
    return {k: {str(n): int(v) for n, v in table.items()} for k, table in raw.items()}


def port_number(proto: str, text: str) -> int | None:
    """A port as written (`443`, `https`) for tcp, udp or tcp-udp; None if unknown."""
    if text.isdigit():
        value = int(text)
        return value if 0 <= value <= 65535 else None
    tables = _tables()
    protos = ("tcp", "udp") if proto == "tcp-udp" else (proto,)
    found = {tables[p][text] for p in protos if p in tables and text in tables[p]}
    return found.pop() if len(found) == 1 else None


def protocol_number(text: str) -> int | None:
    if text.isdigit():
        return int(text) if int(text) <= 255 else None
    return _tables()["protocols"].get(text)
