"""The prober: real TCP/UDP/ICMP flows from inside twin nodes, judged from what comes back.

One thread enters each source node's namespace (setns), creates the probe's socket there, sends,
and serves every outstanding probe from one epoll loop; at most `window` probes are in flight.
Two entry points: `run_probes` (a list of probes, an Outcome each) and `sweep` (port ranges
between host pairs, verdicts in arrays: a full 65,535-port sweep makes no object per port).

The judging rule: a probe is called `filtered` only when `timeout` seconds have passed since the
last send of its burst, and every socket of the run (TCP, UDP and the raw ICMP ones) has since
been read until none had anything left. An answer that arrived in time is therefore never
missed, however late the prober gets to it on a busy machine (an ICMP reject left unread in a
raw socket's queue was once called `filtered`). Bursts are short, so a SYN is judged before
TCP resends it at 1 s (which would double counters and logs): keep timeouts under 1 s.

Source ports are spread over the whole range (a quarter of TCP/UDP probes from privileged
ports), so a hole keyed on source ports (`tcp sport 1-1023 accept`) shows as flows that pass.
Probe sockets share source ports (SO_REUSEADDR: the kernel keeps each TCP 4-tuple unique, and
gives a connected UDP socket the answers to its own 4-tuple), so a sweep of one host pair keeps
that spread; a port a listener or a responder holds is drawn again.

Verdicts: open (handshake / reply), closed (the destination host answered RST / port
unreachable: the flow crossed the firewall), rejected (any other ICMP unreachable, e.g.
admin-prohibited: from the firewall, or from a host enforcing the policy itself — the source's
own reject answers from the source), filtered (nothing came back). The class comes from what
the answer is, never from who sent it.

Both address families: a probe whose destination is an IPv6 address goes out on an AF_INET6
socket (icmpv6: an ICMPv6 echo), and its answers are read the same way (ICMPv6 errors through
IPV6_RECVERR and a raw ICMPv6 socket per node).
"""

from __future__ import annotations

import _socket
import errno
import functools
import gc
import ipaddress
import math
import random
import resource
import select
import socket
import struct
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from traffic.icmp import (
    checksum,
    echo_answers_only,
    echo_answers_only6,
    echo_request,
    echo_request6,
    parse_icmp,
    parse_icmp6,
)
from traffic.judged import CLOSED, CODE, FILTERED, OPEN, PENDING, REJECTED, Judged, Outcome
from traffic.netns import Namespaces, in_thread, raise_fd_limit

__all__ = [
    "CLOSED", "FILTERED", "OPEN", "REJECTED", "Judged", "Outcome", "Probe", "Refused", "Sweep",
    "check_targets", "checksum", "echo_request", "gc_paused", "parse_icmp", "run_probes", "sweep",
]  # fmt: skip

P = ParamSpec("P")
T = TypeVar("T")
WINDOW = 16384  # probes in flight at most (sockets open at once; the fd limit is raised)
IP_RECVERR, IPV6_RECVERR = 11, 25
SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6 = 2, 3
# a port unreachable from the destination host: (origin, type, code) in each family
PORT_UNREACHABLE = {(SO_EE_ORIGIN_ICMP, 3, 3), (SO_EE_ORIGIN_ICMP6, 1, 4)}
LINGER_RESET = struct.pack("ii", 1, 0)
SOURCE_PORTS = ((1, 1023), (1024, 32767), (32768, 60999), (61000, 65535))
MAX_BURST = 0.1  # seconds of sending before the prober looks at answers again
REJECT_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM}
# A send refused with EPERM (UDP, ICMP) was dropped by the source's own netfilter rules: it is
# judged by what comes back (a reject's ICMP error from the host itself) or by the deadline.
TCP, UDP, ICMP = 0, 1, 2
V_OPEN, V_CLOSED, V_FILTERED, V_REJECTED = (CODE[v] for v in (OPEN, CLOSED, FILTERED, REJECTED))
EPOLLOUT, EPOLLIN, EPOLLERR = select.EPOLLOUT, select.EPOLLIN, select.EPOLLERR
MAXEVENTS = 4096
AF_INET, AF_INET6, SOL_SOCKET, SOL_IP, SOL_IPV6, SOCK_NONBLOCK = (
    socket.AF_INET, socket.AF_INET6, socket.SOL_SOCKET, socket.SOL_IP, socket.IPPROTO_IPV6,
    socket.SOCK_NONBLOCK,
)  # fmt: skip
SO_ERROR, SO_LINGER, SO_REUSEADDR = socket.SO_ERROR, socket.SO_LINGER, socket.SO_REUSEADDR
SO_RCVBUFFORCE = 33
TCP_NONBLOCK, UDP_NONBLOCK = socket.SOCK_STREAM | SOCK_NONBLOCK, socket.SOCK_DGRAM | SOCK_NONBLOCK


