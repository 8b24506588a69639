"""VyOS 1.4 (sagitta): render the plan as a zone-based firewall, apply it to a running VyOS node.

Rendering is pure: one zone per policy zone (a bridge `brN` of its hosts' ports), one named
rule-set per ordered zone pair and address family (`<from>-to-<to>` under `firewall ipv4`,
`<from>-to-<to>-6` under `firewall ipv6`), rules in policy order numbered 10, 20, …,
each described by the policy rule's name; addresses as network groups, services as protocol
and destination ports; the interzone default as each rule-set's `default-action`, the
intrazone default as `intra-zone-filtering`.

VyOS needs a user-provided image (`--image` / `TWIN_FIREWALL_IMAGE`): there is none to pull
here. It boots `/sbin/init` and writes its own sysctls and nftables: the one node twin runs
privileged, and only with this firewall kind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from twin.errors import EnvironmentProblem
from twin.firewalls.base import Firewall, FirewallNode, NodeExec, SendFile, TemplateSet
from twin.plan.plan import ChainRule, Plan, ZonePlan
from twin.policy.model import Action, FirewallKind
from twin.policy.resolve import IPNet, PortRange, range_text

VYOS_ACTION = {Action.allow: "accept", Action.deny: "drop", Action.reject: "reject"}
# zone default-action and intra-zone-filtering take only these two
ZONE_ACTION = {Action.allow: "accept", Action.deny: "drop", Action.reject: "reject"}
INTRA_ACTION = {Action.allow: "accept", Action.deny: "drop", Action.reject: "drop"}
BOOT_TIMEOUT = 300.0


@dataclass
class _Rule:
    number: int
    action: str
    description: str
    log: bool
    matches: list[str]


@dataclass
class _RuleSet:
    name: str
    description: str
    default_action: str
    rules: list[_Rule] = field(default_factory=list)
    family: str = "ipv4"  # the `set firewall <family> name` it lives under


@dataclass
class _Group:
    name: str
    networks: list[str]
    kind: str = "network-group"  # ipv6-network-group for IPv6 networks


FAMILY = {4: "ipv4", 6: "ipv6"}


def ruleset_name(src: str, dst: str) -> str:
    return f"{src}-to-{dst}"


def render_vyos(t: TemplateSet, plan: Plan, source: str) -> str:
    default = next(r for r in plan.rules if r.scope == "interzone")
    intra = next(r for r in plan.rules if r.scope == "intrazone")
    groups: list[_Group] = []
    rulesets: list[_RuleSet] = []
    zones = []
    for dst in plan.zones:
        sources = []
        intra_rulesets = []
        for src in plan.zones:
            chain = next(
                (c for c in plan.chains if (c.src_zone, c.dst_zone) == (src.name, dst.name)),
                None,
            )
            if src.name == dst.name and chain is None:
                continue  # the intrazone default: intra-zone-filtering action
            for family in (f for f in src.families if f in dst.families):
                name = ruleset_name(src.name, dst.name) + ("-6" if family == 6 else "")
                fallback = intra if src.name == dst.name else default
                rs = _RuleSet(name, f"{src.name} to {dst.name}", VYOS_ACTION[fallback.action])
                rs.family = FAMILY[family]
                for cr in chain.rules if chain else ():
                    if not cr.rule.default:
                        rs.rules.extend(_rules(cr, rs, len(rs.rules), groups, family))
                rulesets.append(rs)
                kind = "name" if family == 4 else "ipv6-name"
                if src.name == dst.name:
                    intra_rulesets.append({"kind": kind, "ruleset": name})
                else:
                    sources.append({"zone": src.name, "kind": kind, "ruleset": name})
        zones.append(
            {
                "name": dst.name,
                "subnet": ", ".join(str(n) for n in dst.nets),
                "bridge": f"br{dst.index}",
                "addresses": _addresses(dst),
                "ports": dst.ports,
                "default_action": ZONE_ACTION[default.action]
                if default.action is not Action.allow
                else "drop",
                "intra_action": INTRA_ACTION[intra.action],
                "intra_rulesets": intra_rulesets,
                "sources": sources,
            }
        )
    return t.render(
        Vyos.template,
        lab=plan.lab,
        source=source,
        zones=zones,
        groups=groups,
        rulesets=rulesets,
    )


def _rules(
    cr: ChainRule, rs: _RuleSet, done: int, groups: list[_Group], family: int = 4
) -> list[_Rule]:
    """One policy rule in one zone pair and family → VyOS rules (one per protocol it names);
    none when its addresses on a side are all of the other family."""
    base: list[str] = []
    number = 10 * (done + 1)
    kind = "network-group" if family == 4 else "ipv6-network-group"
    for side, short, all_nets in (("source", "src", cr.saddr), ("destination", "dst", cr.daddr)):
        if all_nets is None:
            continue
        nets = [n for n in all_nets if n.version == family]
        if not nets:
            return []
        if len(nets) == 1:
            base.append(f"{side} address '{_net(nets[0])}'")
        else:
            group = _Group(f"{rs.name}-{number}-{short}", [_net(n) for n in nets], kind)
            groups.append(group)
            base.append(f"{side} group {kind} '{group.name}'")
    protos: list[list[str]] = []
    if cr.any_proto:
        protos.append([])
    for proto, ports in _by_protocol(cr.ports).items():
        protos.append([f"protocol '{proto}'", *([f"destination port '{ports}'"] if ports else [])])
    if cr.icmp and family == 4:
        protos.append(["protocol 'icmp'"])
    if cr.icmp6 and family == 6:
        protos.append(["protocol 'ipv6-icmp'"])
    out = []
    for i, proto_match in enumerate(protos):
        out.append(
            _Rule(
                number + i,
                VYOS_ACTION[cr.rule.action],
                cr.rule.name,
                cr.rule.log or cr.rule.action is not Action.allow,
                [*base, *proto_match],
            )
        )
    return out


def _by_protocol(ranges: tuple[PortRange, ...]) -> dict[str, str]:
    """tcp/udp ranges → {protocol: "22,80-90"} ("" = every port); tcp_udp when both match."""
    by: dict[str, list[str]] = {}
    for r in ranges:
        whole = (r.lo, r.hi) == (1, 65535)
        by.setdefault(r.proto, []).append("" if whole else range_text(r.lo, r.hi))
    ports = {p: "" if "" in v else ",".join(v) for p, v in by.items()}
    if ports.keys() == {"tcp", "udp"} and ports["tcp"] == ports["udp"]:
        return {"tcp_udp": ports["tcp"]}
    return ports


def _addresses(z: ZonePlan) -> list[str]:
    """The gateway address of each family the zone has, with its prefix length."""
    out = [f"{z.gateway}/{z.subnet.prefixlen}"] if z.subnet is not None else []
    return out + ([f"{z.gateway6}/{z.subnet6.prefixlen}"] if z.subnet6 is not None else [])


def _net(n: IPNet) -> str:
    return str(n.network_address) if n.num_addresses == 1 else str(n)


# --- apply -------------------------------------------------------------------------------------


def configuration_script(config: str) -> str:
    """A vbash script that enters configuration mode, sets every line and commits."""
    lines = [ln for ln in config.splitlines() if ln.startswith("set ")]
    return "\n".join(
        [
            "source /opt/vyatta/etc/functions/script-template",
            "configure",
            *lines,
            "commit",
            "exit",
            "",
        ]
    )


def apply_vyos(run: NodeExec, node: str, config: str) -> None:
    """Wait for VyOS to finish booting, then apply and commit the configuration."""
    wait_booted(run, node)
    script = configuration_script(config)
    argv = ["sg", "vyattacfg", "-c", "/bin/vbash -s"]
    res = run(argv, stdin=script)
    if not res.ok or "Commit failed" in res.stdout:
        detail = res.said or str(res.returncode)
        raise EnvironmentProblem(f"VyOS on node {node} refused the configuration: {detail}")


def wait_booted(run: NodeExec, node: str, timeout: float = BOOT_TIMEOUT) -> None:
    """VyOS's init (systemd) has started every unit, its configuration daemon included."""
    deadline = time.monotonic() + timeout
    while True:
        res = run(["systemctl", "is-system-running"])
        if res.stdout.strip() in ("running", "degraded"):
            return
        if time.monotonic() > deadline:
            raise EnvironmentProblem(
                f"VyOS on node {node} did not finish booting within {timeout:.0f} s "
                f"(systemd says {res.stdout.strip() or res.stderr.strip() or 'nothing'})"
            )
        time.sleep(2)


