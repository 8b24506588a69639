"""One root error; subclasses carry what the user needs. Only the CLI prints them."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


def last_line(text: str) -> str:
    """What a command said last (its error, as a rule): the last line of `text`, "" if none."""
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


class TwinError(Exception):
    """Root of every error twin raises on purpose."""

    exit_code = 3


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a user's file: where it is and how to fix it."""

    file: str
    line: int | None
    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        at = f" {self.path}:" if self.path else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}:{at} {self.message}{hint}"


class InputError(TwinError):
    """Bad input: one or more problems, each one line. Exit 2."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be so the same clean-up runs."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM where what is left must be said (which policy the firewall enforces
    after an interrupted rehearsal): the CLI prints the message instead of its usual line."""

    def __init__(self, message: str, terminated: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.terminated = terminated


class UsageError(TwinError):
    """A command used wrongly (no lab up, two labs up, unknown lab...). Exit 2."""

    exit_code = 2


class EnvironmentProblem(TwinError):
    """The machine or the running twin cannot do what was asked. Exit 3."""

    exit_code = 3


class NotUp(EnvironmentProblem):
    """No lab is up, or not the one named: the machine's state, not bad input (exit 3)."""


class TimedOut(EnvironmentProblem):
    """An external command did not finish within its time; it was killed."""

    def __init__(self, argv: list[str], seconds: float) -> None:
        self.argv = argv
        self.seconds = seconds
        super().__init__(f"{' '.join(argv[:3])} timed out after {seconds:.0f} s")


class ProbeRefused(EnvironmentProblem):
    """The prober refused a packet twin must never send (to an address outside the lab's
    subnets, or from the machine's own namespace): a twin that is not what it should be."""


class CommandFailed(EnvironmentProblem):
    """An external command returned non-zero; carries its stderr."""

    def __init__(self, argv: list[str], returncode: int, stderr: str, where: str = "") -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
        loc = f" in {where}" if where else ""
        detail = last_line(stderr) or "no output"
        super().__init__(f"{argv[0]} failed{loc} (exit {returncode}): {detail}")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """ "did you mean 'x'? " when one of `choices` is a near miss of `word` (a typo), else ""."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {found[0]!r}? " if found else ""