@dataclass(frozen=True)
class Probe:
    netns: str  # namespace file of the source node ("" = the caller's namespace)
    src: str
    dst: str
    proto: str  # tcp | udp | icmp | icmpv6
    port: int = 0
    sport: int = 0  # tcp/udp: this source port (0: one from the spread)


@dataclass(frozen=True)
class Sweep:
    """One probe per port of `ports` from one source host to one destination host."""

    netns: str
    src: str
    dst: str
    proto: str  # tcp | udp (icmp: one probe, ports=range(1))
    ports: Sequence[int] = range(1, 65536)


class Refused(ValueError):
    """A probe that would leave the twin."""


def check_targets(pairs: Iterable[tuple[str, str, str]], allowed: Sequence[str]) -> None:
    """Refuse any (netns, src, dst) whose source or destination lies outside the lab's
    subnets, or that would be sent from the machine's own namespace. A source may also be an
    IPv6 link-local address (`fe80::…%eth1`, the bypass check): it never leaves its link."""
    nets = [ipaddress.ip_network(n) for n in allowed]
    seen: set[tuple[str, bool]] = set()
    for netns, src, dst in pairs:
        for addr, is_src in ((src, True), (dst, False)):
            if (addr, is_src) not in seen:
                ip = ipaddress.ip_address(addr)
                local = is_src and ip.version == 6 and ip.is_link_local
                if not (local or any(ip in n for n in nets)):
                    raise Refused(f"refusing to probe {addr}: outside the lab's subnets")
                seen.add((addr, is_src))
        if not netns:
            raise Refused(f"refusing to probe {dst} from the machine's own namespace")


def run_probes(
    probes: Sequence[Probe], lab_subnets: Sequence[str], timeout: float = 0.3, window: int = WINDOW
) -> list[Outcome]:
    """Send every probe and judge it; outcomes are in the order of `probes`."""
    check_targets(((p.netns, p.src, p.dst) for p in probes), lab_subnets)
    items = ((p.netns, p.src, p.dst, p.proto, p.port) for p in probes)
    fixed = {i: p.sport for i, p in enumerate(probes) if p.sport}
    judged = _run(items, len(probes), timeout, window, fixed)
    return [judged.outcome(i) for i in range(len(probes))]


def sweep(
    sweeps: Sequence[Sweep], lab_subnets: Sequence[str], timeout: float = 0.3, window: int = WINDOW
) -> list[Judged]:
    """Probe every port of every sweep; one Judged per sweep, indexed like its `ports`."""
    check_targets(((s.netns, s.src, s.dst) for s in sweeps), lab_subnets)
    sizes = [len(s.ports) for s in sweeps]
    items = ((s.netns, s.src, s.dst, s.proto, port) for s in sweeps for port in s.ports)
    judged = _run(items, sum(sizes), timeout, window)
    out, start = [], 0
    for size in sizes:
        out.append(judged.part(start, start + size))
        start += size
    return out


def gc_paused(work: Callable[P, T]) -> Callable[P, T]:
    """`work` with the cyclic GC paused (as it was before, afterwards). A run makes a few
    objects per probe and no cycles; with a big twin's plan in memory, a full collection took
    up to 1.3 s — the prober's loop stalled past TCP's 1 s SYN resend (two log records for one
    probe) — and the collector's passes were ~30% of a 100-zone `twin test`."""

    @functools.wraps(work)
    def paused(*args: P.args, **kwargs: P.kwargs) -> T:
        collecting = gc.isenabled()
        gc.disable()
        try:
            return work(*args, **kwargs)
        finally:
            if collecting:
                gc.enable()

    return paused