class Vyos(Firewall):
    kind: ClassVar[FirewallKind] = FirewallKind.vyos
    suffix: ClassVar[str] = ".vyos"
    template: ClassVar[str] = "vyos/firewall.vyos.j2"
    # VyOS boots its own init (systemd), which mounts, writes sysctls and loads its nftables from
    # inside: it does not run unprivileged. Only this node, only with this firewall kind.
    own_init: ClassVar[bool] = True
    privileged: ClassVar[bool] = True
    binds: ClassVar[tuple[str, ...]] = ("/lib/modules:/lib/modules:ro",)
    netmiko_type: ClassVar[str] = "vyos"

    def bridge(self, zone: str, index: int) -> str:
        return f"br{index}"  # VyOS names its bridges brN

    def render(self, t: TemplateSet, plan: Plan, source: str) -> str:
        return render_vyos(t, plan, source)

    def apply(self, node: FirewallNode, config: str) -> None:
        apply_vyos(node.run, node.name, config)

    def push_ssh(self, conn: Any, config: str, send_file: SendFile) -> tuple[str, ...]:
        """Configuration mode, every `set`/`delete` line, commit, save."""
        commands = [c for c in config.splitlines() if c.startswith(("set ", "delete "))]
        conn.send_config_set(commands, exit_config_mode=False)
        conn.commit()
        conn.save_config()
        return ("configure", *commands, "commit", "save")
