"""Signals while twin's modules load: Ctrl-C and SIGTERM end the process at once, one line and
exit 130/143 (a KeyboardInterrupt raised inside an import printed a traceback, or came out as
importlib's KeyError). Used for the command table and for each command's module.

Imported before any handler is set: it imports nothing the interpreter has not loaded already.
"""

from __future__ import annotations

import os
import signal
from types import TracebackType
from typing import Any

EXIT = {signal.SIGINT: (130, b"interrupted\n"), signal.SIGTERM: (143, b"terminated\n")}


class Importing:
    """`with importing():` the handlers that were set are put back after. Outside the main
    thread (a test runner's) nothing is changed: only the main thread can set handlers."""

    def __enter__(self) -> None:
        try:
            self.before: dict[signal.Signals, Any] = {s: signal.signal(s, _quit) for s in EXIT}
        except ValueError:  # not the main thread
            self.before = {}

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, handler in self.before.items():
            signal.signal(sig, handler)


importing = Importing


def _quit(signum: int, frame: object) -> None:
    code, line = EXIT[signal.Signals(signum)]
    os.write(2, line)
    os._exit(code)
