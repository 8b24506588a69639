"""The bypass check: no address the policy did not plan is a way around the firewall.

Every run, from each host (a foothold an attacker may hold), on a flow the policy allows from
the host's planned address to a host of another zone (else any flow there):
- `link-local`: from its IPv6 link-local address (fe80::/10, which the kernel gives every IPv6
  interface): a router never forwards it (the firewall's kernel answers "beyond scope");
- `unplanned-address`: from an address in its zone's subnet that no host was given, which the
  check adds to the host for the moment (as SLAAC, a privacy address or an attacker would), in
  each family the host has: anti-spoofing lets the planned addresses through only.
The probes ride with the matrix (no wait of their own); so that no matrix probe leaves from the
added address, an IPv6 one is added deprecated (the kernel never picks it as a source) and an
IPv4 one is a secondary address (the primary stays the source).
Each probe is judged by what came back — it must be blocked — and names the rule the firewall
logged. The added addresses are removed afterwards, whatever happens.

From the matrix, `we_forgot_v6` names IPv6 flows that pass where the policy blocks them while
the same flows over IPv4 are blocked as planned: a firewall that filters IPv4 only.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from traffic import rtnl
from traffic.netns import Namespaces, in_thread
from traffic.nflog import LogRecord
from traffic.prober import Outcome, Probe
from twin.plan.flows import PlannedFlow
from twin.plan.plan import HostPlan, Plan
from twin.policy.model import ANTI_SPOOFING, Verdict
from twin.verify.crafted import CraftedResult
from twin.verify.verdicts import Observed

LINK_LOCAL, UNPLANNED, SOURCE_PORT = "link-local", "unplanned-address", "source-port"
# source ports firewalls have let through by themselves (DNS, FTP data, Kerberos, DHCP, NTP,
# IKE): a blocked flow is sent from each, per zone pair, so a `udp sport 53 accept` shows
CLASSIC = {"tcp": (20, 53, 88), "udp": (53, 67, 68, 88, 123, 500)}
KERNEL = "not forwarded (kernel)"  # what a link-local source meets: no rule, the router itself
V6_BYPASS = "we forgot v6"


@dataclass(frozen=True)
class Planned:
    kind: str
    sender: str
    dst_host: str
    src: str  # the source address ('' for link-local: read from the host when it runs)
    dst: str
    proto: str
    port: int
    prefix: int = 0  # unplanned-address: its prefix length, to add it to the host
    sport: int = 0  # source-port: the well-known port it leaves from
    rule: str = ""  # source-port: the rule that blocks the flow


def plan_bypass(plan: Plan, flows: list[PlannedFlow]) -> list[Planned]:
    """One probe per host and kind (and family, for unplanned addresses)."""
    out: list[Planned] = []
    for h in plan.hosts:
        for family in h.families:
            target = _target(flows, h.name, family)
            if target is None:
                continue
            d = plan.by_host[target.flow.dst]
            dst, proto, port = str(d.addr(family)), target.flow.proto, target.flow.port
            if family == 6:
                out.append(Planned(LINK_LOCAL, h.name, d.name, "", dst, proto, port))
            spare = unplanned_address(plan, h, family)
            if spare is not None:
                prefix = h.prefixlen if family == 4 else h.prefixlen6
                out.append(Planned(UNPLANNED, h.name, d.name, spare, dst, proto, port, prefix))
    return out + _classic(plan, flows)


def _classic(plan: Plan, flows: list[PlannedFlow]) -> list[Planned]:
    """Per zone pair, family and protocol, the first flow the policy blocks, sent from each
    well-known source port (CLASSIC): a rule keyed on one source port lets it through."""
    out: list[Planned] = []
    seen: set[tuple[str, str, int, str]] = set()
    for f in flows:
        key = (f.src_zone, f.dst_zone, f.flow.family, f.flow.proto)
        if f.predicted is Verdict.allow or f.flow.proto not in CLASSIC or key in seen:
            continue
        seen.add(key)
        s, d = plan.by_host[f.flow.src], plan.by_host[f.flow.dst]
        src, dst = str(s.addr(f.flow.family)), str(d.addr(f.flow.family))
        out += [
            Planned(f"{SOURCE_PORT} {sport}", s.name, d.name, src, dst, f.flow.proto,
                    f.flow.port, sport=sport, rule=f.rule.name)
            for sport in CLASSIC[f.flow.proto]
        ]  # fmt: skip
    return out


def _target(flows: list[PlannedFlow], host: str, family: int) -> PlannedFlow | None:
    """A tcp/udp flow from `host` to another zone over `family`: one the policy allows if
    there is one (so that only the source address can stop it)."""
    mine = [
        f for f in flows
        if f.flow.src == host and f.flow.family == family and f.src_zone != f.dst_zone
        and f.flow.proto in ("tcp", "udp")
    ]  # fmt: skip
    allowed = [f for f in mine if f.predicted is Verdict.allow]
    return next(iter(allowed or mine), None)


def unplanned_address(plan: Plan, host: HostPlan, family: int) -> str | None:
    """The highest address of the host's zone subnet (below IPv4's broadcast) that is nobody's:
    no host's, not the gateway."""
    z = plan.by_zone[host.zone]
    net = z.subnet if family == 4 else z.subnet6
    if net is None:
        return None
    used = {a for h in plan.hosts for a in h.addresses} | {z.gateway, z.gateway6}
    top = net.num_addresses - (2 if family == 4 else 1)
    index = [h.name for h in plan.hosts if h.zone == host.zone].index(host.name)
    for k in range(top - index, max(0, top - index - 64), -1):
        cand = net.network_address + k
        if cand not in used:
            return str(cand)
    return None


