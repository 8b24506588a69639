"""Build the node image (`twin images build`): two paths, one tag (`twin.images.recipe`).

- Dockerfile path, where a registry answers (or the base image is already here):
  `docker build` of `templates/image/Dockerfile.j2` rendered with the package list.
- Offline path, where none does (air-gapped CI, this machine): `debootstrap --variant=minbase
  --include=<packages>` from the host's own Debian mirror, then `tar -c | docker import`.

When the tag exists the build is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from twin.errors import EnvironmentProblem, TimedOut, UsageError, last_line
from twin.images.recipe import RECIPE_LABEL, Recipe, node_recipe, node_tag
from twin.proc import run
from twin.render.templates import Templates
from twin.runtime.dockercli import DaemonHung, docker, engine_version

DEFAULT_MIRROR = "http://deb.debian.org/debian"
APT_SOURCES = (Path("/etc/apt/sources.list.d"), Path("/etc/apt/sources.list"))
METHODS = ("auto", "dockerfile", "debootstrap")
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IMPORT_TIMEOUT = 600.0  # the node image is ~190 MB


@dataclass(frozen=True)
class Built:
    tag: str
    method: str  # dockerfile | debootstrap | cached
    seconds: float


def image_exists(tag: str) -> bool:
    return docker(["image", "inspect", "--format", "{{.Id}}", tag]).ok


def missing_image_hint(tag: str) -> str:
    if tag == node_tag():
        return (
            f"the node image {tag} is not built; build it with `twin images build` "
            "(or `make setup`), then run `twin up` again"
        )
    return f"image {tag} is not present; load it with `docker load` or `docker pull` first"


def build_node_image(method: str = "auto", mirror: str | None = None, force: bool = False) -> Built:
    """Build the node image unless its tag already exists; say how it was made."""
    if method not in METHODS:
        raise UsageError(f"unknown build method {method!r}; choose one of {', '.join(METHODS)}")
    if shutil.which("docker") is None:
        raise EnvironmentProblem("docker is not installed: the node image is a Docker image")
    recipe = node_recipe()
    started = time.monotonic()
    if not force and image_exists(recipe.tag):
        return Built(recipe.tag, "cached", time.monotonic() - started)
    if method == "auto":
        method = "dockerfile" if registry_answers(recipe.base) else "debootstrap"
    if method == "dockerfile":
        build_with_dockerfile(recipe)
    else:
        build_offline(recipe, mirror or debian_mirror())
    return Built(recipe.tag, method, time.monotonic() - started)


def dockerfile(recipe: Recipe) -> str:
    return Templates().render(
        "image/Dockerfile.j2",
        suite=recipe.suite,
        packages=recipe.packages,
        labels={RECIPE_LABEL: recipe.digest},
    )


def registry_answers(base: str, timeout: float = 30) -> bool:
    """True when the Dockerfile's base image is here or can be pulled."""
    if image_exists(base):
        return True
    try:
        return run(["docker", "pull", "--quiet", base], check=False, timeout=timeout).ok
    except TimedOut:  # no registry in reach (a daemon that does not answer is found next)
        return False


def build_with_dockerfile(recipe: Recipe) -> None:
    # The Dockerfile comes on stdin: no build context, nothing from the tree is sent.
    run(
        ["docker", "build", "--quiet", "--tag", recipe.tag, "-"],
        stdin=dockerfile(recipe),
        where="building the node image from its Dockerfile",
        timeout=1800,
    )


def build_offline(recipe: Recipe, mirror: str) -> None:
    if os.geteuid() != 0:
        raise EnvironmentProblem("the offline image build needs root (debootstrap)")
    if shutil.which("debootstrap") is None:
        raise EnvironmentProblem("debootstrap is not installed; run `make setup`")
    root = Path(tempfile.mkdtemp(prefix="twin-image-", dir="/var/tmp"))
    try:
        run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(recipe.packages)}",
             recipe.suite, str(root), mirror],
            where=f"debootstrap from {mirror}",
            timeout=1800,
        )  # fmt: skip
        _unmount_below(root)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (root / junk).glob("*"):
                if path.is_file():
                    path.unlink()
        _import(root, recipe)
    finally:
        _unmount_below(root)
        shutil.rmtree(root, ignore_errors=True)


def _import(root: Path, recipe: Recipe) -> None:
    changes = [
        f"LABEL {RECIPE_LABEL}={recipe.digest}",
        f"ENV PATH={IMAGE_PATH}",
        'CMD ["sleep", "infinity"]',
    ]
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "-C", str(root), "-c", "."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    argv = ["docker", "import", *(a for c in changes for a in ("--change", c)), "-", recipe.tag]
    try:
        imp = subprocess.run(
            argv, stdin=tar.stdout, capture_output=True, text=True, check=False,
            timeout=IMPORT_TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        tar.kill()
        tar.wait()
        raise DaemonHung("import", IMPORT_TIMEOUT, engine_version()) from None
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
    tar_err = tar.communicate()[1].decode(errors="replace")
    if tar.returncode != 0 or imp.returncode != 0:
        detail = last_line(imp.stderr or tar_err) or "no output"
        raise EnvironmentProblem(f"docker import of the node image failed: {detail}")


def _unmount_below(root: Path) -> None:
    """debootstrap mounts /proc and /sys in the target; a failed run can leave them mounted."""
    prefix = str(root.resolve()) + "/"
    with open("/proc/mounts") as f:
        points = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        run(["umount", "--lazy", point], check=False)


def debian_mirror() -> str:
    """The Debian archive this machine's apt uses (deb822 `.sources` or one-line `.list`)."""
    files: list[Path] = []
    for src in APT_SOURCES:
        if src.is_dir():
            files.extend(sorted(src.glob("*.sources")) + sorted(src.glob("*.list")))
        elif src.is_file():
            files.append(src)
    for path in files:
        text = path.read_text(errors="replace")
        for uri, suites in apt_entries(text, deb822=path.suffix == ".sources"):
            if node_recipe().suite in suites and "security" not in uri:
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def apt_entries(text: str, deb822: bool) -> list[tuple[str, list[str]]]:
    """(URI, suites) of every enabled `deb` source in an apt sources file."""
    out: list[tuple[str, list[str]]] = []
    if deb822:
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                key, sep, value = line.partition(":")
                if sep and not line.startswith((" ", "\t", "#")):
                    fields[key.strip().lower()] = value.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled") != "no":
                suites = fields.get("suites", "").split()
                out.extend((uri, suites) for uri in fields.get("uris", "").split())
        return out
    for line in text.splitlines():
        words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            out.append((words[1], [words[2]]))
    return out
