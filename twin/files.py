"""Files twin reads and writes on a user's behalf, checked before anything is trusted.

- Input (policy files) is read with a bound: a regular file only (a FIFO would block forever,
  /dev/zero never ends, a directory is no policy), its size checked while reading.
- Output paths (`--json`, `--junit`, `--html`, …) are checked before any probe is sent: the
  parent must already exist (nothing is created beside what the user named), the path must not
  be a directory, and something must read a FIFO. `-` is standard output (`./-` is a file).
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

from twin.errors import InputError, Problem, UsageError

CHUNK = 1 << 16
STDOUT = "-"  # as a report path: standard output


def read_regular(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or InputError (one line)."""
    file = str(path)

    def refuse(message: str, hint: str = "") -> InputError:
        return InputError([Problem(file, None, "", message, hint)])

    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise refuse(f"cannot read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise refuse("is a directory, not a policy file")
        if not stat.S_ISREG(info.st_mode):
            raise refuse(f"is {_kind(info.st_mode)}, not a regular file", "give the file itself")
        if info.st_size > limit:
            raise refuse(f"file is {info.st_size} bytes; the limit is {limit}", "split the policy")
        chunks, size = [], 0
        while True:  # the size again while reading: the file may grow under us
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise refuse(f"file is more than {limit} bytes", "split the policy")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise refuse(f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_output(path: Path, option: str) -> None:
    """Can a report be written to `path`? Checked before the run, so no result is lost to a
    typo: UsageError (exit 2) naming the option. Creates nothing."""

    def refuse(why: str) -> UsageError:
        return UsageError(f"{option} {path}: {why}")

    if str(path) == STDOUT:
        return
    parent = path.parent
    if not parent.is_dir():
        what = "does not exist" if not parent.exists() else "is not a directory"
        raise refuse(f"{parent} {what} (twin creates no directories for reports)")
    try:
        info = path.stat()
    except FileNotFoundError:
        if not os.access(parent, os.W_OK | os.X_OK):
            raise refuse(f"cannot create a file in {parent}") from None
        return
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    if stat.S_ISDIR(info.st_mode):
        raise refuse("is a directory; name a file")
    try:  # opened without truncating: a FIFO nobody reads fails here instead of blocking later
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        why = "nothing reads from it" if exc.errno == errno.ENXIO else exc.strerror
        raise refuse(str(why)) from None
    os.close(fd)


def write_output(path: Path, data: str | bytes) -> None:
    """Write a file the user named. No directory is created. A link, a device or a FIFO is
    written through as named (`/dev/stdout` stays a link); a regular file is replaced whole
    (written beside it, then renamed), so a failed write leaves the old one."""
    blob = data.encode() if isinstance(data, str) else data
    if str(path) == STDOUT:
        _to_stdout(blob)
        return
    try:
        info = path.stat()
    except FileNotFoundError:
        info = None
    if path.is_symlink() or (info is not None and not stat.S_ISREG(info.st_mode)):
        with path.open("wb") as f:
            f.write(blob)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _to_stdout(blob: bytes) -> None:
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream (a test's capture): write text
        sys.stdout.write(blob.decode())
    else:
        buffer.write(blob)
        buffer.flush()
