"""render: Plan → text files (containerlab topology, firewall config, node setup). Pure.

Templates live in `templates/` (one folder per target) and only loop and print; this module
hands them ready-made values. A user folder passed as `template_dir` overrides any template.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from twin.model import Action, FirewallKind
from twin.objects import IPv4Net, PortRange
from twin.plan import ANTI_SPOOFING, CT_INVALID, ChainRule, Plan
from twin.vyos import render_vyos

PACKAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
INSTALLED_TEMPLATES = Path(__file__).resolve().parent / "templates"
TOPOLOGY = "topology.clab.yml"

NFT_VERDICT = {
    Action.allow: "accept",
    Action.deny: "drop",
    Action.reject: "reject with icmpx admin-prohibited",
}

# A firewall kind → (template, file name in configs/, how a node applies it). VyOS adds its own.
Renderer = Callable[["Templates", Plan, str], str]
FIREWALL_RENDERERS: dict[FirewallKind, tuple[str, Renderer]] = {}


def read_topology(path: Path) -> dict[str, Any]:
    """A rendered topology file (twin's own, trusted): libyaml when there is one."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data: dict[str, Any] = yaml.load(path.read_text(), Loader=loader)
    return data


class Templates:
    def __init__(self, template_dir: Path | None = None) -> None:
        search = [str(p) for p in (template_dir, PACKAGE_TEMPLATES, INSTALLED_TEMPLATES) if p]
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            autoescape=False,
        )

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)


def render_lab(
    plan: Plan, source: str = "policy", template_dir: Path | None = None
) -> dict[str, str]:
    """Every artefact of a lab, by path relative to the lab directory."""
    t = Templates(template_dir)
    fw_file, fw_render = FIREWALL_RENDERERS[plan.firewall_kind]
    files = {
        f"configs/{plan.firewall}{fw_file}": fw_render(t, plan, source),
        f"configs/{plan.firewall}.ip": t.render(
            "node/firewall.ip.j2", node=plan.firewall, zones=plan.zones
        ),
        f"configs/{plan.firewall}.sysctl": t.render(
            "node/firewall.sysctl.j2", node=plan.firewall, zones=plan.zones
        ),
    }
    for host in plan.hosts:
        files[f"configs/{host.name}.ip"] = t.render("node/host.ip.j2", host=host)
        files[f"configs/{host.name}.sysctl"] = t.render("node/host.sysctl.j2", host=host)
    files[TOPOLOGY] = t.render(
        "clab/topology.clab.yml.j2",
        lab=plan.lab,
        source=source,
        image=plan.host_image,
        nodes=_clab_nodes(plan, fw_file),
        links=plan.links,
    )
    return files


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


def _clab_nodes(plan: Plan, fw_file: str) -> list[_ClabNode]:
    """Nodes as containerlab sees them: the same setup files, bound in and run by `exec:`."""
    setup = ("ip -batch /twin/setup.ip", "sysctl -q -p /twin/sysctl.conf")

    def binds(node: str) -> tuple[str, ...]:
        return (
            f"configs/{node}.ip:/twin/setup.ip:ro",
            f"configs/{node}.sysctl:/twin/sysctl.conf:ro",
        )

    fw = _ClabNode(
        plan.firewall,
        plan.image,
        "firewall",
        "",
        (*binds(plan.firewall), f"configs/{plan.firewall}{fw_file}:/twin/firewall{fw_file}:ro"),
        (*setup, f"nft -f /twin/firewall{fw_file}"),
        kind=plan.firewall_kind.value,
    )
    if plan.firewall_kind is FirewallKind.vyos:  # VyOS boots its own init, twin commits later
        fw = _ClabNode(
            plan.firewall,
            plan.image,
            "firewall",
            "",
            (
                "/lib/modules:/lib/modules:ro",
                f"configs/{plan.firewall}{fw_file}:/twin/firewall{fw_file}:ro",
            ),
            (),
            "/sbin/init",
            plan.firewall_kind.value,
        )
    hosts = [
        _ClabNode(h.name, plan.host_image, "host", h.zone, binds(h.name), setup) for h in plan.hosts
    ]
    return [fw, *hosts]


