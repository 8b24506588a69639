"""compare: the policy against the network it replaces — what microsegmentation takes away.

Two baselines, both computed from the same zones, hosts and rules (no sampling: `reach` and
`blast` on a derived plan):
- `flat`: one flat network. Every zone flat and all zones on one L2 segment: every host reaches
  every other host on every service; no firewall between them.
- `flat-zones`: every zone flat (a VLAN per zone, "legacy VLAN isolation"), the firewall still
  between the zones with the same rules: only intrazone traffic escapes it.

Figures, each baseline → policy: host pairs that can talk (one hop, on a counted service);
reachable host-services (source host → destination host : service, over the services the policy
names plus the usual lateral-movement ports — what a live run probes); per foothold zone (all
its hosts compromised) the hosts reached at the fixed point and the shortest path to each
crown jewel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twin.analysis.blast import Blast
from twin.analysis.intervals import contains, intersect, service_key
from twin.analysis.reach import Reach
from twin.plan.build import build_plan
from twin.plan.flows import probe_ports
from twin.plan.plan import Plan
from twin.policy.model import Action, Defaults, Enforcement, Firewall, Policy, Segment

BASELINES = {
    "flat": "one flat network: every host reaches every host, no firewall between zones",
    "flat-zones": "every zone flat (one VLAN each), the firewall between zones",
}


def baseline_plan(plan: Plan) -> Plan:
    """The same policy with every zone `segment: flat` (and the central firewall alone: hosts
    enforcing their own rules would filter a flat zone too)."""
    policy = plan.policy
    zones = {n: z.model_copy(update={"segment": Segment.flat}) for n, z in policy.zones.items()}
    return build_plan(policy.model_copy(update={"zones": zones, "firewall": _central(policy)}))


def _central(policy: Policy) -> Firewall:
    """The policy's firewall enforcing centrally: a baseline is the network before agents."""
    return policy.firewall.model_copy(update={"enforcement": Enforcement.central})


def deployable(policy: Policy, baseline: str) -> Policy:
    """The baseline as a policy a twin can run (`twin compare --live`), intent left out:
    `flat-zones`: every zone flat, the same rules; `flat`: every zone flat and a firewall that
    lets everything through (allow by default, no rule) — one flat network's reachability, on
    the twin's one bridge per zone."""
    zones = {n: z.model_copy(update={"segment": Segment.flat}) for n, z in policy.zones.items()}
    update: dict[str, Any] = {"zones": zones, "expect": [], "firewall": _central(policy)}
    if baseline == "flat":
        update |= {
            "rules": [],
            "defaults": Defaults(interzone=Action.allow, intrazone=Action.allow),
        }
    return policy.model_copy(update=update)


def baseline_reach(plan: Plan, baseline: str) -> Reach:
    if baseline not in BASELINES:
        raise ValueError(baseline)
    return Reach(baseline_plan(plan), one_segment=baseline == "flat")


@dataclass(frozen=True)
class Exposure:
    """One hop: who can talk to whom, on how many of the counted services."""

    host_pairs: int  # ordered (source, destination) pairs with a counted service allowed
    host_services: int  # (source, destination, service) over the counted catalogue
    services: int  # size of the catalogue


def catalogue(plan: Plan, blast: Blast) -> list[int]:
    """The services counted: those the policy names and the lateral-movement set (the ports a
    live run probes), within what `via` counts."""
    keys = (service_key(proto, port) for proto, port in probe_ports(plan))
    return sorted(k for k in keys if contains(blast.mask, k))


def exposure(blast: Blast, services: list[int]) -> Exposure:
    pairs = triples = 0
    for k, e in enumerate(blast.reach.edges):
        if not blast.counted[k]:
            continue
        inside = len(set(e.srcs) & set(e.dsts))  # a host never counts as reaching itself
        n = len(e.srcs) * len(e.dsts) - inside
        allowed = intersect(e.allowed, blast.mask)
        pairs += n
        triples += n * sum(1 for s in services if contains(allowed, s))
    return Exposure(pairs, triples, len(services))
