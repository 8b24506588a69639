"""Every name the model accepts reaches `ip -batch`, nft and YAML unchanged, and nothing else.

Names are never escaped on the way out (model.py): so whatever the model accepts must be a
word for every tool it is handed to. Two properties, checked with hypothesis:
1. any text at all, put where a name goes, is either refused or made only of [A-Za-z0-9_.-]
   (no trailing newline: `$` in a regex would have let "web1\\n" through);
2. a policy built from accepted names (lab, zones, hosts, firewall, rules, address and service
   groups, intent lines) is rendered, and the real tools read back exactly those names: the
   namespaces `ip -batch` creates, the bridges of the firewall's own batch, the chains, rule
   comments and log prefixes of the loaded nft table, and the topology and policy YAML.
   The tools run in a throwaway network and mount namespace (`unshare`), so nothing touches
   the machine's /run/netns or its nftables.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.errors import InputError
from twin.lab.directory import TOPOLOGY
from twin.plan.build import build_plan
from twin.policy.load import parse_policy
from twin.policy.syntax import LAB_NAME, NODE_NAME, OBJECT_NAME
from twin.render.topology import render_lab

SAFE = set(string.ascii_letters + string.digits + "_.-")
labs = st.from_regex(LAB_NAME, fullmatch=True)
nodes = st.from_regex(NODE_NAME, fullmatch=True)
objects = st.from_regex(OBJECT_NAME, fullmatch=True)
# text that looks like names but also holds what breaks a tool: newlines, spaces, quotes, …
hostile = st.one_of(
    st.text(max_size=40),
    st.builds(lambda n, tail: n + tail, nodes, st.sampled_from(["\n", "\r", " ", "\t", "\x00"])),
    st.builds(lambda n, tail: n + tail, objects, st.sampled_from(["\n", '"', ";", "\n#"])),
)


def policy(lab: str, names: list[str], rules: list[str], groups: list[str]) -> dict[str, Any]:
    """A small valid policy whose every name is one of the given ones."""
    z1, z2, h1, h2, fw = names
    r1, r2, expect = rules
    addr, svc = groups
    return {
        "name": lab,
        "firewall": {"name": fw},
        "zones": {
            z1: {"subnet": "10.1.0.0/24", "hosts": [h1]},
            z2: {"subnet": "10.2.0.0/24", "hosts": [h2]},
        },
        "addresses": {addr: ["10.2.0.0/25"]},
        "services": {svc: ["tcp/80", "udp/53"]},
        "rules": [
            {
                "name": r1,
                "from": z1,
                "to": z2,
                "destination": [addr],
                "services": [svc],
                "action": "allow",
            },
            {"name": r2, "from": z2, "to": z1, "action": "reject"},
        ],
        "expect": [{"name": expect, "from": z1, "to": z2, "service": svc, "verdict": "allow"}],
    }


SLOTS = ["lab", "zone", "host", "firewall", "rule", "address", "service", "expect"]


def with_name(slot: str, name: str) -> dict[str, Any]:
    """The policy above with `name` in one slot (the others fixed and valid)."""
    base = ["lab", ["web", "app", "web1", "app1", "fw"], ["r1", "r2", "e1"], ["grp", "svc"]]
    lab, names, rules, groups = base
    assert isinstance(names, list) and isinstance(rules, list) and isinstance(groups, list)
    if slot == "lab":
        lab = name
    elif slot in ("zone", "host", "firewall"):
        names = list(names)
        names[{"zone": 0, "host": 2, "firewall": 4}[slot]] = name
    elif slot in ("rule", "expect"):
        rules = list(rules)
        rules[0 if slot == "rule" else 2] = name
    else:
        groups = list(groups)
        groups[0 if slot == "address" else 1] = name
    return policy(str(lab), names, rules, groups)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(SLOTS), hostile)
def test_an_accepted_name_is_a_plain_word(slot: str, name: str) -> None:
    text = yaml.safe_dump(with_name(slot, name), sort_keys=False)
    try:
        parse_policy(text, "names.yml")
    except InputError:
        return
    assert set(name) <= SAFE, f"{slot} name {name!r} was accepted"


@pytest.mark.parametrize("slot", SLOTS)
def test_a_trailing_newline_is_refused_everywhere(slot: str) -> None:
    good = "lab" if slot == "lab" else ("ok1" if slot in ("zone", "host", "firewall") else "Ok1")
    parse_policy(yaml.safe_dump(with_name(slot, good)), "names.yml")
    with pytest.raises(InputError):
        parse_policy(yaml.safe_dump(with_name(slot, good + "\n")), "names.yml")


@settings(max_examples=300, deadline=None)
@given(labs, st.text(alphabet="a0-_", max_size=6), nodes, nodes)
def test_one_labs_prefix_never_names_another_labs_node(
    lab: str, tail: str, node: str, other_node: str
) -> None:
    """Teardown removes what starts with clab-<lab>-: no other lab's node may start so, not
    even a lab whose name starts with this one's (adv1, adv10, adv1-x)."""
    other = lab + tail
    if other == lab or not LAB_NAME.fullmatch(other):
        return
    assert not f"clab-{other}-{other_node}".startswith(f"clab-{lab}-")
    assert not f"clab-{lab}-{node}".startswith(f"clab-{other}-")


