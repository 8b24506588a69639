"""The node image's recipe and tag: the one place that says which image twin nodes run.

One image serves the firewall and every host (Debian bookworm + the packages in
`templates/image/packages.txt`). Its tag is `twin-node:<hash of the recipe folder>`, so a
changed recipe is a new tag and an unchanged one is found and reused (`twin.images.build`).
Pure: reads the packaged recipe files, touches nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from twin.errors import EnvironmentProblem

REPOSITORY = "twin-node"
SUITE = "bookworm"
# Bump when the build code changes what ends up in the image (the hash covers the recipe files).
BUILD_VERSION = "1"
RECIPE_LABEL = "twin-recipe"
_HERE = Path(__file__).resolve().parents[1]  # the twin package
RECIPE_DIRS = (_HERE.parent / "templates" / "image", _HERE / "templates" / "image")


@dataclass(frozen=True)
class Recipe:
    suite: str
    packages: tuple[str, ...]
    digest: str

    @property
    def tag(self) -> str:
        return f"{REPOSITORY}:{self.digest[:12]}"

    @property
    def base(self) -> str:
        """The Dockerfile path's base image."""
        return f"debian:{self.suite}-slim"


def recipe_dir() -> Path:
    for folder in RECIPE_DIRS:
        if (folder / "packages.txt").is_file():
            return folder
    raise EnvironmentProblem("the node image recipe (templates/image/) is not installed")


@lru_cache(maxsize=1)
def node_recipe() -> Recipe:
    folder = recipe_dir()
    packages = tuple(
        line.strip()
        for line in (folder / "packages.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    h = hashlib.sha256(f"{BUILD_VERSION}\0{SUITE}\0".encode())
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return Recipe(SUITE, packages, h.hexdigest())


def node_tag() -> str:
    """The image every twin node runs, unless a policy names another for its firewall."""
    return node_recipe().tag
