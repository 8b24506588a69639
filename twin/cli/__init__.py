"""The `twin` command. Commands only parse options and call the core; one module per group.

This module stays light: `main` imports the command table (typer) itself, with Ctrl-C and
SIGTERM ending the process at once (one line, exit 130 or 143): nothing is built yet, and an
exception raised inside an import can come out as importlib's KeyError. The module of the
command that runs is imported once the command line is parsed (`twin.cli.commands`).
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from twin.cli.signals import EXIT, importing

# ruff: noqa: PLC0415 - the imports below are late on purpose


def main() -> None:
    with importing():
        from twin.cli.commands import app

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminated)
    app(prog_name="twin")  # also under `python -m twin`: usage lines and completion say twin


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


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM takes the same path as Ctrl-C: whatever was half-built is removed."""
    from twin.errors import Terminated

    raise Terminated
