"""The docker CLI as twin calls it: every call bounded in time, containers removed one at a time.

Docker Engine before 20.10.27 (Debian bookworm's docker.io 20.10.24 among them) can deadlock
when containers leave a network at the same time (moby/moby#42545, in 20.10.27 through
moby/libnetwork#2679): a container leaving takes the network's lock and then the controller's
to read the network's service records, while the daemon's one service-record loop, handling
another container's endpoint deletion, holds the controller's lock and asks for the network's.
Every twin node is on the same network (`none`), and `docker rm -f a b c` removes its names in
parallel: a lab removed in one call is that race. From then on every docker command hangs until
the daemon is restarted. So:
- containers leave one `docker rm -f` at a time, and one twin process at a time on this machine
  (`flock` on REMOVE_LOCK; the daemon is the machine's, whatever registry a twin uses);
- every call has a deadline (`TWIN_DOCKER_TIMEOUT`, 60 s by default); a call that misses it is
  one line and exit 3: which call, the engine bug when the engine's version has it, how to
  recover. The process's later docker calls fail at once with the same line: a daemon that did
  not answer one call will not answer the next.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from twin.errors import EnvironmentProblem, TimedOut, UsageError
from twin.proc import ExecResult, run

TIMEOUT_ENV = "TWIN_DOCKER_TIMEOUT"
DEFAULT_TIMEOUT = 60.0
VERSION_TIMEOUT = 20.0  # `docker version`: does a daemon answer at all
FIXED_IN = (20, 10, 27)  # the first 20.10 release with moby/libnetwork#2679
BUG = "moby/moby#42545"
REMOVE_LOCK = Path("/run/twin/docker-remove.lock")

_version = ""  # the engine's version, once `docker version` answered in this process
_hung: DaemonHung | None = None  # the first call that missed its deadline in this process


class DaemonHung(EnvironmentProblem):
    """A docker call got no answer in time: what was called, the engine, how to recover."""

    def __init__(self, call: str, seconds: float, version: str, lab: str = "") -> None:
        self.call, self.seconds, self.version, self.lab = call, seconds, version, lab
        super().__init__(hung_message(call, seconds, version, lab))

    def for_lab(self, lab: str) -> DaemonHung:
        return DaemonHung(self.call, self.seconds, self.version, lab)


def hung_message(call: str, seconds: float, version: str, lab: str = "") -> str:
    head = f"the Docker daemon did not answer `docker {call}` within {seconds:g} s"
    if version and affected(version):
        cause = (
            f": Docker Engine {version} deadlocks when containers leave a network at the same "
            f"time ({BUG}, fixed in 20.10.27)"
        )
    elif version:
        cause = f" (Docker Engine {version})"
    else:
        cause = f" (an engine before 20.10.27 may have deadlocked: {BUG})"
    then = f"`twin down --lab {lab}`" if lab else "`twin status`, and `twin down --lab <lab>`"
    return (
        f"{head}{cause}; restart the daemon (`systemctl restart docker`, or kill and start "
        f"dockerd), then run {then}"
    )


def affected(version: str) -> bool:
    """Does this engine version have the removal deadlock (every release before 20.10.27)?"""
    found = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    if found is None:
        return False
    return tuple(int(g) for g in found.groups()) < FIXED_IN


def default_timeout() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "")
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < 86400:
        raise UsageError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds; unset it or give 60")
    return value


def docker(args: list[str], stdin: str | None = None, timeout: float | None = None) -> ExecResult:
    """`docker ARGS` within its deadline (`timeout`, else TWIN_DOCKER_TIMEOUT); not checked."""
    global _hung  # noqa: PLW0603 - one daemon per process: remember that it stopped answering
    if _hung is not None:
        raise _hung
    limit = timeout if timeout is not None else default_timeout()
    try:
        return run(["docker", *args], stdin=stdin, check=False, timeout=limit)
    except TimedOut:
        call = " ".join(args[: 2 if len(args) > 1 and not args[1].startswith("-") else 1])
        _hung = DaemonHung(call, limit, engine_version())
        raise _hung from None


def server_version() -> ExecResult:
    """`docker version` of the server; remembered for the message of a later hang."""
    global _version  # noqa: PLW0603
    limit = min(VERSION_TIMEOUT, default_timeout())
    res = docker(["version", "--format", "{{.Server.Version}}"], timeout=limit)
    if res.ok:
        _version = res.stdout.strip()
    return res


def engine_version() -> str:
    """The engine's version: as the daemon said earlier, else `dockerd --version` of a local
    engine (a daemon that stopped answering does not say), else ""."""
    if _version:
        return _version
    host = os.environ.get("DOCKER_HOST", "")
    binary = shutil.which("dockerd")
    if (host and not host.startswith("unix://")) or binary is None:
        return ""
    try:
        res = run([binary, "--version"], check=False, timeout=5)
    except EnvironmentProblem:
        return ""
    found = re.search(r"version (\S+?),", res.stdout)
    return found.group(1) if found else ""


def forget() -> None:
    """Forget the engine's version and a hang (tests; a long-lived caller after a restart)."""
    global _version, _hung
    _version, _hung = "", None


@contextmanager
def about(lab: str) -> Iterator[None]:
    """A daemon that does not answer while working on `lab`: the message names its `down`."""
    try:
        yield
    except DaemonHung as exc:
        if exc.lab:
            raise
        raise exc.for_lab(lab) from None


@contextmanager
def removal_turn() -> Iterator[Callable[[], None]]:
    """This process's turn to remove containers on this machine; yields `progress()` to call
    after each removal. A waiter gives up after a deadline without progress from the holder
    (a holder whose daemon stopped answering gives up within the same time)."""
    try:
        REMOVE_LOCK.parent.mkdir(mode=0o755, exist_ok=True)
        fd = os.open(REMOVE_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:  # no lock to take (not root): still one container at a time
        yield lambda: None
        return
    try:
        _wait_turn(fd, default_timeout())

        def progress() -> None:
            with suppress(OSError):
                os.utime(fd)

        yield progress
    finally:
        os.close(fd)


def _wait_turn(fd: int, limit: float) -> None:
    seen, deadline = os.fstat(fd).st_mtime_ns, time.monotonic() + limit
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        now, mtime = time.monotonic(), os.fstat(fd).st_mtime_ns
        if mtime != seen:
            seen, deadline = mtime, now + limit
        elif now > deadline:
            raise EnvironmentProblem(
                f"another twin process has removed no container for {limit:g} s ({REMOVE_LOCK} "
                "is held): the Docker daemon may not be answering; check `timeout 10 docker "
                "info`, restart the daemon if it hangs, then run `twin down` again"
            )
        time.sleep(0.05)
