"""The `twin` command: a table of commands, each module imported only when its command runs.

netlab's way: `twin --help` lists the table and imports no command; `twin status` imports the
status module and nothing of the pipeline. A command's one-line help is written in the table
(so the list needs no import) and must be the first paragraph of its docstring (a unit test
holds them together). Help is plain text, reflowed to the terminal: no hard-wrapped sentences.
"""

from __future__ import annotations

import importlib
import os
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from twin import __version__
from twin.cli import conversion
from twin.cli.signals import importing

# name → (module in twin.cli, function or sub-app, one-line help). In `twin --help` order.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": (
        "lab",
        "validate",
        "Check a policy file; also check, statically, that its rules satisfy its own intent.",
    ),
    "render": (
        "lab",
        "render",
        "Render the containerlab topology, firewall config and node setup; deploy nothing.",
    ),
    "up": ("lab", "up", "Build the twin: nodes, links, addresses, firewall, responders."),
    "test": (
        "lab",
        "test_cmd",
        "Send every flow for real and judge it against the policy and the intent.",
    ),
    "status": ("labs", "status", "List the labs that are up, or the nodes of one lab."),
    "down": (
        "labs",
        "down",
        "Remove a lab completely: nodes, links, processes, files (only what is provably its).",
    ),
    "diff": (
        "change",
        "diff",
        "What a change would do, exactly, before anything is deployed (no lab needed).",
    ),
    "rehearse": (
        "change",
        "rehearse",
        "Try a candidate policy on the running twin: atomic swap, full matrix, before → after.",
    ),
    "report": (
        "change",
        "report",
        "Render the last run of a lab (twin test or twin rehearse) again: HTML, JSON, JUnit.",
    ),
    "blast": (
        "breach",
        "blast",
        "Assume breach: what each compromised host or zone can reach, hop after hop, exactly.",
    ),
    "graph": (
        "breach",
        "graph",
        "The zone graph as SVG: zones, allowed services between them, crown jewels, and the "
        "attack paths from a foothold.",
    ),
    "compare": (
        "breach",
        "compare",
        "Flat vs microsegmented: what the policy takes away from a flat baseline, exactly.",
    ),
    "runs": (
        "runs",
        "runs_cmd",
        "List the runs kept in this twin home, oldest first (`twin report --run ID` renders one).",
    ),
    "import": (
        "vendor",
        "import_cmd",
        "Import a PAN-OS, FortiGate or Cisco ASA/FTD policy as a twin policy file, with a report.",
    ),
    "export": (
        "vendor",
        "export_cmd",
        "Export a twin policy as vendor configuration: what was tested is what you apply.",
    ),
    "evidence": (
        "evidence",
        "app",
        "Test evidence an auditor keeps: a segmentation sweep sealed in a pack, and its check.",
    ),
    "images": ("images", "app", "The node image every twin node runs (Debian + nftables + scapy)."),
    "completion": (
        "completion",
        "completion",
        "Print the shell completion script for bash, zsh or fish.",
    ),
}
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Pending(TyperCommand):
    """A command listed by `twin --help` whose module is not imported yet."""


class LazyGroup(TyperGroup):
    """Lists every command of the table; imports a command's module when it is resolved (to run
    it, show its help or complete its options). Unknown names get typer's "Did you mean"."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, (_, _, short) in COMMANDS.items():
            self.commands[name] = Pending(name, short_help=short, help=short)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, cmd, rest = super().resolve_command(ctx, args)
        if name is not None and isinstance(cmd, Pending):
            cmd = self.commands[name] = load(name)
        return name, cmd, rest


def load(name: str) -> Any:
    """The click command of `name`, built from its module."""
    module, attr, short = COMMANDS[name]
    with importing():  # a Ctrl-C inside an import: one line, not importlib's KeyError
        obj = getattr(importlib.import_module(f"twin.cli.{module}"), attr)
    if isinstance(obj, typer.Typer):
        return typer.main.get_group(obj)
    one = typer.Typer(rich_markup_mode=None, add_completion=False, pretty_exceptions_enable=False)
    one.command(name, short_help=short)(obj)
    return typer.main.get_group(one).commands[name]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"twin {__version__}")
        raise typer.Exit


conversion.install()
if "_TWIN_COMPLETE" in os.environ:  # a shell asks for completions: typer's shells, registered
    from typer._completion_classes import completion_init

    completion_init()
app = typer.Typer(
    name="twin",
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_version, help="Print twin's version and exit."
        ),
    ] = False,
) -> None:
    """A digital twin of a zero-trust network: prove its firewall policy with real packets.

    Exit codes: 0 all good, 1 flows differ from the intent, 2 bad input, 3 environment or
    runtime problem. `twin COMMAND -h` shows a command's options."""
