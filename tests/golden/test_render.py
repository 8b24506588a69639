"""render_lab, golden: every file of a lab (topology.clab.yml, the firewall config, every node's
ip -batch and sysctl file) for every topology in topologies/ and a few synthetic policies
(tests/golden/render/policies/). `--update-golden` rewrites; a mismatch writes `.actual`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, assert_golden
from twin.lab.directory import TOPOLOGY
from twin.plan.build import build_plan
from twin.policy.load import load_policy
from twin.render.topology import render_lab

HERE = Path(__file__).resolve().parent / "render"
POLICIES = {
    **{f"topologies-{p.stem}": p for p in sorted((ROOT / "topologies").glob("*.yml"))},
    **{p.stem: p for p in sorted((HERE / "policies").glob("*.yml"))},
}


def rendered(case: str) -> dict[str, str]:
    source = POLICIES[case].relative_to(ROOT).as_posix()  # the comment in each file: stable
    return render_lab(build_plan(load_policy(POLICIES[case])), source)


@pytest.mark.parametrize("case", POLICIES)
def test_render_lab_golden(case: str, update_golden: bool) -> None:
    files = rendered(case)
    out = HERE / case
    assert_golden(out / "FILES", "".join(f"{rel}\n" for rel in sorted(files)), update_golden)
    failed = []
    for rel, text in sorted(files.items()):
        try:
            assert_golden(out / rel, text, update_golden)
        except pytest.fail.Exception as exc:
            failed.append(str(exc))
    assert not failed, "\n".join(failed)
    stale = sorted(
        p.relative_to(out).as_posix().removesuffix(".ref")
        for p in out.rglob("*.ref")
        if p.name != "FILES.ref" and p.relative_to(out).as_posix().removesuffix(".ref") not in files
    )
    assert not stale, f"goldens of files no longer rendered: {stale}"


@pytest.mark.parametrize("case", POLICIES)
def test_topology_is_containerlab_shaped(case: str) -> None:
    """Beyond the bytes: the topology parses as YAML and names exactly the plan's nodes and
    links, so a template change that breaks structure fails here with a reason."""
    plan = build_plan(load_policy(POLICIES[case]))
    topo = yaml.safe_load(rendered(case)[TOPOLOGY])
    assert topo["name"] == plan.lab
    assert list(topo["topology"]["nodes"]) == list(plan.nodes)
    assert all(n["kind"] == "linux" for n in topo["topology"]["nodes"].values())
    assert [tuple(link["endpoints"]) for link in topo["topology"]["links"]] == [
        link.endpoints for link in plan.links
    ]
