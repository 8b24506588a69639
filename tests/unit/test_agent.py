"""Host enforcement (`twin.plan.agent`), offline: what each host is given decides every flow the
way the central firewall does. For every host pair and every port the prober would send, the
source's outbound chain and the destination's inbound chain reach the very rule
`Plan.decide` names — read from the chains as rendered (narrowed addresses, ports,
protocols), on the reference, the golden policies and a generated 25-zone policy."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.diff import generate_policy
from tests.conftest import REFERENCE, ROOT
from twin.analysis.compare import baseline_plan, deployable
from twin.errors import InputError
from twin.firewalls.table import unsupported
from twin.plan.agent import IN, OUT, agent_plan, first_match, path_of
from twin.plan.build import build_plan
from twin.plan.flows import family_ports, plan_flows, probe_ports
from twin.plan.plan import Plan
from twin.policy.load import load_policy, parse_policy
from twin.policy.model import Enforcement

GOLDEN = ROOT / "tests" / "golden" / "render" / "policies"


def hosts_enforcing(data: dict, enforcement: str = "host") -> Plan:
    data = dict(data)
    data["firewall"] = {**data.get("firewall", {}), "enforcement": enforcement}
    return build_plan(parse_policy(yaml.safe_dump(data, sort_keys=False)))


def equivalence(plan: Plan, sample: bool = False) -> int:
    """Every host pair (`sample`: the first host of each zone to the first of every other, and
    both ways inside each zone) × every probed (proto, port): central == source out ==
    destination in."""
    agents = {h.name: agent_plan(plan, h.name) for h in plan.hosts}
    out = {h: {c.zone: c for c in a.outbound} for h, a in agents.items()}
    inn = {h: {c.zone: c for c in a.inbound} for h, a in agents.items()}
    ports = probe_ports(plan)
    checked = 0
    first = {h.zone: h.name for h in reversed(plan.hosts)}
    for s in plan.hosts:
        for d in plan.hosts:
            if s.name == d.name:
                continue
            if sample and s.zone != d.zone and first[s.zone] != s.name:
                continue
            if sample and s.zone != d.zone and first[d.zone] != d.name:
                continue
            for family in set(s.families) & set(d.families):
                a, b = str(s.addr(family)), str(d.addr(family))
                for proto, port in family_ports(ports, family):
                    central = plan.decide(s.name, d.name, proto, port, family)
                    sent = first_match(out[s.name][d.zone], a, b, proto, port)
                    received = first_match(inn[d.name][s.zone], a, b, proto, port)
                    assert (sent.name, received.name) == (central.name, central.name), (
                        s.name, d.name, proto, port, family,
                    )  # fmt: skip
                    checked += 1
    return checked


@pytest.mark.parametrize(
    "path",
    [
        REFERENCE,
        ROOT / "topologies" / "zero-trust-6zone-dualstack.yml",
        *(
            GOLDEN / f"{n}.yml"
            for n in ("objects-and-ranges", "open-interzone", "dual-stack-mixed")
        ),
    ],
    ids=lambda p: p.stem,
)
def test_hosts_decide_every_flow_like_the_central_firewall(path: Path) -> None:
    plan = hosts_enforcing(yaml.safe_load(path.read_text()))
    assert equivalence(plan) > 0


def test_a_generated_25_zone_policy_too() -> None:
    plan = hosts_enforcing(generate_policy(zones=25, rules=300, seed=13))
    assert len(plan.hosts) == 50
    assert equivalence(plan, sample=True) >= (25 * 24 + 50) * 100


def test_a_host_keeps_only_the_rules_that_can_match_it() -> None:
    plan = hosts_enforcing(yaml.safe_load((GOLDEN / "objects-and-ranges.yml").read_text()))
    u1, u2 = agent_plan(plan, "u1"), agent_plan(plan, "u2")

    def names(chains: tuple, zone: str) -> list[str]:
        return [cr.rule.name for c in chains if c.zone == zone for cr in c.rules]

    # admins-anywhere has source [admins] = u2: u2 sends under it, u1 never does
    assert "admins-anywhere" in names(u2.outbound, "servers")
    assert "admins-anywhere" not in names(u1.outbound, "servers")
    # users-web names destinations s1, s2: s3 is never given it inbound
    s3 = agent_plan(plan, "s3")
    assert "users-web" not in names(s3.inbound, "users")
    assert "users-web" in names(agent_plan(plan, "s1").inbound, "users")
    # a pair with nothing but its default jumps to the shared default chain
    b1 = agent_plan(plan, "b1")
    assert {c.name for c in b1.outbound if c.zone == "users"} == {"interzone-default"}
    assert all(c.direction == OUT for c in u1.outbound)
    assert all(c.direction == IN for c in u1.inbound)


def test_the_path_names_the_nodes_that_judge_a_flow() -> None:
    data = yaml.safe_load(REFERENCE.read_text())
    assert path_of(build_plan(load_policy(REFERENCE)), "web1", "app1") == ("fw",)
    assert path_of(hosts_enforcing(data), "web1", "app1") == ("web1", "app1")
    assert path_of(hosts_enforcing(data, "both"), "web1", "app1") == ("web1", "fw", "app1")


def test_flows_and_predictions_do_not_depend_on_where_the_policy_is_enforced() -> None:
    data = yaml.safe_load(REFERENCE.read_text())
    central = [(f.flow, f.rule.name) for f in plan_flows(build_plan(load_policy(REFERENCE)))]
    for mode in ("host", "both"):
        assert [(f.flow, f.rule.name) for f in plan_flows(hosts_enforcing(data, mode))] == central


def test_only_a_kind_that_programs_hosts_takes_host_enforcement() -> None:
    data = yaml.safe_load(REFERENCE.read_text())
    data["firewall"] = {"kind": "vyos", "image": "vyos:1.4", "enforcement": "both"}
    policy = parse_policy(yaml.safe_dump(data))
    ((path, message, _hint),) = unsupported(policy)
    assert path == ("firewall", "enforcement")
    assert "vyos is a central firewall only" in message
    data["firewall"]["enforcement"] = "central"
    assert unsupported(parse_policy(yaml.safe_dump(data))) == []
    data["firewall"]["enforcement"] = "everywhere"
    with pytest.raises(InputError, match="enforcement"):
        parse_policy(yaml.safe_dump(data))


def test_a_compare_baseline_is_the_network_before_agents() -> None:
    """`twin compare` measures against flat VLANs behind a central firewall: a policy enforced on
    the hosts keeps its agents, its baselines do not (agents would filter a flat zone)."""
    plan = hosts_enforcing(yaml.safe_load(REFERENCE.read_text()))
    assert plan.flat_rule is None
    base = baseline_plan(plan)
    assert base.policy.firewall.enforcement is Enforcement.central
    assert base.flat_rule is not None
    for kind in ("flat", "flat-zones"):
        assert deployable(plan.policy, kind).firewall.enforcement is Enforcement.central
