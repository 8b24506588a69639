"""The few `ip` commands a twin host's setup file holds, sent as rtnetlink messages from the
calling thread's namespace: no process per host (1,000 hosts: 2,000 processes less).

`ip_lines(text)` recognises the lines a host file is made of — `link set DEV up`,
`addr add A.B.C.D/N dev DEV`, `route replace default via A.B.C.D dev DEV`, and for IPv6
`addr add X:Y::Z/N dev DEV nodad`, `route replace default via X:Y::Z dev DEV` — and returns None
for anything else, so that a file with other lines (a user's template) still goes to
`ip -batch`. The messages are what `ip` sends for the same lines; every one is acknowledged
and a refusal is raised with the line it came from.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import struct

RTM_NEWLINK, RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE = 16, 20, 21, 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLM_F_REPLACE = 0x100
NLMSG_ERROR = 2
IFF_UP = 0x1
IFA_ADDRESS, IFA_LOCAL, IFA_CACHEINFO = 1, 2, 6
FOREVER = 0xFFFFFFFF
IFA_F_NODAD = 0x02
RTA_OIF, RTA_GATEWAY = 4, 5
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

LINK_UP = re.compile(r"link set (\S+) up")
ADDR_ADD = re.compile(r"addr add (\d+\.\d+\.\d+\.\d+)/(\d+) dev (\S+)")
DEFAULT_VIA = re.compile(r"route replace default via (\d+\.\d+\.\d+\.\d+) dev (\S+)")
ADDR_ADD6 = re.compile(r"addr add ([0-9a-f:]+:[0-9a-f:]*)/(\d+) dev (\S+) nodad")
DEFAULT_VIA6 = re.compile(r"route replace default via ([0-9a-f:]+:[0-9a-f:]*) dev (\S+)")
PATTERNS = (
    ("up", LINK_UP), ("addr", ADDR_ADD), ("default", DEFAULT_VIA), ("addr6", ADDR_ADD6),
    ("default6", DEFAULT_VIA6),
)  # fmt: skip

Command = tuple[str, tuple[str, ...], str]  # (kind, arguments, the line as written)


def ip_lines(text: str) -> list[Command] | None:
    """The commands of an `ip -batch` file, if every line is one this module sends."""
    out: list[Command] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        for kind, pattern in PATTERNS:
            m = pattern.fullmatch(line)
            if m:
                out.append((kind, m.groups(), line))
                break
        else:
            return None
    return out


def apply(commands: list[Command]) -> None:
    """Send `commands` in the calling thread's namespace (in order: the kernel handles one
    socket's messages in turn), then read every acknowledgement; raise the first refusal."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        lines = {}
        for seq, (kind, args, line) in enumerate(commands, start=1):
            try:
                msg_type, flags, body = _message(kind, args)
            except OSError as exc:  # no such interface
                raise OSError(exc.errno or errno.ENODEV, f"{line}: {exc.strerror or exc}") from None
            header = struct.pack("=IHHII", 16 + len(body), msg_type, flags | NLM_F_REQUEST, seq, 0)
            sock.send(header + body)
            lines[seq] = line
        _acks(sock, lines)


def _message(kind: str, args: tuple[str, ...]) -> tuple[int, int, bytes]:
    if kind == "up":
        index = socket.if_nametoindex(args[0])
        return RTM_NEWLINK, NLM_F_ACK, struct.pack("=BxHiII", 0, 0, index, IFF_UP, IFF_UP)
    family = socket.AF_INET6 if kind.endswith("6") else socket.AF_INET
    if kind in ("addr", "addr6", "deladdr", "deladdr6", "spare6"):
        addr, prefix, dev = args
        packed = socket.inet_pton(family, addr)
        flags = IFA_F_NODAD if family == socket.AF_INET6 else 0
        body = struct.pack("=BBBBI", family, int(prefix), flags, 0, socket.if_nametoindex(dev))
        body += _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed)
        if kind.startswith("del"):
            return RTM_DELADDR, NLM_F_ACK, body
        if kind == "spare6":  # deprecated (preferred lifetime 0): never picked as a source
            body += _attr(IFA_CACHEINFO, struct.pack("=IIII", 0, FOREVER, 0, 0))
        return RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body
    gateway, dev = args
    body = struct.pack(
        "=BBBBBBBBI", family, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE,
        RTN_UNICAST, 0,
    )  # fmt: skip
    body += _attr(RTA_GATEWAY, socket.inet_pton(family, gateway))
    body += _attr(RTA_OIF, struct.pack("=I", socket.if_nametoindex(dev)))
    return RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, body


def address(add: bool, addr: str, prefix: int, dev: str, spare: bool = False) -> Command:
    """`addr add|del ADDR/PREFIX dev DEV` (IPv6: nodad) as a command for `apply`; a `spare`
    IPv6 address is added deprecated (`preferred_lft 0`): a socket may bind it, the kernel
    never picks it as a source by itself."""
    kind = ("addr" if add else "deladdr") + ("6" if ":" in addr else "")
    if spare and add and kind == "addr6":
        kind = "spare6"
    return (
        kind,
        (addr, str(prefix), dev),
        f"addr {'add' if add else 'del'} {addr}/{prefix} dev {dev}",
    )


def link_local(dev: str) -> str:
    """The IPv6 link-local address of `dev` in the calling thread's namespace ('' if none)."""
    try:
        with open("/proc/thread-self/net/if_inet6") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return ""
    for line in lines:
        fields = line.split()
        if len(fields) == 6 and fields[5] == dev and fields[3] == "20":  # scope link
            return socket.inet_ntop(socket.AF_INET6, bytes.fromhex(fields[0]))
    return ""


def _attr(kind: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return struct.pack("=HH", length, kind) + value + b"\0" * ((4 - length % 4) % 4)


def _acks(sock: socket.socket, lines: dict[int, str]) -> None:
    errors: dict[int, int] = {}
    waiting = set(lines)
    while waiting:
        data = sock.recv(65536)
        off = 0
        while off + 16 <= len(data):
            length, mtype, _, seq, _ = struct.unpack_from("=IHHII", data, off)
            if length < 16:
                raise OSError(errno.EPROTO, "bad netlink reply")
            if mtype == NLMSG_ERROR and seq in waiting:
                waiting.discard(seq)
                (code,) = struct.unpack_from("=i", data, off + 16)
                if code:
                    errors[seq] = -code
            off += (length + 3) & ~3
    if errors:
        seq = min(errors)
        raise OSError(errors[seq], f"{lines[seq]}: {os.strerror(errors[seq])}")
