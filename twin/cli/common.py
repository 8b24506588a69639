"""What every command shares: error handling (the only place exit codes are chosen), consoles,
progress, report paths.

Consoles: on a terminal, rich fits its width; anywhere else (a file, a pipe, a CI log) the
width is unbounded, so a table takes the width its content needs and no identifier is cut or
wrapped (rich squeezes to 80 columns when it cannot ask a terminal).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeVar

import typer
from rich.console import Console

from twin.cli.options import is_stdout, one_stdout
from twin.errors import InputError, Interrupted, Terminated, TwinError
from twin.files import check_output

WIDE = 10_000  # columns when not a terminal: a table is as wide as its content
F = TypeVar("F", bound=Callable[..., Any])
SHOWN_PROBLEMS = 20  # a file with 60,000 bad zones printed 60,000 lines over ~8 s


def console(stream: TextIO, stderr: bool = False) -> Console:
    """A console on standard output (or error): the terminal's width, or unbounded."""
    tty = stream.isatty()
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=None if tty else WIDE)


out = console(sys.stdout)
err = console(sys.stderr, stderr=True)


def human(*reports: Path | None) -> Console:
    """Where tables and summaries go: standard output, unless a report is written there
    (`--json -`): then standard error, so standard output parses."""
    return err if any(is_stdout(p) for p in reports) else out


@contextmanager
def progress(text: str) -> Iterator[Callable[[str], None]]:
    """A spinner, `text` and the seconds elapsed on standard error while something slow runs
    (up, a big matrix, an image build); nothing when standard error is not a terminal. Yields
    a function that changes the text (the stage)."""
    if not sys.stderr.isatty():
        yield lambda _: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True, highlight=False),
        transient=True,
        redirect_stdout=False,
    )
    with bar:
        task = bar.add_task(text, total=None)
        yield lambda stage: bar.update(task, description=stage)


def handle_errors(fn: F) -> F:
    """Turn TwinError into a one-line message (one per problem) and its exit code; no traceback.
    0 all good, 1 flows differ from intent, 2 bad input, 3 environment/runtime problem."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            for problem in exc.problems[:SHOWN_PROBLEMS]:
                err.print(f"error: {problem}", markup=False)
            more = len(exc.problems) - SHOWN_PROBLEMS
            if more > 0:
                err.print(
                    f"error: and {more:,} more problems (the first {SHOWN_PROBLEMS} are shown)"
                )
            raise typer.Exit(exc.exit_code) from None
        except TwinError as exc:
            err.print(f"error: {exc}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # the machine under twin changed (a file, a namespace went)
            where = f": {exc.filename}" if exc.filename else ""
            err.print(f"error: {exc.strerror or exc}{where}", markup=False)
            raise typer.Exit(3) from None
        except Interrupted as exc:
            verb = "terminated" if exc.terminated else "interrupted"
            err.print(f"{verb}: {exc.message}", markup=False)
            raise typer.Exit(143 if exc.terminated else 130) from None
        except Terminated:
            err.print("terminated; nothing half-built was left behind", markup=False)
            raise typer.Exit(143) from None
        except KeyboardInterrupt:
            err.print("interrupted; nothing half-built was left behind", markup=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def check_outputs(**outputs: Path | None) -> None:
    """Report paths checked before anything runs (exit 2, one line): `--json`, `--junit`, …;
    `-` is standard output, for one of them at most."""
    one_stdout(**outputs)
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
            )
    return ok
