"""Read the firewall's NFLOG records (nftables `log group N prefix "<rule>"`) over netlink.

NFLOG works from any network namespace (plain `log` does not: nf_log_all_netns=0). The socket
is created inside the firewall's namespace; one reader per group per namespace. The queue
threshold is set to 1 so that every record is delivered at once instead of in ~1 s batches.
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
NFULA_CFG_CMD, NFULA_CFG_MODE, NFULA_CFG_QTHRESH = 1, 2, 4
NFULNL_CFG_CMD_BIND, NFULNL_CFG_CMD_UNBIND = 1, 2
NFULNL_COPY_PACKET = 2
NFULA_PAYLOAD, NFULA_PREFIX = 9, 10
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
SO_RCVBUFFORCE = 33


@dataclass(frozen=True)
class LogRecord:
    prefix: str
    src: str
    dst: str
    proto: str  # tcp | udp | icmp | other
    sport: int  # tcp/udp source port; icmp echo id
    dport: int  # tcp/udp destination port; icmp echo sequence
    time: float
    flags: str = ""  # tcp flags, e.g. "S" or "A"


class NflogReader:
    """Bind an NFLOG group inside a namespace; `drain()` returns what was logged since."""

    def __init__(self, netns: str, group: int, copy_range: int = 96) -> None:
        self.group = group
        self._records: list[LogRecord] = []
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
            self._config(_attr(NFULA_CFG_QTHRESH, struct.pack("!I", 1)))
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
                    with self._lock:
                        self._read_available()
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
                seen = len(self._records)
                time.sleep(settle)
                have = len(self._records)
                if have == seen and (have >= expect or time.monotonic() > deadline):
                    break
        else:
            ep = select.epoll()
            ep.register(self.sock.fileno(), select.EPOLLIN)
            try:
                while ep.poll(settle) or (
                    len(self._records) < expect and time.monotonic() < deadline
                ):
                    self._read_available()
            finally:
                ep.close()
        if self._error is not None:
            raise self._error
        with self._lock:
            out, self._records = self._records, []
        return out

    def _read_available(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    raise OSError(
                        exc.errno, "NFLOG records were lost (receive buffer full)"
                    ) from None
                raise
            now = time.time()
            off = 0
            while off + 16 <= len(data):
                length, mtype = struct.unpack_from("=IH", data, off)
                if length < 16:
                    break
                if mtype == (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET:
                    rec = _parse_packet(data[off + 20 : off + length], now)
                    if rec is not None:
                        self._records.append(rec)
                off += (length + 3) & ~3

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


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _parse_packet(attrs: bytes, now: float) -> LogRecord | None:
    prefix, payload = "", b""
    off = 0
    while off + 4 <= len(attrs):
        length, kind = struct.unpack_from("=HH", attrs, off)
        if length < 4:
            break
        value = attrs[off + 4 : off + length]
        kind &= 0x3FFF
        if kind == NFULA_PREFIX:
            prefix = value.split(b"\0", 1)[0].decode("ascii", "replace")
        elif kind == NFULA_PAYLOAD:
            payload = value
        off += (length + 3) & ~3
    if len(payload) < 20 or payload[0] >> 4 != 4:
        return None
    ihl = (payload[0] & 0x0F) * 4
    proto_num = payload[9]
    src, dst = socket.inet_ntoa(payload[12:16]), socket.inet_ntoa(payload[16:20])
    l4 = payload[ihl:]
    if proto_num in (socket.IPPROTO_TCP, socket.IPPROTO_UDP) and len(l4) >= 4:
        sport, dport = struct.unpack_from("!HH", l4)
        proto = "tcp" if proto_num == socket.IPPROTO_TCP else "udp"
        flags = _tcp_flags(l4[13]) if proto == "tcp" and len(l4) >= 14 else ""
        return LogRecord(prefix, src, dst, proto, sport, dport, now, flags)
    if proto_num == socket.IPPROTO_ICMP and len(l4) >= 8:
        ident, seq = struct.unpack_from("!HH", l4, 4)
        return LogRecord(prefix, src, dst, "icmp", ident, seq, now)
    return LogRecord(prefix, src, dst, "other", 0, 0, now)


def _tcp_flags(bits: int) -> str:
    return "".join(c for c, b in zip("FSRPAU", (1, 2, 4, 8, 16, 32), strict=True) if bits & b)
