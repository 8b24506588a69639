"""`twin completion SHELL`: the script that makes a shell complete twin's commands, options,
lab names (`--lab`) and choices (`--runtime`, `--matrix`, …), from typer's own completion."""

from __future__ import annotations

from typing import Annotated

import typer
from typer._completion_shared import get_completion_script  # typer's script, not a copy

from twin.cli.common import handle_errors
from twin.cli.options import choose

SHELLS = ("bash", "zsh", "fish")


def _shells(incomplete: str) -> list[str]:
    return [s for s in SHELLS if s.startswith(incomplete)]


@handle_errors
def completion(
    shell: Annotated[
        str, typer.Argument(metavar="bash|zsh|fish", help="Your shell.", autocompletion=_shells)
    ],
) -> None:
    """Print the shell completion script for bash, zsh or fish.

    \b
    bash: eval "$(twin completion bash)"   (in ~/.bashrc)
    zsh:  eval "$(twin completion zsh)"    (in ~/.zshrc, after compinit)
    fish: twin completion fish > ~/.config/fish/completions/twin.fish"""
    choose("SHELL", shell, SHELLS)
    typer.echo(get_completion_script(prog_name="twin", complete_var="_TWIN_COMPLETE", shell=shell))