# --- the real tools ---------------------------------------------------------------------------

SCRIPT = """
set -e
mount -t tmpfs twin-names /run/netns
ip -batch netns.batch
ip netns list > netns.out
ip -batch ports.batch
ip -batch fw.ip
ip -j link show > links.json
nft -f ruleset.nft
nft -j list table inet twin > nft.json
"""


def need_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (unshare of a network and mount namespace)")
    for tool in ("unshare", "ip", "nft"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (make setup)")
    Path("/run/netns").mkdir(exist_ok=True)  # what `ip netns add` makes on first use


@pytest.mark.integration
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    labs,
    st.lists(nodes, min_size=5, max_size=5, unique=True),
    st.lists(objects, min_size=3, max_size=3, unique=True),
    st.lists(objects, min_size=2, max_size=2, unique=True),
)
def test_accepted_names_survive_ip_nft_and_yaml(
    tmp_path: Path, lab: str, names: list[str], rules: list[str], groups: list[str]
) -> None:
    need_tools()
    if {g.lower() for g in groups} & set(names):
        return  # zones, hosts and addresses share one namespace: the loader refuses a clash
    text = yaml.safe_dump(policy(lab, names, rules, groups), sort_keys=False)
    pol = parse_policy(text, "names.yml")
    plan = build_plan(pol)
    files = render_lab(plan, "names.yml")
    work = tmp_path / "names"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    (work / "netns.batch").write_text("".join(f"netns add {plan.node_id(n)}\n" for n in plan.nodes))
    ports = [p for z in plan.zones for p in z.ports]
    (work / "ports.batch").write_text(
        "".join(f"link add {p} type veth peer name peer{i}\n" for i, p in enumerate(ports))
    )
    (work / "fw.ip").write_text(files[f"configs/{plan.firewall}.ip"])
    (work / "ruleset.nft").write_text(files[f"configs/{plan.firewall}.nft"])
    res = subprocess.run(
        ["unshare", "--mount", "--net", "--", "sh", "-c", SCRIPT],
        cwd=work, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr

    # ip -batch: one namespace per node, named exactly clab-<lab>-<node>
    made = {line.split()[0] for line in (work / "netns.out").read_text().splitlines()}
    assert made == {f"clab-{lab}-{n}" for n in plan.nodes}
    # the firewall's batch: one bridge per zone, under the planned name
    links = {link["ifname"] for link in json.loads((work / "links.json").read_text())}
    assert {z.bridge for z in plan.zones} <= links
    # nft: every zone pair's chain, every rule's comment and log prefix, as named
    table = json.loads((work / "nft.json").read_text())["nftables"]
    chains = {i["chain"]["name"] for i in table if "chain" in i}
    assert {c.name for c in plan.chains} <= chains
    comments, prefixes = set(), set()
    for item in table:
        rule = item.get("rule")
        if rule:
            comments.add(rule.get("comment"))
            prefixes |= {e["log"]["prefix"] for e in rule["expr"] if "log" in e}
    assert {rules[0], rules[1]} <= comments and {rules[0], rules[1]} <= prefixes
    # YAML: the topology names the lab, its nodes and zones; the policy reads back the same
    topo = yaml.safe_load(files[TOPOLOGY])
    assert topo["name"] == lab
    assert set(topo["topology"]["nodes"]) == set(plan.nodes)
    zones = {n.get("labels", {}).get("twin-zone") for n in topo["topology"]["nodes"].values()}
    assert zones - {None} == {names[0], names[1]}
    again = parse_policy(yaml.safe_dump(pol.model_dump(mode="json", by_alias=True)), "again.yml")
    assert again == pol
