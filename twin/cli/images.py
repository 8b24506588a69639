"""Image commands: build the node image (offline where no registry answers), show its tag."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli.common import handle_errors, out
from twin.images.build import build_node_image, debian_mirror, image_exists
from twin.images.recipe import node_recipe

app = typer.Typer(help="The node image every twin node runs (Debian + nftables + scapy).")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="images")


@app.command()
@handle_errors
def build(
    method: Annotated[
        str, typer.Option(help="auto (Dockerfile when a registry answers, else debootstrap)")
    ] = "auto",
    mirror: Annotated[
        str | None, typer.Option(help="Debian mirror for debootstrap (default: this machine's)")
    ] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even when the tag exists.")] = False,
) -> None:
    """Build the node image unless its tag (a hash of the recipe) is already here."""
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
