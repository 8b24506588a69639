"""render: Plan → text files (containerlab topology, firewall config, node setup). Pure.

Templates live in `templates/` (one folder per target) and only loop and print; this module
hands them ready-made values. A user folder passed as `template_dir` overrides any template.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from twin.firewalls.base import Firewall
from twin.firewalls.table import firewall_of
from twin.lab.directory import TOPOLOGY, LabDir
from twin.plan.agent import enforced_by_hosts
from twin.plan.plan import Plan
from twin.policy.resolve import IPv4Net, IPv6Net
from twin.render.templates import Templates


def render_lab(
    plan: Plan, source: str = "policy", template_dir: Path | None = None
) -> dict[str, str]:
    """Every artefact of a lab, by path relative to the lab directory."""
    t = Templates(template_dir)
    fw = firewall_of(plan.firewall_kind)
    files = {
        LabDir.config_name(plan.firewall, fw.suffix): fw.render(t, plan, source),
        LabDir.config_name(plan.firewall, ".ip"): t.render(
            "node/firewall.ip.j2", node=plan.firewall, zones=fw_zones(plan), dual=plan.dual_stack
        ),
        LabDir.config_name(plan.firewall, ".sysctl"): t.render(
            "node/firewall.sysctl.j2",
            node=plan.firewall,
            zones=plan.zones,
            flat=plan.flat_zones,
            dual=plan.dual_stack,
        ),
    }
    agents = enforced_by_hosts(plan)  # each host enforces its own rules too
    for host in plan.hosts:
        files[LabDir.config_name(host.name, ".ip")] = t.render("node/host.ip.j2", host=host)
        files[LabDir.config_name(host.name, ".sysctl")] = t.render(
            "node/host.sysctl.j2", host=host, dual=plan.dual_stack, agent=agents
        )
        if agents:
            files[LabDir.config_name(host.name, fw.suffix)] = fw.render_host(
                t, plan, host.name, source
            )
    files[TOPOLOGY] = t.render(
        "clab/topology.clab.yml.j2",
        lab=plan.lab,
        source=source,
        image=plan.host_image,
        nodes=_clab_nodes(plan, fw),
        links=plan.links,
    )
    return files


@dataclass(frozen=True)
class _FwZone:
    """A zone as the firewall's setup file prints it."""

    bridge: str
    subnet: IPv4Net | None
    gateway: IPv4Address | None
    subnet6: IPv6Net | None
    gateway6: IPv6Address | None
    ports: tuple[str, ...]
    flat: bool  # `segment: flat`: hosts reach each other on the bridge
    proxies: tuple[IPv6Address, ...]  # isolated zone: hosts' IPv6 addresses, for proxy NDP


def fw_zones(plan: Plan) -> list[_FwZone]:
    return [
        _FwZone(
            z.bridge, z.subnet, z.gateway, z.subnet6, z.gateway6, z.ports, z.flat,
            () if z.flat else
            tuple(h.address6 for h in plan.hosts if h.zone == z.name and h.address6),
        )
        for z in plan.zones
    ]  # fmt: skip


@dataclass(frozen=True)
class _ClabNode:
    name: str
    image: str
    role: str
    zone: str
    binds: tuple[str, ...]
    exec: tuple[str, ...]
    cmd: str = ""
    kind: str = ""  # the firewall kind, on the firewall node
    ipv4: str = ""  # a host's addresses (labels: the topology file says where each host is)
    ipv6: str = ""


def _clab_nodes(plan: Plan, fw: Firewall) -> list[_ClabNode]:
    """Nodes as containerlab sees them: the same setup files, bound in and run by `exec:` (a
    host's sysctls first: its link comes up with IPv6 already set, no address waiting on DAD);
    a firewall that boots its own init runs that instead (twin applies its configuration
    later)."""
    setup: tuple[str, ...] = ("ip -batch /twin/setup.ip", "sysctl -q -p /twin/sysctl.conf")
    host_setup = (setup[1], setup[0])
    if plan.dual_stack:  # Docker starts containers with IPv6 off; the bridges inherit `default`
        ipv6 = "sysctl -q -w net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0"
        setup = (ipv6, *setup)

    def binds(node: str) -> tuple[str, ...]:
        return (
            f"{LabDir.config_name(node, '.ip')}:/twin/setup.ip:ro",
            f"{LabDir.config_name(node, '.sysctl')}:/twin/sysctl.conf:ro",
        )

    fw_config = f"/twin/firewall{fw.suffix}"
    fw_bind = f"{LabDir.config_name(plan.firewall, fw.suffix)}:{fw_config}:ro"
    fw_node = _ClabNode(
        plan.firewall,
        plan.image,
        "firewall",
        "",
        (*fw.binds, fw_bind) if fw.own_init else (*binds(plan.firewall), *fw.binds, fw_bind),
        () if fw.own_init else (*setup, *fw.start(fw_config)),
        "/sbin/init" if fw.own_init else "",
        fw.name,
    )

    def agent(node: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """A host enforcing its own rules: its ruleset bound in, loaded first when it starts
        (its conntrack is then in place for its sysctls)."""
        if not enforced_by_hosts(plan):
            return (), ()
        return (f"{LabDir.config_name(node, fw.suffix)}:{fw_config}:ro",), fw.start(fw_config)

    hosts = [
        _ClabNode(
            h.name, plan.host_image, "host", h.zone, (*binds(h.name), *agent(h.name)[0]),
            (*agent(h.name)[1], *host_setup),
            ipv4=f"{h.address}/{h.prefixlen}" if h.address else "",
            ipv6=f"{h.address6}/{h.prefixlen6}" if h.address6 else "",
        )
        for h in plan.hosts
    ]  # fmt: skip
    return [fw_node, *hosts]
