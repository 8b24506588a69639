"""`twin blast --live`: every path of the static analysis walked hop by hop on a real twin,
each hop sent from inside the host the previous one reached and attributed to its rule; and
flows toward hosts out of reach, all refused. Static and live must agree — on the reference, on
a generated policy with a flat zone, and not on a twin whose firewall lets more through."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from bench.scale import scale_policy
from tests.conftest import ROOT, netns_list
from twin import pipeline
from twin.analysis.blast import Blast
from twin.analysis.reach import Reach
from twin.analysis.walkplan import walk_plan
from twin.deploy.configure import load_firewall
from twin.policy.model import FLAT_SEGMENT
from twin.verify.walk import LiveWalk

pytestmark = pytest.mark.integration
FORWARD_HOOK = "type filter hook forward priority filter; policy drop;"


def walked(lab: Any, foothold: str | None) -> tuple[LiveWalk, int]:
    walks = walk_plan(Blast(Reach(lab.plan)), foothold)
    return pipeline.walk(lab, walks), len(walks.steps)


def agree(live: LiveWalk, steps: int) -> None:
    bad = [f"{p.src}->{p.dst} {p.proto}/{p.port}: {p.reason}" for p in live.failures[:5]]
    assert live.exit_code == 0 and not bad and not live.inconclusive, bad
    assert not live.unwalked and len(live.hops) <= steps and live.hops
    for p in live.hops.values():
        assert p.observed in ("open", "closed")
        assert p.logged == ("" if p.expected_rule == FLAT_SEGMENT else p.expected_rule)
    for p in live.refusals.values():
        assert p.observed in ("filtered", "rejected") and p.logged == p.expected_rule


def test_reference_static_and_live_agree_from_web1_and_from_every_zone(
    make_policy: Callable[..., Any], lab_up: Callable[..., Any]
) -> None:
    lab = lab_up(make_policy())
    live, steps = walked(lab, "web1")
    agree(live, steps)
    assert sorted((p.src, p.dst, p.logged) for p in live.hops.values()) == [
        ("app1", "db1", "app-to-db"), ("app1", "db2", "app-to-db"),
        ("web1", "app1", "web-to-app"), ("web1", "app2", "web-to-app"),
        ("web1", "web2", "intrazone-default"),
    ]  # fmt: skip
    assert live.batches == 3  # depth 1, depth 2, the flows out of reach
    assert len(live.refusals) == 6 * 6 * 11  # 6 hosts reached x 6 never x 11 services
    every, steps = walked(lab, None)
    agree(every, steps)
    assert {p.src for p in every.hops.values()} >= {"web1", "app1", "jump1", "dev1", "fin1"}


def test_a_generated_policy_with_a_flat_zone_agrees(
    make_policy: Callable[..., Any], lab_up: Callable[..., Any]
) -> None:
    def generated(data: dict[str, Any]) -> None:
        made = scale_policy(6, hosts=3, seed=11)
        data.update({k: v for k, v in made.items() if k != "name"})
        data.pop("expect", None)
        data["zones"]["z002"]["segment"] = "flat"
        data["rules"] = data["rules"][:120]

    lab = lab_up(make_policy(generated))
    live, steps = walked(lab, None)  # every zone a foothold in turn
    agree(live, steps)
    assert len({p.expected_rule for p in live.hops.values()}) > 3  # many rules walked
    one, steps = walked(lab, "z002h0")  # its zone peers: on the bridge, not the firewall
    agree(one, steps)
    flat = [p for p in one.hops.values() if p.expected_rule == FLAT_SEGMENT]
    assert {(p.src, p.dst, p.logged) for p in flat} == {("z002h0", "z002h1", ""),
                                                       ("z002h0", "z002h2", "")}  # fmt: skip


def test_a_firewall_that_lets_more_through_fails_the_walk(
    make_policy: Callable[..., Any], lab_up: Callable[..., Any]
) -> None:
    """Loaded by twin's own loader (so the twin is healthy, as with a wrong template): web may
    reach finance, which the analysis says no path ever does; and app-to-db is gone."""
    policy = make_policy()
    lab = lab_up(policy)
    path = lab.state.path / "configs" / "fw.nft"
    hole = "\n\t\tip saddr 192.168.10.0/24 ip daddr 192.168.60.0/24 tcp dport 22 accept"
    text = path.read_text().replace(FORWARD_HOOK, FORWARD_HOOK + hole, 1)
    text = text.replace('log group 1 prefix "app-to-db" accept', "drop", 1)
    load_firewall(lab.runtime, lab.state, lab.plan, text)
    res = subprocess.run(
        [sys.executable, "-m", "twin", "blast", str(policy), "--live", "--from", "web1",
         "--json", "-"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    data = json.loads(res.stdout)
    assert data["ok"]  # the static analysis itself holds
    passed = {(f["src"], f["dst"], f["port"]) for f in data["live"]["refusals"]["failures"]}
    assert ("web1", "fin1", 22) in passed and ("app1", "fin2", 22) not in passed
    hops = {(h["src"], h["dst"]): h for h in data["live"]["hops"]}
    assert hops[("web1", "app1")]["ok"]
    assert hops[("app1", "db1")]["observed"] == "filtered" and not hops[("app1", "db1")]["ok"]


def test_compare_live_walks_the_policy_and_the_deployed_baseline(
    make_policy: Callable[..., Any], lab_up: Callable[..., Any]
) -> None:
    policy = make_policy()
    lab = lab_up(policy)
    res = subprocess.run(
        [sys.executable, "-m", "twin", "compare", str(policy), "--live", "--json", "-"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    live = json.loads(res.stdout)["live"]
    mine, flat = live["policy"], live["baseline"]
    assert mine["ok"] and flat["ok"] and flat["lab"] == f"{lab.state.lab}b"
    reached = {f["from"]: (b["reached"], f["reached"])
               for b, f in zip(flat["footholds"], mine["footholds"], strict=True)}  # fmt: skip
    assert reached["web"] == (10, 4) and reached["management"] == (10, 10)
    assert mine["refusals"]["sent"] and not flat["refusals"]["sent"]  # nothing out of reach
    assert not [n for n in netns_list() if n.startswith(f"clab-{lab.state.lab}b-")]