# --- nftables -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NftRule:
    name: str
    match: str  # nft match expressions, ending in a space when not empty
    verdict: str


def render_nftables(t: Templates, plan: Plan, source: str) -> str:
    bridge = {z.name: z.bridge for z in plan.zones}
    dispatch = [
        {"src": bridge[a.name], "dst": bridge[b.name], "chain": plan.chain_for(a.name, b.name)}
        for a in plan.zones
        for b in plan.zones
    ]
    defaults = [_NftRule(r.name, "", NFT_VERDICT[r.action]) for r in plan.rules if r.default]
    chains = [
        {"name": c.name, "rules": [line for cr in c.rules for line in _nft_rules(cr)]}
        for c in plan.chains
    ]
    return t.render(
        "nftables/ruleset.nft.j2",
        lab=plan.lab,
        source=source,
        group=plan.nflog_group,
        zones=plan.zones,
        anti_spoofing=ANTI_SPOOFING,
        ct_invalid=CT_INVALID,
        dispatch=dispatch,
        defaults=defaults,
        chains=chains,
    )


SET_THRESHOLD = 8  # up to this many nft rules for one policy rule; past it, anonymous sets


def _nft_rules(cr: ChainRule) -> list[_NftRule]:
    """One policy rule in one chain → its nft rule(s), all carrying the rule's name (counters
    and log records add up per name). A few values become one nft rule each: an anonymous set
    costs the kernel ~1 ms to create (10,000 rules: 9.5 s to load with sets, 1 s without).
    Past SET_THRESHOLD rules, each list becomes one set, one nft rule per protocol."""
    verdict, name = NFT_VERDICT[cr.rule.action], cr.rule.name
    icmp = ["meta l4proto icmp "] if cr.icmp and not cr.any_proto else []
    values = {p: _port_values(_of(cr.ports, p)) for p in ("tcp", "udp")}
    single = [_l4(p, [v]) for p in values for v in values[p]] + icmp
    grouped = [_l4(p, vs) for p, vs in values.items() if vs] + icmp
    if cr.any_proto:
        single = grouped = [""]
    sources, dests = _addrs("saddr", cr.saddr), _addrs("daddr", cr.daddr)
    if len(sources) * len(dests) * len(single) <= SET_THRESHOLD:
        return [_NftRule(name, s + d + m, verdict) for m in single for s in sources for d in dests]
    addr = _addr("saddr", cr.saddr) + _addr("daddr", cr.daddr)
    return [_NftRule(name, addr + m, verdict) for m in grouped]


def _l4(proto: str, values: list[str]) -> str:
    return f"meta l4proto {proto} " if values == [""] else f"{proto} dport {_set(values)} "


def _of(ranges: tuple[PortRange, ...], proto: str) -> list[PortRange]:
    return [r for r in ranges if r.proto == proto]


def _port_values(ranges: list[PortRange]) -> list[str]:
    """Ports and ranges as nft writes them; [''] is the whole protocol, [] none of it."""
    if any((r.lo, r.hi) == (1, 65535) for r in ranges):
        return [""]
    return [str(r.lo) if r.lo == r.hi else f"{r.lo}-{r.hi}" for r in ranges]


def _addrs(field: str, nets: tuple[IPv4Net, ...] | None) -> list[str]:
    """One match per network ('' when the whole zone)."""
    return [_addr(field, (n,)) for n in nets] if nets else [""]


def _addr(field: str, nets: tuple[IPv4Net, ...] | None) -> str:
    if nets is None:
        return ""
    return (
        f"ip {field} {_set(str(n) if n.prefixlen < 32 else str(n.network_address) for n in nets)} "
    )


def _set(items: Any) -> str:
    values = list(items)
    return values[0] if len(values) == 1 else "{ " + ", ".join(values) + " }"


FIREWALL_RENDERERS[FirewallKind.nftables] = (".nft", render_nftables)
FIREWALL_RENDERERS[FirewallKind.vyos] = (".vyos", render_vyos)
