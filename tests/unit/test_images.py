"""The node image's recipe and tag, the apt sources it builds from, the topology that uses it."""

from __future__ import annotations

import re

import yaml

from tests.conftest import REFERENCE
from twin.images.build import apt_entries, dockerfile, missing_image_hint
from twin.images.recipe import node_recipe, node_tag
from twin.pipeline import prepare


def test_tag_is_a_hash_of_the_recipe_and_stable() -> None:
    recipe = node_recipe()
    assert re.fullmatch(r"twin-node:[0-9a-f]{12}", node_tag())
    assert node_tag() == recipe.tag == f"twin-node:{recipe.digest[:12]}"
    for pkg in ("nftables", "iproute2", "conntrack", "python3", "python3-scapy", "iputils-ping"):
        assert pkg in recipe.packages


def test_dockerfile_installs_the_same_packages_and_labels_the_recipe() -> None:
    recipe = node_recipe()
    text = dockerfile(recipe)
    assert text.startswith("#") and "FROM debian:bookworm-slim" in text
    for pkg in recipe.packages:
        assert f"      {pkg} \\" in text
    assert f'LABEL twin-recipe="{recipe.digest}"' in text


def test_missing_node_image_says_how_to_build_it() -> None:
    assert "twin images build" in missing_image_hint(node_tag())
    assert "docker load" in missing_image_hint("vyos:1.4")


def test_apt_sources_deb822_and_one_line() -> None:
    deb822 = (
        "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n"
        "Suites: bookworm-security\n\nTypes: deb-src\nURIs: http://src.example/debian\n"
        "Suites: bookworm\n"
    )
    assert apt_entries(deb822, deb822=True) == [
        ("http://deb.debian.org/debian", ["bookworm", "bookworm-updates"]),
        ("http://deb.debian.org/debian-security", ["bookworm-security"]),
    ]
    one_line = (
        "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n"
        "deb-src http://mirror.example/debian bookworm main\n"
    )
    assert apt_entries(one_line, deb822=False) == [("http://mirror.example/debian", ["bookworm"])]


def test_topology_is_plain_containerlab_without_management_network() -> None:
    topo = yaml.safe_load(prepare(REFERENCE).files["topology.clab.yml"])
    assert topo["name"] == "zt6"
    nodes = topo["topology"]["nodes"]
    assert len(nodes) == 13
    for node in nodes.values():
        assert node["kind"] == "linux"
        assert node["network-mode"] == "none"
        assert node["image"] == node_tag()
    assert topo["topology"]["links"][0] == {"endpoints": ["fw:eth1", "web1:eth1"]}