@gc_paused
def _run(
    items: Iterator[tuple[str, str, str, str, int]],
    total: int,
    timeout: float,
    window: int,
    fixed: dict[int, int] | None = None,
) -> Judged:
    """The engine, in a thread of its own (setns changes the calling thread only). `fixed`:
    probe index → its own source port."""
    raise_fd_limit(window + 1024)
    run = _Run(items, total, timeout, window)
    run.fixed = fixed or {}
    run.pinned = frozenset(run.fixed.values())
    in_thread(run.main, "twin-prober")
    return run.out


class _Spread:
    """Source ports: every fourth probe from each range of SOURCE_PORTS, each range walked in a
    random order of its own (a random start and a stride prime to its size)."""

    def __init__(self, rnd: random.Random) -> None:
        self.walks = []
        for lo, hi in SOURCE_PORTS:
            size = hi - lo + 1
            stride = rnd.randrange(1, size)
            while math.gcd(stride, size) != 1:
                stride += 1
            self.walks.append([lo, size, rnd.randrange(size), stride])

    def next(self, i: int) -> int:
        walk = self.walks[i & 3]
        lo, size, at, stride = walk
        walk[2] = (at + stride) % size
        return lo + at


class _Run:
    def __init__(
        self, items: Iterator[tuple[str, str, str, str, int]], total: int, timeout: float,
        window: int,
    ) -> None:  # fmt: skip
        self.items = items
        self.total = total
        self.timeout = timeout
        self.window = window
        # a burst of sends lasts at most this long, so that its first SYN is judged (and its
        # socket closed) before TCP resends it at 1 s
        self.burst = max(0.01, min(MAX_BURST, 0.95 - timeout))
        self.out = Judged(total, timeout)
        self.protos = bytearray(total)  # TCP, UDP or ICMP per probe
        self.sent_at = array("d", bytes(8 * total))
        self.socks: list[_socket.socket | None] = [None] * total  # a pending probe's socket
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.owner = [-1] * (min(limit, 1 << 20) + 1)  # fd → the probe it belongs to
        self.raw: dict[tuple[str, int], socket.socket] = {}  # (netns, family) → raw ICMP socket
        self.raw_fds: dict[int, socket.socket] = {}
        self.icmp_wait: dict[tuple[str, int, int], int] = {}  # (dst, id, seq) → probe index
        self.icmp_key: dict[int, tuple[str, int, int]] = {}
        self.live = 0  # probes sent and not judged yet
        self.ident = _idents(total)
        self.ports = _Spread(random.Random())
        self.fixed: dict[int, int] = {}  # probe index → the source port it must leave from
        self.pinned: frozenset[int] = frozenset()  # those ports: never drawn from the spread
        self.ep = select.epoll()

    def main(self) -> None:
        ns = Namespaces()
        try:
            self._loop(ns)
        finally:
            for s in self.socks:
                if s is not None:
                    s.close()
            for r in self.raw.values():
                r.close()
            self.ep.close()
            ns.close()

    def _loop(self, ns: Namespaces) -> None:
        """Send in bursts, serve answers between them; judge a deadline only after every socket
        (raw ICMP ones included) has been read to the end at a moment past that deadline."""
        bursts: deque[tuple[float, int, int]] = deque()  # (deadline, first, end) in send order
        nxt, total, verdicts = 0, self.total, self.out.verdicts
        while nxt < total or self.live:
            if nxt < total and self.live < self.window:
                first = nxt
                nxt = self._send_burst(ns, nxt)
                # every deadline counts from the last send of its burst: while the prober is
                # sending, the kernel is busy with its packets, not with the answers
                bursts.append((time.monotonic() + self.timeout, first, nxt))
            if nxt < total and self.live < self.window:
                wait = 0.0  # more to send: look at what came back, then go on sending
            else:
                wait = max(0.0, bursts[0][0] - time.monotonic()) if bursts else self.timeout
            self._serve(wait)
            now = time.monotonic()
            if bursts and bursts[0][0] <= now:
                while self._serve(0.0):  # read every socket to the end before judging
                    pass
                while bursts and bursts[0][0] <= now:
                    _, i, end = bursts.popleft()
                    i = verdicts.find(PENDING, i, end)
                    while i >= 0:
                        self._finish(i, V_FILTERED)
                        i = verdicts.find(PENDING, i + 1, end)

    def _serve(self, wait: float) -> int:
        """Handle what is ready (waiting up to `wait` s for something); how many sockets."""
        events = self.ep.poll(wait, MAXEVENTS)
        owner, socks, protos = self.owner, self.socks, self.protos
        for fd, mask in events:
            i = owner[fd] if fd < len(owner) else -1
            s = socks[i] if i >= 0 else None
            if s is None:
                raw = self.raw_fds.get(fd)
                if raw is not None:
                    self._read_icmp(raw)
            elif protos[i] == TCP:
                self._tcp_answer(i, s, s.getsockopt(SOL_SOCKET, SO_ERROR), mask)
            else:
                self._udp_answer(i, s)
        return len(events)

    # --- sending ------------------------------------------------------------------------------

    def _send_burst(self, ns: Namespaces, nxt: int) -> int:
        """Send probes from `nxt` on for at most one burst (or until the window is full); the
        index of the next probe to send."""
        items, total, window, protos, sent_at = (
            self.items, self.total, self.window, self.protos, self.sent_at,
        )  # fmt: skip
        clock = time.monotonic
        end = clock() + self.burst
        while nxt < total and self.live < window:
            netns, src, dst, proto, port = next(items)
            if netns != ns.current:
                ns.enter(netns)
            now = sent_at[nxt] = clock()
            self.live += 1
            try:
                if proto == "tcp":
                    self._send_tcp(nxt, src, dst, port)
                elif proto == "udp":
                    protos[nxt] = UDP
                    self._send_udp(nxt, src, dst, port)
                else:
                    protos[nxt] = ICMP
                    self._send_icmp(nxt, netns, dst)
            except OSError as exc:  # e.g. the source address is gone: the health check names it
                if exc.errno == errno.EPERM and proto != "tcp":
                    # the source's own rules stopped it (a host enforcing the policy itself):
                    # a drop leaves it unanswered, a reject's ICMP error comes from the host
                    self.out.details[nxt] = "stopped by the source host's own rules (EPERM)"
                else:
                    self._finish(
                        nxt, V_REJECTED if exc.errno in REJECT_ERRNOS else V_FILTERED, str(exc)
                    )
            nxt += 1
            if now >= end:
                break
        return nxt

    def _own(self, i: int, s: _socket.socket) -> int:
        fd: int = s.fileno()
        if fd >= len(self.owner):
            self.owner.extend([-1] * (fd + 1 - len(self.owner)))
        self.owner[fd] = i
        self.socks[i] = s
        return fd

    def _send_tcp(self, i: int, src: str, dst: str, port: int) -> None:
        family = AF_INET6 if ":" in dst else AF_INET
        for _ in range(4):
            s = _socket.socket(family, TCP_NONBLOCK)
            fd = self._own(i, s)
            s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
            if family == AF_INET6:
                # the firewall's ICMPv6 reject can come back while connect() still holds the
                # socket (veths deliver at once): TCP keeps it as a soft error only, so it is
                # read from the error queue (measured: TcpExtLockDroppedIcmps, every v6 reject)
                s.setsockopt(SOL_IPV6, IPV6_RECVERR, 1)
            self.out.sports[i] = self._bind(i, s, src)
            self.ep.register(fd, EPOLLOUT)
            rc = s.connect_ex((dst, port))
            if rc != errno.EADDRNOTAVAIL:  # that 4-tuple is in use: another source port
                break
            self.fixed.pop(i, None)
            self.owner[fd] = -1
            self.socks[i] = None
            s.close()
        else:
            raise OSError(rc, f"no free source port towards {dst}:{port}")
        if rc and rc != errno.EINPROGRESS:
            self._tcp_answer(i, s, rc, 0)

    def _send_udp(self, i: int, src: str, dst: str, port: int) -> None:
        v6 = ":" in dst
        s = _socket.socket(AF_INET6 if v6 else AF_INET, UDP_NONBLOCK)
        fd = self._own(i, s)
        s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)  # a connected socket still gets its own answers
        if v6:
            s.setsockopt(SOL_IPV6, IPV6_RECVERR, 1)
        else:
            s.setsockopt(SOL_IP, IP_RECVERR, 1)
        self.out.sports[i] = self._bind(i, s, src)
        s.connect((dst, port))
        self.ep.register(fd, EPOLLIN)
        s.send(b"twin-probe %d" % i)

    def _send_icmp(self, i: int, netns: str, dst: str) -> None:
        family = AF_INET6 if ":" in dst else AF_INET
        raw = self.raw.get((netns, family))
        if raw is None:
            proto = socket.IPPROTO_ICMPV6 if family == AF_INET6 else socket.IPPROTO_ICMP
            raw = socket.socket(family, socket.SOCK_RAW | SOCK_NONBLOCK, proto)
            raw.setsockopt(SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)  # past rmem_max: root
            (echo_answers_only6 if family == AF_INET6 else echo_answers_only)(raw)
            self.raw[(netns, family)] = raw
            self.raw_fds[raw.fileno()] = raw
            self.ep.register(raw.fileno(), EPOLLIN)
        seq = i & 0xFFFF
        ident = (self.ident + (i >> 16)) & 0xFFFF
        self.out.sports[i], self.out.seqs[i] = ident, seq
        self.icmp_wait[(dst, ident, seq)] = i
        self.icmp_key[i] = (dst, ident, seq)
        echo = echo_request6 if family == AF_INET6 else echo_request
        raw.sendto(echo(ident, seq, b"twin-probe"), (dst, 0))

    def _bind(self, i: int, s: _socket.socket, src: str) -> int:
        """The probe's own source port, else one from the spread; one a listener holds on that
        host (a responder's) is drawn again (the caller sees the port it got)."""
        wanted = self.fixed.get(i, 0)
        if wanted and s.type & socket.SOCK_STREAM:  # beside a listener on that port (a responder's)
            s.setsockopt(SOL_SOCKET, socket.SO_REUSEPORT, 1)
        for attempt in range(8):
            port = wanted if wanted and not attempt else self.ports.next(i)
            if port in self.pinned and port != wanted:
                # a port another probe of this run leaves from: two UDP sockets on one 4-tuple
                # share their answers (one reject's ICMP error reaches one of them only)
                continue
            try:
                s.bind(_local(src, port))
                return port
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        s.bind(_local(src, 0))
        bound: int = s.getsockname()[1]
        return bound

    # --- judging ------------------------------------------------------------------------------

    def _tcp_answer(self, i: int, s: _socket.socket, err: int, events: int) -> None:
        if err == 0:
            if events & EPOLLOUT or _connected(s):  # handshake done: it was open
                s.setsockopt(SOL_SOCKET, SO_LINGER, LINGER_RESET)  # close with a reset
                self._finish(i, V_OPEN)
            elif events & EPOLLERR and (found := _queued_error(s)) is not None:
                origin, itype, code, sender = found
                word = "icmpv6" if origin == SO_EE_ORIGIN_ICMP6 else "icmp"
                self._finish(i, V_REJECTED, f"{word} {itype}/{code} from {sender}")
        elif err in (errno.ECONNRESET, errno.EPIPE):  # a reset after the handshake: open
            self._finish(i, V_OPEN, "reset after handshake")
        elif err == errno.ECONNREFUSED:
            self._finish(i, V_CLOSED)
        elif err in REJECT_ERRNOS:
            self._finish(i, V_REJECTED, errno.errorcode.get(err, str(err)))
        elif err not in (errno.EINPROGRESS, errno.EALREADY):
            self._finish(i, V_FILTERED, errno.errorcode.get(err, str(err)))

    def _udp_answer(self, i: int, s: _socket.socket) -> None:
        found = _queued_error(s)
        if found is not None:
            origin, itype, code, sender = found
            if (origin, itype, code) in PORT_UNREACHABLE:
                self._finish(i, V_CLOSED, f"port unreachable from {sender}")
            elif origin in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
                word = "icmpv6" if origin == SO_EE_ORIGIN_ICMP6 else "icmp"
                self._finish(i, V_REJECTED, f"{word} {itype}/{code} from {sender}")
            return
        try:
            data = s.recv(2048)
        except BlockingIOError:
            return
        except OSError as exc:
            self._finish(i, V_CLOSED if exc.errno == errno.ECONNREFUSED else V_REJECTED, str(exc))
            return
        if data == b"twin-probe %d" % i:
            self._finish(i, V_OPEN)

    def _read_icmp(self, raw: socket.socket) -> None:
        verdicts = self.out.verdicts
        v6 = raw.family == AF_INET6
        while True:
            try:
                if v6:
                    pkt, peer = raw.recvfrom(2048)
                    found = parse_icmp6(pkt, peer[0])
                else:
                    found = parse_icmp(raw.recv(2048))
            except BlockingIOError:
                return
            if found is None:
                continue
            key, itype, code, sender = found
            i = self.icmp_wait.get(key)
            if i is None or verdicts[i] != PENDING:
                continue
            if itype in (0, 129):  # echo reply
                self._finish(i, V_OPEN)
            else:
                word = "icmpv6" if v6 else "icmp"
                self._finish(i, V_REJECTED, f"{word} {itype}/{code} from {sender}")

    def _finish(self, i: int, verdict: int, detail: str = "") -> None:
        out = self.out
        if out.verdicts[i] != PENDING:
            return
        out.verdicts[i] = verdict
        if detail:
            out.details[i] = detail
        out.rtt_ms[i] = (time.monotonic() - self.sent_at[i]) * 1000
        self.live -= 1
        if self.protos[i] == ICMP:
            key = self.icmp_key.pop(i, None)
            if key is not None:
                self.icmp_wait.pop(key, None)
            return
        s = self.socks[i]
        if s is not None:  # closing it takes it out of the epoll set too
            self.socks[i] = None
            self.owner[s.fileno()] = -1
            s.close()


