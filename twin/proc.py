"""Run external commands: argument lists only, exit codes always checked, stderr kept."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from twin.errors import CommandFailed, EnvironmentProblem, TimedOut, last_line


@dataclass(frozen=True)
class ExecResult:
    """A command run inside a node: what ran, how it ended, what it said."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def said(self) -> str:
        """The last line of its stderr (of its stdout when stderr is empty)."""
        return last_line(self.stderr or self.stdout)


def run(
    argv: list[str],
    stdin: str | None = None,
    check: bool = True,
    where: str = "",
    timeout: float = 120,
) -> ExecResult:
    try:
        # In its own session: a Ctrl-C at the terminal reaches twin, not the command, so a step
        # twin must finish (a teardown, a ruleset swap: signals deferred) is not cut short.
        # Interrupted otherwise, subprocess.run kills the command as before.
        proc = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
            start_new_session=True,
        )  # fmt: skip
    except FileNotFoundError:
        raise EnvironmentProblem(f"{argv[0]} is not installed; run `make setup`") from None
    except subprocess.TimeoutExpired:
        raise TimedOut(argv, timeout) from None
    result = ExecResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr or proc.stdout, where)
    return result
