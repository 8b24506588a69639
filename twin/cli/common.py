"""What every command shares: error handling (the only place exit codes are chosen), consoles."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from twin.errors import InputError, Interrupted, Terminated, TwinError
from twin.files import check_output

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])
SHOWN_PROBLEMS = 20  # a file with 60,000 bad zones printed 60,000 lines over ~8 s


def handle_errors(fn: F) -> F:
    """Turn TwinError into a one-line message (one per problem) and its exit code; no traceback.
    0 all good, 1 flows differ from intent, 2 bad input, 3 environment/runtime problem."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            for problem in exc.problems[:SHOWN_PROBLEMS]:
                err.print(f"error: {problem}", markup=False, soft_wrap=True)
            more = len(exc.problems) - SHOWN_PROBLEMS
            if more > 0:
                err.print(
                    f"error: and {more:,} more problems (the first {SHOWN_PROBLEMS} are shown)"
                )
            raise typer.Exit(exc.exit_code) from None
        except TwinError as exc:
            err.print(f"error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # the machine under twin changed (a file, a namespace went)
            where = f": {exc.filename}" if exc.filename else ""
            err.print(f"error: {exc.strerror or exc}{where}", markup=False, soft_wrap=True)
            raise typer.Exit(3) from None
        except Interrupted as exc:
            verb = "terminated" if exc.terminated else "interrupted"
            err.print(f"{verb}: {exc.message}", markup=False, soft_wrap=True)
            raise typer.Exit(143 if exc.terminated else 130) from None
        except Terminated:
            err.print("terminated; nothing half-built was left behind", markup=False)
            raise typer.Exit(143) from None
        except KeyboardInterrupt:
            err.print("interrupted; nothing half-built was left behind", markup=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def check_outputs(**outputs: Path | None) -> None:
    """Report paths checked before anything runs (exit 2, one line): `--json`, `--junit`, …"""
    for option, path in outputs.items():
        if path is not None:
            check_output(path, f"--{option}")


def write_reports(*reports: tuple[str, Path | None, Callable[[Path], object]]) -> bool:
    """Write each report on its own: one that cannot be written (a full disk, /dev/full) is one
    line and does not stop the others; the run itself is already saved in the lab."""
    ok = True
    for option, path, write in reports:
        if path is None:
            continue
        try:
            write(path)
        except OSError as exc:
            ok = False
            err.print(
                f"error: --{option} {path}: {exc.strerror or exc}; the run is saved "
                f"(`twin report --{option} PATH` writes it again)",
                markup=False,
                soft_wrap=True,
            )
    return ok
