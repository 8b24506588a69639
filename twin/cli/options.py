"""The options the commands share, one type each, so that a flag means one thing everywhere
(netlab's shared parser helpers). Light on purpose: `twin status` and `twin down` import it.

- `--json PATH`, `--junit PATH`, `--html PATH`, `-o PATH`: a file, or `-` for standard output
  (then the human report goes to standard error, and standard output holds only the report).
- `--lab NAME`: a lab that is up (completed from the registry; a typo gets "did you mean").
- `--timeout SECONDS`: one default for every command that probes (`DEFAULT_TIMEOUT` of verify).
- `-q/--quiet`: wherever a table is printed, only its summary line.
- `--keep N`: the runs of each lab kept in the run store, the newest N.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from twin.errors import UsageError, did_you_mean
from twin.files import STDOUT


def lab_names(incomplete: str) -> list[str]:
    """Shell completion of `--lab`: the labs of this machine's registry."""
    from twin.lab.registry import entries  # noqa: PLC0415 - only when completing

    return [e.lab for e in entries() if e.lab.startswith(incomplete)]


def _choices(*values: str) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [v for v in values if v.startswith(incomplete)]

    return complete


def choose(option: str, value: str, choices: tuple[str, ...]) -> str:
    """`value` if it is one of `choices`, else UsageError (exit 2, one line)."""
    if value not in choices:
        raise UsageError(
            f"{option} {value!r}: {did_you_mean(value, choices)}one of {', '.join(choices)}"
        )
    return value


def check_timeout(seconds: float) -> float:
    if not 0 < seconds < 1:
        raise UsageError("--timeout must be between 0 and 1 s (TCP resends a SYN at 1 s)")
    return seconds


def is_stdout(path: Path | None) -> bool:
    return path is not None and str(path) == STDOUT


def one_stdout(**paths: Path | None) -> None:
    """At most one report on standard output: two would interleave into neither."""
    named = [f"--{k}" for k, p in paths.items() if is_stdout(p)]
    if len(named) > 1:
        raise UsageError(f"{' and '.join(named)} both name standard output (-); give one a file")


def check_keep(keep: int | None, least: int) -> None:
    if keep is not None and keep < least:
        why = " (this run is kept)" if least else ""
        raise UsageError(f"--keep must be {least} or more{why}")


# --- arguments --------------------------------------------------------------------------------
Policy = Annotated[Path, typer.Argument(metavar="FILE", help="Policy file.", show_default=False)]
PolicyOrLab = Annotated[
    Path | None,
    typer.Argument(
        metavar="FILE", help="Policy file (default: the lab that is up).", show_default=False
    ),
]

# --- options ----------------------------------------------------------------------------------
Lab = Annotated[
    str | None,
    typer.Option(
        "--lab",
        metavar="NAME",
        help="Lab name (default: the only lab that is up; for up: the policy's name).",
        autocompletion=lab_names,
        show_default=False,
    ),
]
Json = Annotated[
    Path | None,
    typer.Option(
        "--json", metavar="PATH", help="Write it as JSON to PATH (- for standard output)."
    ),
]
Junit = Annotated[
    Path | None,
    typer.Option(
        "--junit", metavar="PATH", help="Write JUnit XML (for CI) to PATH (- for standard output)."
    ),
]
Html = Annotated[
    Path | None,
    typer.Option(
        "--html",
        metavar="PATH",
        help="Write the self-contained HTML report to PATH (- for standard output).",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary line.")]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="Seconds to wait for each probe's answer, under 1 (TCP resends a SYN at 1 s).",
    ),
]
Templates = Annotated[
    Path | None,
    typer.Option("--templates", metavar="DIR", help="Template folder overriding the packaged one."),
]
Foothold = Annotated[
    str | None,
    typer.Option(
        "--from",
        metavar="HOST|ZONE",
        help="Foothold: a host, or a zone (all its hosts compromised).",
    ),
]
VIA = ("any", "ports")
Via = Annotated[
    str,
    typer.Option(
        "--via",
        metavar="any|ports",
        autocompletion=_choices(*VIA),
        help="What reaching a host means: any (every allowed tcp/udp port or icmp) or ports "
        "(tcp/udp ports only).",
    ),
]
MATRIX = ("auto", "full", "zones")
Matrix = Annotated[
    str,
    typer.Option(
        "--matrix",
        metavar="auto|full|zones",
        autocompletion=_choices(*MATRIX),
        help="full: every host pair; zones: one host pair per zone pair; auto: full up to 64 "
        "hosts.",
    ),
]
RUNTIMES = ("auto", "netns", "docker", "containerlab")
Runtime = Annotated[
    str,
    typer.Option(
        "--runtime",
        metavar="auto|netns|docker|containerlab",
        autocompletion=_choices(*RUNTIMES),
        help="Where the twin runs; auto: docker when a daemon answers, else netns.",
    ),
]
_KEEP = typer.Option(
    "--keep",
    metavar="N",
    help="Runs of each lab kept in the run store (`twin runs`): the newest N; older ones go.",
)
Keep = Annotated[int, _KEEP]
KeepIfGiven = Annotated[int | None, _KEEP]
