"""The `twin` command's typer app: one module per command group registers its commands."""

from __future__ import annotations

import typer

from twin.cli import breach, change, evidence, images, lab, runs, vendor

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
runs.register(app)
evidence.register(app)
