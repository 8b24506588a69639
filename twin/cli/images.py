"""Image commands: build the node image (offline where no registry answers), show its tag."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli.common import handle_errors, out, progress
from twin.cli.options import choose
from twin.images.build import build_node_image, debian_mirror, image_exists
from twin.images.recipe import node_recipe

app = typer.Typer(
    name="images",
    help="The node image every twin node runs (Debian + nftables + scapy).",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
    pretty_exceptions_enable=False,
)
METHODS = ("auto", "dockerfile", "debootstrap")


@app.command(
    short_help="Build the node image unless its tag (a hash of the recipe) is already here."
)
@handle_errors
def build(
    method: Annotated[
        str,
        typer.Option(
            "--method",
            metavar="auto|dockerfile|debootstrap",
            help="auto: the Dockerfile when a registry answers, else debootstrap.",
        ),
    ] = "auto",
    mirror: Annotated[
        str | None,
        typer.Option(
            "--mirror",
            metavar="URL",
            help="Debian mirror for debootstrap (default: this machine's).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even when the tag exists.")
    ] = False,
) -> None:
    """Build the node image unless its tag (a hash of the recipe) is already here."""
    choose("--method", method, METHODS)
    with progress(f"building the node image ({method}; debootstrap takes ~45 s)"):
        built = build_node_image(method, mirror, force)
    if built.method == "cached":
        out.print(f"{built.tag} is present (recipe unchanged): nothing to build")
        return
    how = (
        f"offline, debootstrap from {mirror or debian_mirror()}"
        if built.method == "debootstrap"
        else "from its Dockerfile"
    )
    out.print(f"built {built.tag} ({how}) in {built.seconds:.1f} s")


@app.command()
@handle_errors
def tag() -> None:
    """Print the node image's tag and whether it is built."""
    recipe = node_recipe()
    state = "built" if image_exists(recipe.tag) else "not built (run `twin images build`)"
    out.print(f"{recipe.tag} {state}; packages: {' '.join(recipe.packages)}")
