"""The prober's floor: a bare one-process epoll loop making the same connect()s (and UDP sends,
ICMP echoes) with none of twin's bookkeeping — no verdict per probe, no source-port spread, no
log reader. Imported by bench/sweep.py and bench/scale.py; not a benchmark of its own.

It keeps the prober's judging rule (a probe expires only `timeout` after the last send of its
burst, once every socket has been read to the end), so both do the same work and the ratio says
what twin's bookkeeping costs. Source ports are bound explicitly (10000-59999, where no
responder listens): left to the kernel, connect() searched for a free port and the same loop
judged 8,500 probes/s on the 100-zone matrix instead of 30,000.
"""

from __future__ import annotations

import errno
import select
import socket
import time
from collections import Counter, deque
from collections.abc import Sequence

from traffic.netns import Namespaces, in_thread, raise_fd_limit
from traffic.prober import echo_request

BURST = 0.1
Bare = tuple[str, str, str, str, int]  # netns, src, dst, proto, port


def bare_epoll(
    probes: Sequence[Bare], timeout: float = 0.2, window: int = 16384
) -> tuple[float, Counter[str]]:
    """Every probe sent and judged; the seconds it took and the verdicts counted."""
    raise_fd_limit(window + 1024)
    loop = _Loop(probes, timeout, window)
    return in_thread(loop.run, "bench-floor"), loop.counts


class _Loop:
    def __init__(self, probes: Sequence[Bare], timeout: float, window: int) -> None:
        self.probes, self.timeout, self.window = probes, timeout, window
        self.ep = select.epoll()
        self.live: dict[int, socket.socket] = {}
        self.raw: dict[int, socket.socket] = {}
        self.raw_of: dict[str, socket.socket] = {}
        self.counts: Counter[str] = Counter()

    def run(self) -> float:
        ns = Namespaces()
        bursts: deque[tuple[float, list[tuple[int, socket.socket]]]] = deque()
        n, i = len(self.probes), 0
        started = time.perf_counter()
        try:
            while i < n or self.live:
                if i < n and len(self.live) < self.window:
                    burst: list[tuple[int, socket.socket]] = []
                    i = self.send(ns, i, burst)
                    bursts.append((time.monotonic() + self.timeout, burst))
                more = i < n and len(self.live) < self.window
                wait = 0.0 if more or not bursts else max(0.0, bursts[0][0] - time.monotonic())
                self.serve(wait)
                now = time.monotonic()
                if bursts and bursts[0][0] <= now:
                    while self.serve(0.0):
                        pass
                    while bursts and bursts[0][0] <= now:
                        for fd, s in bursts.popleft()[1]:
                            if self.live.get(fd) is s:  # not a later socket on a reused fd
                                self.finish(fd, "filtered")
            if self.raw:  # echoes: one timeout after the last send
                time.sleep(self.timeout)
                self.serve(0.0)
            return time.perf_counter() - started
        finally:
            for s in [*self.live.values(), *self.raw.values()]:
                s.close()
            self.ep.close()
            ns.close()

    def send(self, ns: Namespaces, i: int, burst: list[tuple[int, socket.socket]]) -> int:
        t0 = time.monotonic()
        while i < len(self.probes) and len(self.live) < self.window:
            netns, src, dst, proto, port = self.probes[i]
            i += 1
            ns.enter(netns)
            if proto == "icmp":
                self.echo(netns, dst, i)
                continue
            tcp = proto == "tcp"
            s = socket.socket(
                socket.AF_INET,
                (socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM) | socket.SOCK_NONBLOCK,
            )
            fd = s.fileno()
            self.live[fd] = s
            self.ep.register(fd, select.EPOLLOUT if tcp else select.EPOLLIN)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((src, 10000 + i % 50000))
            if tcp:
                s.connect_ex((dst, port))
            else:
                s.setsockopt(socket.SOL_IP, 11, 1)  # IP_RECVERR
                s.connect((dst, port))
                s.send(b"floor")
            burst.append((fd, s))
            if time.monotonic() - t0 >= BURST:
                break
        return i

    def echo(self, netns: str, dst: str, i: int) -> None:
        r = self.raw_of.get(netns)
        if r is None:
            r = socket.socket(socket.AF_INET, socket.SOCK_RAW | socket.SOCK_NONBLOCK, 1)
            self.raw_of[netns] = self.raw[r.fileno()] = r
            self.ep.register(r.fileno(), select.EPOLLIN)
        r.sendto(echo_request(0x7A7A, i & 0xFFFF, b"floor"), (dst, 0))

    def serve(self, wait: float) -> int:
        events = self.ep.poll(wait, 4096)
        for fd, _ in events:
            if fd in self.raw:
                self.read_raw(self.raw[fd])
                continue
            s = self.live.get(fd)
            if s is None:
                continue
            if s.type == socket.SOCK_STREAM:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err != errno.EINPROGRESS:
                    verdict = {0: "open", errno.ECONNREFUSED: "closed"}.get(err, "rejected")
                    self.finish(fd, verdict)
                continue
            try:
                s.recv(2048)
                self.finish(fd, "open")
            except BlockingIOError:
                pass
            except OSError as exc:
                self.finish(fd, "closed" if exc.errno == errno.ECONNREFUSED else "rejected")
        return len(events)

    def read_raw(self, r: socket.socket) -> None:
        while True:
            try:
                pkt = r.recv(2048)
            except BlockingIOError:
                return
            self.counts["icmp answers"] += 1
            del pkt

    def finish(self, fd: int, verdict: str) -> None:
        self.counts[verdict] += 1
        self.live.pop(fd).close()
