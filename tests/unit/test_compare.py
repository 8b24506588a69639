"""twin compare: the flat baselines against a brute-force oracle, and the reference's figures."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import REFERENCE, ROOT
from tests.unit.test_blast import SETTINGS, oracle_rule, policies
from twin.analysis.blast import Blast
from twin.analysis.compare import (
    baseline_plan,
    baseline_reach,
    catalogue,
    deployable,
    exposure,
)
from twin.analysis.intervals import service_key
from twin.analysis.reach import Reach
from twin.plan.build import build_plan
from twin.plan.flows import probe_ports
from twin.plan.plan import Plan
from twin.policy.load import load_policy


def oracle_exposure(plan: Plan, baseline: str | None) -> tuple[int, int]:
    """(host pairs, host-services) from Plan.decide, flow by flow, over the catalogue."""
    decided = baseline_plan(plan) if baseline else plan
    services = probe_ports(plan)
    pairs = triples = 0
    for a, b in itertools.permutations([h.name for h in plan.hosts], 2):
        if baseline == "flat":
            allowed = len(services)
        else:
            allowed = sum(1 for s in services if oracle_rule(decided, set(), a, b, s))
        pairs += allowed > 0
        triples += allowed
    return pairs, triples


@SETTINGS
@given(policies(), st.sampled_from([None, "flat", "flat-zones"]))
def test_exposure_counts_what_decide_allows(plan: Plan, baseline: str | None) -> None:
    reach = baseline_reach(plan, baseline) if baseline else Reach(plan)
    blast = Blast(reach, "any")
    got = exposure(blast, catalogue(plan, blast))
    assert (got.host_pairs, got.host_services) == oracle_exposure(plan, baseline)
    assert got.services == len(probe_ports(plan))


@SETTINGS
@given(policies(), st.sampled_from(["flat", "flat-zones"]))
def test_the_deployed_baseline_reaches_what_the_computed_one_does(
    plan: Plan, baseline: str
) -> None:
    """`compare --live` deploys the baseline as a policy: it must connect the same hosts on the
    same services (flat: a firewall that allows everything stands in for one L2 segment)."""
    computed = Blast(baseline_reach(plan, baseline))
    deployed = Blast(Reach(build_plan(deployable(plan.policy, baseline))))
    services = catalogue(plan, computed)
    assert exposure(deployed, services) == exposure(computed, services)
    assert deployed.closures() == computed.closures()


def test_the_reference_against_one_flat_network() -> None:
    plan = build_plan(load_policy(REFERENCE))
    services = catalogue(plan, Blast(Reach(plan)))
    assert service_key("tcp", 8080) in services and len(services) == 11
    flat = exposure(Blast(baseline_reach(plan, "flat")), services)
    assert (flat.host_pairs, flat.host_services) == (12 * 11, 12 * 11 * 11)
    policy = exposure(Blast(Reach(plan)), services)
    # intrazone 10 (finance rejects its own), web/dev/finance → app 12, app → db 4, mgmt ssh 20
    assert policy.host_pairs == 46
    zones = exposure(Blast(baseline_reach(plan, "flat-zones")), services)
    assert zones.host_pairs == 48  # fin1 ↔ fin2 share their VLAN: the reject no longer applies


def twin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], capture_output=True, text=True, cwd=ROOT, check=False
    )


def test_compare_cli_prints_and_writes_json() -> None:
    res = twin("compare", str(REFERENCE), "--from", "web1", "--json", "-")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["baseline"] == "flat" and data["services"] == 11
    assert data["totals"]["host_pairs"] == {"baseline": 132, "policy": 46}
    web = next(z for z in data["zones"] if z["zone"] == "web")
    assert web["reached"] == {"baseline": 10, "policy": 4}
    assert web["jewels"]["finance"]["policy"] is None
    assert len(web["jewels"]["finance"]["baseline"]) == 1  # straight there on a flat network
    assert [h["rule"] for h in web["jewels"]["db"]["policy"]] == ["web-to-app", "app-to-db"]
    assert web["jewels"]["db"]["baseline"][0]["rule"] == "flat-segment"
    f = data["foothold"]
    assert len(f["baseline"]["reached"]) == 11 and len(f["policy"]["reached"]) == 5
    shown = twin("compare", str(REFERENCE), "--baseline", "flat-zones")
    assert shown.returncode == 0 and "flat-zones → policy" in shown.stdout
    bad = twin("compare", str(REFERENCE), "--baseline", "vlan")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "flat, flat-zones" in bad.stderr
