"""The `twin` command. Commands only parse options and call the core; one module per group."""

from __future__ import annotations

import signal

import typer

from twin.cli import breach, change, images, lab, vendor
from twin.errors import Terminated

app = typer.Typer(
    name="twin",
    help="A digital twin of a zero-trust network: prove its firewall policy with real packets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
lab.register(app)
vendor.register(app)
images.register(app)
change.register(app)
breach.register(app)


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)
    app()


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM takes the same path as Ctrl-C: whatever was half-built is removed."""
    raise Terminated
