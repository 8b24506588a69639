"""The prober: real TCP/UDP/ICMP flows from inside twin nodes, judged from what comes back.

One thread enters each source node's namespace (setns), creates the probe's socket there, sends,
and serves every outstanding probe from one epoll loop; at most `window` probes are in flight.

The judging rule: a probe is called `filtered` only when `timeout` seconds have passed since the
last send of its burst, and every socket of the run (TCP, UDP and the raw ICMP ones) has since
been read until none had anything left. An answer that arrived in time is therefore never
missed, however late the prober gets to it on a busy machine (an ICMP reject left unread in a
raw socket's queue was once called `filtered`). Bursts are short, so a SYN is judged before
TCP resends it at 1 s (which would double counters and logs): keep timeouts under 1 s.

Source ports are spread over the whole range (a quarter of TCP/UDP probes from privileged
ports), so a hole keyed on source ports (`tcp sport 1-1023 accept`) shows as flows that pass.

Verdicts: open (handshake / reply), closed (the destination host answered RST / port
unreachable: the flow crossed the firewall), rejected (ICMP admin-prohibited from the firewall),
filtered (nothing came back).
"""

from __future__ import annotations

import errno
import ipaddress
import random
import select
import socket
import struct
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from traffic.netns import Namespaces, in_thread, raise_fd_limit

OPEN, CLOSED, FILTERED, REJECTED = "open", "closed", "filtered", "rejected"
IP_RECVERR = 11
SO_EE_ORIGIN_ICMP = 2
LINGER_RESET = struct.pack("ii", 1, 0)
SOURCE_PORTS = ((1, 1023), (1024, 32767), (32768, 60999), (61000, 65535))
MAX_BURST = 0.1  # seconds of sending before the prober looks at answers again
REJECT_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM}


@dataclass(frozen=True)
class Probe:
    netns: str  # namespace file of the source node ("" = the caller's namespace)
    src: str
    dst: str
    proto: str  # tcp | udp | icmp
    port: int = 0


@dataclass
class Outcome:
    verdict: str = FILTERED
    sport: int = 0  # source port, or the ICMP echo id
    seq: int = 0  # ICMP echo sequence
    detail: str = ""
    rtt_ms: float = 0.0


class Refused(ValueError):
    """A probe that would leave the twin."""


def check_targets(probes: Sequence[Probe], allowed: Sequence[str]) -> None:
    """Refuse any probe whose source or destination lies outside the lab's subnets."""
    nets = [ipaddress.IPv4Network(n) for n in allowed]
    for addr in {a for p in probes for a in (p.src, p.dst)}:
        if not any(ipaddress.IPv4Address(addr) in n for n in nets):
            raise Refused(f"refusing to probe {addr}: outside the lab's subnets")
    for p in probes:
        if not p.netns:
            raise Refused(f"refusing to probe {p.dst} from the machine's own namespace")


def run_probes(
    probes: Sequence[Probe], lab_subnets: Sequence[str], timeout: float = 0.3, window: int = 4096
) -> list[Outcome]:
    """Send every probe and judge it; outcomes are in the order of `probes`."""
    check_targets(probes, lab_subnets)
    raise_fd_limit(window + 1024)
    run = _Run(probes, timeout, window)
    in_thread(run.main, "twin-prober")
    return run.outcomes


