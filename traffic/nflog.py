"""Read the firewall's NFLOG records (nftables `log group N prefix "<rule>"`) over netlink.

NFLOG works from any network namespace (plain `log` does not: nf_log_all_netns=0). The socket
is created inside the firewall's namespace; one reader per group per namespace. The kernel
batches records (up to 64 KiB per message) and flushes a batch after 10 ms (the default is 1 s).
While probes fly, a thread only copies what arrives (the prober needs the interpreter); records
are parsed when `drain()` is called.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass

from traffic.netns import entered

NETLINK_NETFILTER = 12
NFNL_SUBSYS_ULOG = 4
NFULNL_MSG_PACKET = 0
NFULNL_MSG_CONFIG = 1
NFULA_CFG_CMD, NFULA_CFG_MODE, NFULA_CFG_NLBUFSIZ, NFULA_CFG_TIMEOUT = 1, 2, 3, 4
NFULNL_CFG_CMD_BIND, NFULNL_CFG_CMD_UNBIND = 1, 2
NFULNL_COPY_PACKET = 2
NFULA_PAYLOAD, NFULA_PREFIX = 9, 10
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
SO_RCVBUFFORCE = 33
BATCH = 64 << 10  # bytes of records per netlink message
FLUSH = 1  # a batch is sent after this many hundredths of a second
HEADER = struct.Struct("=IH")
ATTR = struct.Struct("=HH")
PORTS = struct.Struct("!HH")
PACKET = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET


@dataclass(frozen=True)
class LogRecord:
    prefix: str
    src: str
    dst: str
    proto: str  # tcp | udp | icmp | icmpv6 | other
    sport: int  # tcp/udp source port; icmp echo id
    dport: int  # tcp/udp destination port; icmp echo sequence
    time: float
    flags: str = ""  # tcp flags, e.g. "S" or "A"
    node: str = ""  # the node whose rules logged it (one reader per node's namespace)


class NflogReader:
    """Bind an NFLOG group inside a namespace; `drain()` returns what was logged since."""

    def __init__(self, netns: str, group: int, copy_range: int = 64, node: str = "") -> None:
        self.group = group
        self.node = node
        self._records: list[LogRecord] = []
        self._chunks: list[tuple[float, bytes]] = []  # (arrival, netlink messages), unparsed
        self._buf = bytearray(BATCH * 4)
        self._names: dict[bytes, str] = {}
        self._addrs: dict[bytes, str] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None
        with entered(netns) if netns else nullcontext():
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20)
            self.sock.bind((0, 0))
            self._config(_attr(NFULA_CFG_CMD, struct.pack("B", NFULNL_CFG_CMD_BIND)))
            self._config(_attr(NFULA_CFG_MODE, struct.pack("!IBx", copy_range, NFULNL_COPY_PACKET)))
            self._config(_attr(NFULA_CFG_NLBUFSIZ, struct.pack("!I", BATCH)))
            self._config(_attr(NFULA_CFG_TIMEOUT, struct.pack("!I", FLUSH)))
        except BaseException:
            self.sock.close()
            raise
        self.sock.setblocking(False)

    def _config(self, attrs: bytes) -> None:
        kind = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG
        body = struct.pack("!BBH", socket.AF_UNSPEC, 0, self.group) + attrs
        msg = struct.pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST | NLM_F_ACK, 1, 0) + body
        self.sock.send(msg)
        reply = self.sock.recv(65536)
        _, mtype = struct.unpack_from("=IH", reply)
        if mtype == NLMSG_ERROR:
            (code,) = struct.unpack_from("=i", reply, 16)
            if code:
                raise OSError(-code, f"NFLOG group {self.group}: {os.strerror(-code)}")

    def start(self) -> NflogReader:
        """Keep reading in a background thread (a big run would overflow the socket buffer)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="twin-nflog", daemon=True)
        self._thread.start()
        return self

    def _pump(self) -> None:
        ep = select.epoll()
        ep.register(self.sock.fileno(), select.EPOLLIN)
        try:
            while not self._stop.is_set():
                if ep.poll(0.02):
                    self._collect()
        except OSError as exc:
            self._error = exc
        finally:
            ep.close()

    def drain(self, settle: float = 0.05, expect: int = 0, limit: float = 2.0) -> list[LogRecord]:
        """What was logged so far, once nothing new arrived for `settle` seconds and `expect`
        records are in (on a busy machine they come late), or `limit` seconds have passed."""
        deadline = time.monotonic() + limit
        if self._thread is not None:
            while True:
                seen = self._parse()
                time.sleep(settle)
                have = self._parse()
                if have == seen and (have >= expect or time.monotonic() > deadline):
                    break
        else:
            ep = select.epoll()
            ep.register(self.sock.fileno(), select.EPOLLIN)
            try:
                while ep.poll(settle) or (self._parse() < expect and time.monotonic() < deadline):
                    self._collect()
            finally:
                ep.close()
            self._parse()
        if self._error is not None:
            raise self._error
        out, self._records = self._records, []
        return out

    def _collect(self) -> None:
        """Copy every message waiting in the socket (no parsing: that is drain's work)."""
        view = memoryview(self._buf)
        while True:
            try:
                n = self.sock.recv_into(self._buf)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    raise OSError(
                        exc.errno, "NFLOG records were lost (receive buffer full)"
                    ) from None
                raise
            chunk = (time.time(), bytes(view[:n]))
            with self._lock:
                self._chunks.append(chunk)

    def _parse(self) -> int:
        """Parse what the thread collected; how many records are in."""
        with self._lock:
            chunks, self._chunks = self._chunks, []
        records, names, addrs = self._records, self._names, self._addrs
        for now, data in chunks:
            off, size = 0, len(data)
            while off + 16 <= size:
                length, mtype = HEADER.unpack_from(data, off)
                if length < 16:
                    break
                if mtype == PACKET:
                    rec = _parse_packet(
                        data, off + 20, off + length, now, names=names, addrs=addrs, node=self.node
                    )
                    if rec is not None:
                        records.append(rec)
                off += (length + 3) & ~3
        return len(records)

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self.sock.close()

    def __enter__(self) -> NflogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NflogReaders:
    """One reader per node's namespace (node → namespace file), all served by one thread (a
    thread per reader would share the interpreter with the prober many times over): the
    records of every node, each naming its node. Used as `NflogReader` is."""

    def __init__(self, where: dict[str, str], group: int) -> None:
        self.readers: list[NflogReader] = []
        try:
            for node, netns in where.items():
                self.readers.append(NflogReader(netns, group, node=node))
        except BaseException:
            self.close()
            raise
        self._by_fd = {r.sock.fileno(): r for r in self.readers}
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None

    def start(self) -> NflogReaders:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="twin-nflog", daemon=True)
        self._thread.start()
        return self

    def _pump(self) -> None:
        ep = select.epoll()
        for fd in self._by_fd:
            ep.register(fd, select.EPOLLIN)
        try:
            while not self._stop.is_set():
                for fd, _ in ep.poll(0.02):
                    self._by_fd[fd]._collect()
        except OSError as exc:
            self._error = exc
        finally:
            ep.close()

    def _parse(self) -> int:
        return sum(r._parse() for r in self.readers)

    def drain(self, settle: float = 0.05, expect: int = 0, limit: float = 2.0) -> list[LogRecord]:
        """What every node logged so far (in the order it arrived), once nothing new came for
        `settle` seconds and `expect` records are in, or `limit` seconds have passed."""
        deadline = time.monotonic() + limit
        while True:
            if self._thread is None:  # not started: read here
                for r in self.readers:
                    r._collect()
            seen = self._parse()
            time.sleep(settle)
            have = self._parse()
            if have == seen and (have >= expect or time.monotonic() > deadline):
                break
        if self._error is not None:
            raise self._error
        out: list[LogRecord] = []
        for r in self.readers:
            out += r._records
            r._records = []
        out.sort(key=lambda rec: rec.time)
        return out

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        for r in self.readers:
            r.close()

    def __enter__(self) -> NflogReaders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _parse_packet(
    data: bytes,
    off: int,
    end: int,
    now: float,
    *,
    names: dict[bytes, str],
    addrs: dict[bytes, str],
    node: str = "",
) -> LogRecord | None:
    """One record from the attributes in data[off:end]; rule names and addresses are decoded
    once per run (`names`, `addrs`)."""
    prefix, payload = b"", b""
    while off + 4 <= end:
        length, kind = ATTR.unpack_from(data, off)
        if length < 4:
            break
        kind &= 0x3FFF
        if kind == NFULA_PREFIX:
            prefix = data[off + 4 : off + length]
        elif kind == NFULA_PAYLOAD:
            payload = data[off + 4 : off + length]
        off += (length + 3) & ~3
    version = payload[0] >> 4 if payload else 0
    if version == 4 and len(payload) >= 20:
        src, dst = _addr(addrs, payload[12:16]), _addr(addrs, payload[16:20])
        ihl, proto_num = (payload[0] & 0x0F) * 4, payload[9]
    elif version == 6 and len(payload) >= 40:  # no extension headers in what twin sends
        src, dst = _addr(addrs, payload[8:24]), _addr(addrs, payload[24:40])
        ihl, proto_num = 40, payload[6]
    else:
        return None
    name = names.get(prefix)
    if name is None:
        name = names[prefix] = prefix.split(b"\0", 1)[0].decode("ascii", "replace")
    if proto_num in (socket.IPPROTO_TCP, socket.IPPROTO_UDP) and len(payload) >= ihl + 4:
        sport, dport = PORTS.unpack_from(payload, ihl)
        if proto_num == socket.IPPROTO_UDP:
            return LogRecord(name, src, dst, "udp", sport, dport, now, node=node)
        flags = FLAGS[payload[ihl + 13] & 0x3F] if len(payload) >= ihl + 14 else ""
        return LogRecord(name, src, dst, "tcp", sport, dport, now, flags, node)
    if proto_num in ECHO and len(payload) >= ihl + 8:
        ident, seq = PORTS.unpack_from(payload, ihl + 4)
        return LogRecord(name, src, dst, ECHO[proto_num], ident, seq, now, node=node)
    return LogRecord(name, src, dst, "other", 0, 0, now, node=node)


ECHO = {socket.IPPROTO_ICMP: "icmp", socket.IPPROTO_ICMPV6: "icmpv6"}


def _addr(cache: dict[bytes, str], raw: bytes) -> str:
    text = cache.get(raw)
    if text is None:
        family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
        text = cache[raw] = socket.inet_ntop(family, raw)
    return text


def _tcp_flags(bits: int) -> str:
    return "".join(c for c, b in zip("FSRPAU", (1, 2, 4, 8, 16, 32), strict=True) if bits & b)


FLAGS = [_tcp_flags(bits) for bits in range(64)]