_ident = [random.randrange(0x10000)]


def _idents(n: int) -> int:
    """The first ICMP echo id of a run; every run of a process gets ids of its own, or a
    second run's echo would match the first one's conntrack entry and skip the rules."""
    first = _ident[0]
    _ident[0] = (first + 1 + (n >> 16)) & 0xFFFF
    return first


def _local(src: str, port: int) -> tuple[str, int] | tuple[str, int, int, int]:
    """The address to bind: `fe80::…%eth1` (a link-local source) with its interface's index."""
    if "%" not in src:
        return (src, port)
    addr, scope = src.split("%", 1)
    return (addr, port, 0, socket.if_nametoindex(scope))


def _queued_error(s: _socket.socket) -> tuple[int, int, int, str] | None:
    """An ICMP error queued on the socket (IP_RECVERR / IPV6_RECVERR): (origin, type, code,
    sender); None when there is none."""
    try:
        _, anc, _, _ = s.recvmsg(512, 512, socket.MSG_ERRQUEUE)
    except (BlockingIOError, InterruptedError):
        return None
    for level, kind, data in anc:
        if (level, kind) in ((SOL_IP, IP_RECVERR), (SOL_IPV6, IPV6_RECVERR)) and len(data) >= 16:
            _, origin, itype, code = struct.unpack_from("=IBBB", data)
            return origin, itype, code, _offender(data)
    return None


def _offender(data: bytes) -> str:
    """The sender of an ICMP error, from the sockaddr after the sock_extended_err."""
    if len(data) >= 40 and struct.unpack_from("=H", data, 16)[0] == AF_INET6:
        return socket.inet_ntop(AF_INET6, data[24:40])
    return socket.inet_ntoa(data[20:24]) if len(data) >= 24 else "?"


def _connected(s: _socket.socket) -> bool:
    try:
        s.getpeername()
        return True
    except OSError:
        return False