Sent = list[tuple[Planned, Probe]]


@contextmanager
def bypass_probes(planned: list[Planned], netns: dict[str, str]) -> Iterator[Sent]:
    """The probes to send, while the unplanned addresses are on their hosts: added on entry
    (the link-local ones read), taken away on exit whatever happens. A host without a
    link-local address sends no such probe."""
    added = [p for p in planned if p.kind == UNPLANNED]
    local = _link_locals({p.sender for p in planned if p.kind == LINK_LOCAL}, netns)
    sent: Sent = []
    for p in planned:
        src = local.get(p.sender, "") if p.kind == LINK_LOCAL else p.src
        if src:
            sent.append((p, Probe(netns[p.sender], src, p.dst, p.proto, p.port, p.sport)))
    try:  # an interrupt while they are being added takes them away too
        _addresses(added, netns, add=True)
        yield sent
    finally:
        _addresses(added, netns, add=False)


def _link_locals(hosts: set[str], netns: dict[str, str]) -> dict[str, str]:
    def work() -> dict[str, str]:
        ns = Namespaces()
        try:
            out = {}
            for h in sorted(hosts):
                ns.enter(netns[h])
                if addr := rtnl.link_local("eth1"):
                    out[h] = f"{addr}%eth1"
            return out
        finally:
            ns.close()

    return in_thread(work, "twin-bypass") if hosts else {}


def _addresses(planned: list[Planned], netns: dict[str, str], add: bool) -> None:
    def work() -> None:
        ns = Namespaces()
        try:
            for p in planned:
                ns.enter(netns[p.sender])
                try:
                    rtnl.apply([rtnl.address(add, p.src, p.prefix, "eth1", spare=True)])
                except OSError as exc:  # already there (a run killed before it took it away)
                    if add and exc.errno != errno.EEXIST:
                        raise
        finally:
            ns.close()

    if planned:
        in_thread(work, "twin-bypass")


def judge_bypass(
    sent: Sent, outcomes: list[Outcome], logged: list[LogRecord | None]
) -> list[CraftedResult]:
    """Blocked, or a failure; with the rule the firewall logged (nothing for link-local)."""
    out: list[CraftedResult] = []
    for (p, probe), outcome, rec in zip(sent, outcomes, logged, strict=True):
        seen = Observed(outcome.verdict).value
        blocked = seen in (Observed.filtered, Observed.rejected)
        # it never left the host: no verdict (unless the host's own rules refused it: EPERM)
        if outcome.detail.startswith("[Errno") and "not permitted" not in outcome.detail:
            seen, blocked = f"not sent ({outcome.detail})", False
        elif p.sport and outcome.sport != p.sport:  # a listener of that host holds the port
            seen, blocked = f"not sent from port {p.sport} (in use on {p.sender})", True
        expected = p.rule if p.sport else ANTI_SPOOFING if p.kind == UNPLANNED else KERNEL
        out.append(CraftedResult(
            p.kind, p.sender, probe.src.split("%")[0], p.dst_host, p.port, expected,
            rec.prefix if rec else "", blocked, seen, p.proto,
        ))  # fmt: skip
    return out


def is_bypass(c: CraftedResult) -> bool:
    return c.kind in (LINK_LOCAL, UNPLANNED) or c.kind.startswith(SOURCE_PORT)
