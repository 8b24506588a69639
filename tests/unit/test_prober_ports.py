"""The prober's source ports (no packet is sent: sockets are only bound, on loopback)."""

from __future__ import annotations

import socket

import pytest

from traffic.prober import _Run


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_a_port_another_probe_is_pinned_to_is_never_drawn_from_the_spread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bypass check sends from udp 53, 123, …: a matrix probe of the same flow drawing 53
    would share its 4-tuple, and a reject's ICMP error would reach one of the two only."""
    run = _Run(iter(()), 1, 0.2, 16)
    run.pinned = frozenset({53})
    other = free_port()
    drawn = iter([53, other])
    monkeypatch.setattr(run.ports, "next", lambda i: next(drawn))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            assert run._bind(0, s, "127.0.0.1") == other
    finally:
        run.ep.close()
