"""The six-zone twin with a VyOS 1.4 firewall on the docker runtime — needs the user's image.

VyOS publishes no container image to pull: build one from a VyOS 1.4 ISO's root filesystem
(`docker import`) and name it in TWIN_FIREWALL_IMAGE. Without it this test is skipped, saying so.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from twin import pipeline
from twin.lab.registry import find_entry

pytestmark = pytest.mark.integration

IMAGE = os.environ.get("TWIN_FIREWALL_IMAGE", "")


def vyos_image() -> str:
    if not IMAGE:
        pytest.skip(
            "no VyOS image: set TWIN_FIREWALL_IMAGE to a VyOS 1.4 container image "
            "(none can be pulled; build one from a VyOS ISO with `docker import`)"
        )
    found = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, timeout=60)
    if found.returncode != 0:
        pytest.skip(f"TWIN_FIREWALL_IMAGE={IMAGE} is not a local image (`docker load` it first)")
    return IMAGE


def test_vyos_firewall_boots_commits_and_enforces_the_policy(make_policy) -> None:
    image = vyos_image()
    policy = make_policy(lambda d: d.update(firewall={"kind": "vyos", "name": "fw"}))
    state = pipeline.up(policy, "docker", firewall_image=image)
    try:
        lab = pipeline.open_lab(state.lab)
        shown = lab.runtime.exec(lab.state, "fw", ["nft", "list", "ruleset"])
        assert shown.ok and "web-to-app" in shown.stdout  # rule names made it into VyOS
        run = pipeline.test(lab)
        wrong = [r for r in run.results if r.observed.verdict != r.predicted]
        assert not wrong, [f"{r.src}->{r.dst} {r.proto}/{r.port}: {r.observed}" for r in wrong]
    finally:
        assert pipeline.down(find_entry(state.lab)) == []
