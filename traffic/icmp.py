"""ICMP echo requests, and what an answer says (an echo reply, or an ICMP error quoting one);
the same for ICMPv6 (a raw ICMPv6 socket sees no IP header: the sender is the peer address,
and the kernel fills in the checksum)."""

from __future__ import annotations

import ctypes
import socket
import struct


def echo_request(ident: int, seq: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    csum = checksum(header + payload)
    return struct.pack("!BBHHH", 8, 0, csum, ident, seq) + payload


def echo_request6(ident: int, seq: int, payload: bytes) -> bytes:
    return struct.pack("!BBHHH", 128, 0, 0, ident, seq) + payload


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def parse_icmp(pkt: bytes) -> tuple[tuple[str, int, int], int, int, str] | None:
    """An echo reply or an ICMP error about an echo request → ((dst, id, seq), type, code, from)."""
    ihl = (pkt[0] & 0x0F) * 4
    if len(pkt) < ihl + 8:
        return None
    sender = socket.inet_ntoa(pkt[12:16])
    itype, code = pkt[ihl], pkt[ihl + 1]
    if itype == 0:
        ident, seq = struct.unpack_from("!HH", pkt, ihl + 4)
        return (sender, ident, seq), itype, code, sender
    if itype == 3:
        inner = pkt[ihl + 8 :]
        if len(inner) < 28 or inner[9] != socket.IPPROTO_ICMP:
            return None
        iihl = (inner[0] & 0x0F) * 4
        if len(inner) < iihl + 8 or inner[iihl] != 8:
            return None
        dst = socket.inet_ntoa(inner[16:20])
        ident, seq = struct.unpack_from("!HH", inner, iihl + 4)
        return (dst, ident, seq), itype, code, sender
    return None


def parse_icmp6(pkt: bytes, sender: str) -> tuple[tuple[str, int, int], int, int, str] | None:
    """An ICMPv6 echo reply (129) or destination-unreachable error (1) quoting an echo request
    → ((dst, id, seq), type, code, from)."""
    if len(pkt) < 8:
        return None
    itype, code = pkt[0], pkt[1]
    if itype == 129:
        ident, seq = struct.unpack_from("!HH", pkt, 4)
        return (sender, ident, seq), itype, code, sender
    if itype == 1 and len(pkt) >= 8 + 40 + 8:
        inner = pkt[8:]
        if inner[6] != socket.IPPROTO_ICMPV6 or inner[40] != 128:
            return None
        dst = socket.inet_ntop(socket.AF_INET6, inner[24:40])
        ident, seq = struct.unpack_from("!HH", inner, 44)
        return (dst, ident, seq), itype, code, sender
    return None


ICMP6_FILTER = 1
SOL_ICMPV6 = 58


def echo_answers_only6(sock: socket.socket) -> None:
    """Let a raw ICMPv6 socket queue only echo replies and destination-unreachable errors
    (ICMP6_FILTER: a bit per type, set = blocked)."""
    blocked = [0xFFFFFFFF] * 8
    for itype in (1, 129):
        blocked[itype >> 5] &= ~(1 << (itype & 31))
    sock.setsockopt(SOL_ICMPV6, ICMP6_FILTER, struct.pack("=8I", *blocked))


SO_ATTACH_FILTER = 26
# Classic BPF, run on each packet a raw ICMP socket would queue (it sees the IP header first):
# keep echo replies and destination-unreachable errors that quote an ICMP packet; drop the
# rest, e.g. the copies of every reject of a TCP or UDP probe sent from the same node.
_ECHO_ONLY = (
    (0xB1, 0, 0, 0),  # X = IP header length
    (0x50, 0, 0, 0),  # A = ICMP type
    (0x15, 3, 0, 0),  # echo reply: keep
    (0x15, 0, 3, 3),  # not destination unreachable: drop
    (0x50, 0, 0, 17),  # A = protocol of the quoted IP header
    (0x15, 0, 1, 1),  # ICMP: keep
    (0x06, 0, 0, 0xFFFF),  # keep
    (0x06, 0, 0, 0),  # drop
)
_program = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in _ECHO_ONLY))


def echo_answers_only(sock: socket.socket) -> None:
    """Let a raw ICMP socket queue only what can answer an echo request."""
    prog = struct.pack("HxxxxxxQ", len(_ECHO_ONLY), ctypes.addressof(_program))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, prog)
