"""Responders: TCP listeners and UDP echo on a twin's destination hosts.

One process serves many nodes: it enters each node's namespace, binds the node's ports there
(a socket keeps its namespace) and answers all of them from one epoll loop. Allowed TCP flows
then complete a real handshake through the stateful firewall; UDP probes get their payload back.

    python -m traffic.responder SPEC.json
SPEC: {"ready": "/path/file", "nodes": [{"netns": "/run/netns/x", "addresses": ["192.168.10.11",
       "fd00:10::11"], "tcp": [22, 8080], "udp": [53]}]}   (netns "" = the current namespace,
       e.g. in a container; "address": one address, as older specs wrote it)
The ready file is written once every socket is bound; SIGTERM stops the process.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import struct
import sys
from typing import Any

from traffic.netns import Namespaces, raise_fd_limit

LINGER_RESET = struct.pack("ii", 1, 0)


def bind_all(nodes: list[dict[str, Any]]) -> tuple[dict[int, socket.socket], set[int]]:
    """Create every listener; returns fd → socket and the set of TCP listener fds."""
    sockets: dict[int, socket.socket] = {}
    tcp: set[int] = set()
    ns = Namespaces()
    try:
        for node in nodes:
            if node.get("netns"):
                ns.enter(node["netns"])
            for address in node.get("addresses") or [node["address"]]:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                for port in node.get("tcp", []):
                    s = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    # the prober's probe from this very port (53, 88: the classic source
                    # ports) binds beside the listener
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                    s.bind((address, port))
                    s.listen(4096)
                    sockets[s.fileno()] = s
                    tcp.add(s.fileno())
                for port in node.get("udp", []):
                    s = socket.socket(family, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # likewise
                    s.bind((address, port))
                    sockets[s.fileno()] = s
    finally:
        ns.close()
    return sockets, tcp


def serve(sockets: dict[int, socket.socket], tcp: set[int]) -> None:
    """Accept connections and hold them until the prober resets them (no TIME_WAIT anywhere);
    echo UDP datagrams back to their sender."""
    ep = select.epoll()
    for fd in sockets:
        ep.register(fd, select.EPOLLIN)
    conns: dict[int, socket.socket] = {}
    while True:
        for fd, _ in ep.poll():
            if fd in conns:
                conn = conns.pop(fd)
                ep.unregister(fd)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
                conn.close()
            elif fd in tcp:
                for conn in _accept_all(sockets[fd]):
                    conns[conn.fileno()] = conn
                    ep.register(conn.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
            else:
                _echo_all(sockets[fd])


def _accept_all(s: socket.socket) -> list[socket.socket]:
    out: list[socket.socket] = []
    while True:
        try:
            conn, _ = s.accept()
        except (BlockingIOError, ConnectionError):
            return out
        conn.setblocking(False)
        out.append(conn)


def _echo_all(s: socket.socket) -> None:
    while True:
        try:
            data, peer = s.recvfrom(2048)
        except (BlockingIOError, ConnectionError):
            return
        with contextlib.suppress(OSError):
            s.sendto(data, peer)


def main(argv: list[str]) -> int:
    with open(argv[1]) as f:
        spec = json.load(f)
    raise_fd_limit(
        sum(
            (len(n.get("tcp", [])) + len(n.get("udp", []))) * len(n.get("addresses") or [1])
            for n in spec["nodes"]
        )
    )
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    sockets, tcp = bind_all(spec["nodes"])
    if spec.get("ready"):
        tmp = spec["ready"] + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()} {len(sockets)}\n")
        os.replace(tmp, spec["ready"])
    serve(sockets, tcp)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
