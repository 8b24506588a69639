"""The `twin` command. Commands only parse options and call the core; one module per group.

This module stays light: `main` imports the commands (typer, rich, pydantic: ~0.5-2 s) itself,
with Ctrl-C and SIGTERM ending the process at once (one line, exit 130 or 143): nothing is
built yet, and an exception raised inside an import can come out as importlib's KeyError.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

# ruff: noqa: PLC0415 - the imports below are late on purpose

EXIT = {signal.SIGINT: (130, b"interrupted\n"), signal.SIGTERM: (143, b"terminated\n")}


def main() -> None:
    for sig in EXIT:
        signal.signal(sig, _quit)
    from twin.cli.commands import app

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminated)
    app()


def interrupted(exc: KeyboardInterrupt) -> None:
    """A signal before any command could clean up after it: one line, the usual exit code."""
    code, line = EXIT[signal.SIGTERM if type(exc).__name__ == "Terminated" else signal.SIGINT]
    sys.stderr.write(line.decode())
    raise SystemExit(code) from None


def __getattr__(name: str) -> Any:
    """`from twin.cli import app` (tests, typer's runner) still works, loaded on first use."""
    if name == "app":
        from twin.cli.commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _quit(signum: int, frame: object) -> None:
    code, line = EXIT[signal.Signals(signum)]
    os.write(2, line)
    os._exit(code)


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM takes the same path as Ctrl-C: whatever was half-built is removed."""
    from twin.errors import Terminated

    raise Terminated
