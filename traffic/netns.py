"""Enter a network namespace on the calling thread (libc setns; Python 3.11 has no os.setns).

A socket keeps the namespace it was created in, so one thread can create sockets in many
namespaces and then serve them all from one epoll loop.
"""

from __future__ import annotations

import ctypes
import os
import resource
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

CLONE_NEWNET = 0x40000000
T = TypeVar("T")
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class Namespaces:
    """Open namespace files once; switch the calling thread between them cheaply."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}
        self._home = os.open(f"/proc/self/task/{_tid()}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.current = ""

    def enter(self, path: str) -> None:
        if path == self.current:
            return
        fd = self._fds.get(path)
        if fd is None:
            fd = self._fds[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        setns(fd)
        self.current = path

    def leave(self) -> None:
        setns(self._home)
        self.current = ""

    def close(self) -> None:
        self.leave()
        for fd in (*self._fds.values(), self._home):
            os.close(fd)
        self._fds.clear()


@contextmanager
def entered(path: str) -> Iterator[Namespaces]:
    """`with entered(path):` the calling thread is in that namespace, and back afterwards."""
    ns = Namespaces()
    try:
        ns.enter(path)
        yield ns
    finally:
        ns.close()


def _tid() -> int:
    return threading.get_native_id()


def set_sysctls(values: dict[str, str]) -> None:
    """Write net.* sysctls in the calling thread's namespace (/proc/sys/net follows it); one
    that already holds its value is left alone (some writes take the kernel's rtnl lock). A key
    written `-key` (as in sysctl.d) is skipped where the kernel does not have it."""
    for name, value in values.items():
        key = name.removeprefix("-")
        path = "/proc/sys/" + key.replace(".", "/")
        if key != name and not os.path.exists(path):
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                now = os.read(fd, 4096).split()
            finally:
                os.close(fd)
            if now == value.encode().split():
                continue
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise OSError(exc.errno, f"sysctl {key} = {value}: {exc.strerror}") from None


def raise_fd_limit(sockets: int) -> None:
    """Make room for `sockets` open at once (root may raise the hard limit up to nr_open)."""
    need = sockets + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(need, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def in_thread(work: Callable[[], T], name: str) -> T:
    """Run `work` in a thread of its own (setns changes only the calling thread, so the caller
    stays where it is) and hand back its result, or raise its exception here."""
    result: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name=name)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]