class _Run:
    def __init__(self, probes: Sequence[Probe], timeout: float, window: int) -> None:
        self.probes = probes
        self.timeout = timeout
        self.window = window
        # a burst of sends lasts at most this long, so that its first SYN is judged (and its
        # socket closed) before TCP resends it at 1 s
        self.burst = max(0.01, min(MAX_BURST, 0.95 - timeout))
        self.outcomes = [Outcome() for _ in probes]
        self.ep = select.epoll()
        self.socks: dict[int, tuple[int, socket.socket]] = {}  # fd → (probe index, socket)
        self.sock_of: dict[int, socket.socket] = {}  # probe index → its socket
        self.raw: dict[str, socket.socket] = {}  # netns → raw ICMP socket
        self.raw_fds: dict[int, socket.socket] = {}
        self.icmp_wait: dict[tuple[str, int, int], int] = {}  # (dst, id, seq) → probe index
        self.pending: set[int] = set()
        self.sent_at: dict[int, float] = {}
        self.ident = _idents(len(probes))
        self.rnd = random.Random()

    def main(self) -> None:
        ns = Namespaces()
        try:
            self._loop(ns)
        finally:
            for _, s in self.socks.values():
                s.close()
            for s in self.raw.values():
                s.close()
            self.ep.close()
            ns.close()

    def _loop(self, ns: Namespaces) -> None:
        """Send in bursts, serve answers between them; judge a deadline only after every socket
        (raw ICMP ones included) has been read to the end at a moment past that deadline."""
        bursts: deque[tuple[float, list[int]]] = deque()  # (deadline, probes) in send order
        nxt = 0
        total = len(self.probes)
        while nxt < total or self.pending:
            if nxt < total and len(self.pending) < self.window:
                burst: list[int] = []
                start = time.monotonic()
                while (
                    nxt < total
                    and len(self.pending) < self.window
                    and time.monotonic() - start < self.burst
                ):
                    self._send(ns, nxt)
                    burst.append(nxt)
                    nxt += 1
                # every deadline counts from the last send of its burst: while the prober is
                # sending, the kernel is busy with its packets, not with the answers
                bursts.append((time.monotonic() + self.timeout, burst))
            if nxt < total and len(self.pending) < self.window:
                wait = 0.0  # more to send: look at what came back, then go on sending
            else:
                wait = max(0.0, bursts[0][0] - time.monotonic()) if bursts else self.timeout
            self._serve(wait)
            now = time.monotonic()
            if bursts and bursts[0][0] <= now:
                while self._serve(0.0):  # read every socket to the end before judging
                    pass
                while bursts and bursts[0][0] <= now:
                    for i in bursts.popleft()[1]:
                        if i in self.pending:
                            self._expire(i)

    def _serve(self, wait: float) -> int:
        """Handle what is ready (waiting up to `wait` s for something); how many sockets."""
        events = self.ep.poll(wait)
        for fd, mask in events:
            if fd in self.raw_fds:
                self._read_icmp(fd)
            elif fd in self.socks:
                self._event(fd, mask)
        return len(events)

    # --- sending ------------------------------------------------------------------------------

    def _send(self, ns: Namespaces, i: int) -> None:
        p = self.probes[i]
        ns.enter(p.netns)
        self.pending.add(i)
        self.sent_at[i] = time.monotonic()
        try:
            if p.proto == "tcp":
                self._send_tcp(i, p)
            elif p.proto == "udp":
                self._send_udp(i, p)
            else:
                self._send_icmp(i, p)
        except OSError as exc:
            self._finish(i, REJECTED if exc.errno in REJECT_ERRNOS else FILTERED, str(exc))

    def _send_tcp(self, i: int, p: Probe) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        self._bind(i, s, p.src)
        self.outcomes[i].sport = s.getsockname()[1]
        self._watch(i, s, select.EPOLLOUT)
        rc = s.connect_ex((p.dst, p.port))
        if rc not in (0, errno.EINPROGRESS):
            self._judge_tcp(i, rc)

    def _send_udp(self, i: int, p: Probe) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
        s.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
        self._bind(i, s, p.src)
        self.outcomes[i].sport = s.getsockname()[1]
        s.connect((p.dst, p.port))
        self._watch(i, s, select.EPOLLIN)
        s.send(b"twin-probe %d" % i)

    def _send_icmp(self, i: int, p: Probe) -> None:
        raw = self.raw.get(p.netns)
        if raw is None:
            raw = socket.socket(
                socket.AF_INET, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.IPPROTO_ICMP
            )
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            self.raw[p.netns] = raw
            self.raw_fds[raw.fileno()] = raw
            self.ep.register(raw.fileno(), select.EPOLLIN)
        seq = i & 0xFFFF
        ident = (self.ident + (i >> 16)) & 0xFFFF
        self.outcomes[i].sport, self.outcomes[i].seq = ident, seq
        self.icmp_wait[(p.dst, ident, seq)] = i
        raw.sendto(echo_request(ident, seq, b"twin-probe"), (p.dst, 0))

    def _bind(self, i: int, s: socket.socket, src: str) -> None:
        """A source port from a spread: every fourth probe from a privileged port (1-1023), the
        others from the registered, ephemeral and top ranges, so a rule keyed on source ports is
        crossed too. A port in use on that host (a responder's) is drawn again."""
        lo, hi = SOURCE_PORTS[i % len(SOURCE_PORTS)]
        for _ in range(8):
            try:
                s.bind((src, self.rnd.randint(lo, hi)))
                return
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        s.bind((src, 0))

    def _watch(self, i: int, s: socket.socket, events: int) -> None:
        self.socks[s.fileno()] = (i, s)
        self.sock_of[i] = s
        self.ep.register(s.fileno(), events | select.EPOLLERR)

    # --- judging ------------------------------------------------------------------------------

    def _event(self, fd: int, events: int) -> None:
        i, s = self.socks[fd]
        if s.type == socket.SOCK_STREAM:
            self._judge_tcp(i, s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
        else:
            self._judge_udp(i, s)

    def _judge_tcp(self, i: int, err: int) -> None:
        if err in (0, errno.ECONNRESET, errno.EPIPE):  # a reset after the handshake: it was open
            self._finish(i, OPEN, "reset after handshake" if err else "")
        elif err == errno.ECONNREFUSED:
            self._finish(i, CLOSED, "RST")
        elif err in REJECT_ERRNOS:
            self._finish(i, REJECTED, errno.errorcode.get(err, str(err)))
        elif err not in (errno.EINPROGRESS, errno.EALREADY):
            self._finish(i, FILTERED, errno.errorcode.get(err, str(err)))

    def _judge_udp(self, i: int, s: socket.socket) -> None:
        try:
            _, anc, _, _ = s.recvmsg(512, 512, socket.MSG_ERRQUEUE)
        except BlockingIOError:
            anc = []
        for level, kind, data in anc:
            if level == socket.SOL_IP and kind == IP_RECVERR and len(data) >= 16:
                _, origin, itype, code = struct.unpack_from("=IBBB", data)
                sender = socket.inet_ntoa(data[20:24]) if len(data) >= 24 else "?"
                if origin == SO_EE_ORIGIN_ICMP and itype == 3 and code == 3:
                    self._finish(i, CLOSED, f"port unreachable from {sender}")
                elif origin == SO_EE_ORIGIN_ICMP:
                    self._finish(i, REJECTED, f"icmp {itype}/{code} from {sender}")
                return
        try:
            data = s.recv(2048)
        except BlockingIOError:
            return
        except OSError as exc:
            self._finish(i, CLOSED if exc.errno == errno.ECONNREFUSED else REJECTED, str(exc))
            return
        if data == b"twin-probe %d" % i:
            self._finish(i, OPEN)

    def _read_icmp(self, fd: int) -> None:
        raw = self.raw_fds[fd]
        while True:
            try:
                pkt, _ = raw.recvfrom(2048)
            except BlockingIOError:
                return
            found = parse_icmp(pkt)
            if found is None:
                continue
            key, itype, code, sender = found
            i = self.icmp_wait.get(key)
            if i is None or i not in self.pending:
                continue
            if itype == 0:
                self._finish(i, OPEN)
            else:
                self._finish(i, REJECTED, f"icmp {itype}/{code} from {sender}")

    def _expire(self, i: int) -> None:
        """The deadline passed: look once more at the socket, then call it filtered."""
        s = self.sock_of.get(i)
        if s is not None and s.type == socket.SOCK_STREAM:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err or _connected(s):
                self._judge_tcp(i, err)
        elif s is not None:
            self._judge_udp(i, s)
        if i in self.pending:
            self._finish(i, FILTERED, f"no answer in {self.timeout * 1000:.0f} ms")

    def _finish(self, i: int, verdict: str, detail: str = "") -> None:
        if i not in self.pending:
            return
        self.pending.discard(i)
        out = self.outcomes[i]
        out.verdict, out.detail = verdict, detail
        out.rtt_ms = (time.monotonic() - self.sent_at[i]) * 1000
        p = self.probes[i]
        if p.proto == "icmp":
            self.icmp_wait.pop((p.dst, out.sport, out.seq), None)
            return
        s = self.sock_of.pop(i, None)
        if s is not None:
            self.ep.unregister(s.fileno())
            del self.socks[s.fileno()]
            s.close()


_ident = [random.randrange(0x10000)]


def _idents(n: int) -> int:
    """The first ICMP echo id of a run; every run of a process gets ids of its own, or a
    second run's echo would match the first one's conntrack entry and skip the rules."""
    first = _ident[0]
    _ident[0] = (first + 1 + (n >> 16)) & 0xFFFF
    return first


def _connected(s: socket.socket) -> bool:
    try:
        s.getpeername()
        return True
    except OSError:
        return False


def echo_request(ident: int, seq: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    csum = checksum(header + payload)
    return struct.pack("!BBHHH", 8, 0, csum, ident, seq) + payload


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
