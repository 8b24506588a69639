"""Forget every connection a namespace's conntrack remembers (what `conntrack -F` does, over
ctnetlink from the calling process: no process per node).

Why a run starts with it: a UDP or ICMP flow the firewall accepted stays in its conntrack table
for 30 s (`nf_conntrack_udp_timeout`, `nf_conntrack_icmp_timeout`). A probe of the next run that
draws the same 5-tuple (same hosts and port, same source port: 1 in 1,023 from the privileged
range) is `established`, accepted before any rule, and leaves no log record: the firewall's
witness is missing and the flow is sent again, or, unlucky twice, inconclusive. It is also
what a test means: every probe meets the rules loaded now, not a connection an older ruleset
let through.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterable

from traffic.netns import Namespaces

NETLINK_NETFILTER = 12
NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE = 1, 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
FLUSH = struct.pack(
    "=IHHIIBBH", 20, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE,
    NLM_F_REQUEST | NLM_F_ACK, 1, 0, socket.AF_UNSPEC, 0, 0,
)  # fmt: skip  # nlmsghdr + nfgenmsg, no attribute: every entry of every family


def flush(namespaces: Iterable[str]) -> None:
    """Empty the conntrack table of each namespace (a file such as /run/netns/NAME)."""
    ns = Namespaces()
    try:
        for path in namespaces:
            ns.enter(path)
            with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER) as sock:
                sock.bind((0, 0))
                sock.send(FLUSH)
                reply = sock.recv(4096)
            _, kind = struct.unpack_from("=IH", reply)
            code = struct.unpack_from("=i", reply, 16)[0] if kind == NLMSG_ERROR else 0
            if code:
                raise OSError(-code, f"conntrack flush: {os.strerror(-code)}")
    finally:
        ns.close()
