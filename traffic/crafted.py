"""Crafted packets (scapy): what a plain socket cannot send, sent from inside twin nodes.

- a TCP ACK with no connection behind it: a stateful firewall must drop it as invalid;
- a TCP SYN whose source address belongs to another zone: anti-spoofing must drop it.

Packets go out through a raw socket (IPPROTO_RAW: the header as written) created inside the
source node's namespace, one per address family (an IPv6 packet: its source has a ':'), so the
node's own routing sends them (never the machine's). What happened to them is read from the
firewall's log by the caller.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from traffic.netns import Namespaces, in_thread


@dataclass(frozen=True)
class Crafted:
    netns: str  # the node that sends it
    src: str  # the source address written in the packet (spoofed or not)
    dst: str
    dport: int
    sport: int
    flags: str  # scapy TCP flags: "A" (a stray ACK) or "S"


def send_crafted(packets: Sequence[Crafted]) -> None:
    """Send each packet once from its node, in a thread of its own (setns is per thread). A
    packet the node's own rules stop (a host enforcing the policy itself: EPERM) is not an
    error: where it was stopped is read from that node's log."""
    from scapy.layers.inet import IP, TCP  # noqa: PLC0415 - scapy takes ~1 s to import
    from scapy.layers.inet6 import IPv6  # noqa: PLC0415

    def work() -> None:
        ns = Namespaces()
        sockets: dict[tuple[str, int], socket.socket] = {}
        try:
            for p in packets:
                ns.enter(p.netns)
                family = socket.AF_INET6 if ":" in p.src else socket.AF_INET
                if (p.netns, family) not in sockets:  # created here: it stays in this netns
                    sockets[(p.netns, family)] = socket.socket(
                        family, socket.SOCK_RAW, socket.IPPROTO_RAW
                    )
                seq = random.getrandbits(32)
                tcp = TCP(sport=p.sport, dport=p.dport, flags=p.flags, seq=seq)
                ip = (
                    IPv6(src=p.src, dst=p.dst)
                    if family == socket.AF_INET6
                    else IP(src=p.src, dst=p.dst)
                )
                try:
                    sockets[(p.netns, family)].sendto(bytes(ip / tcp), (p.dst, 0))
                except PermissionError:
                    continue
        finally:
            for s in sockets.values():
                s.close()
            ns.close()

    in_thread(work, "twin-crafted")
