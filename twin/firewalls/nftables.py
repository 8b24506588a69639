"""nftables, twin's own firewall: the plan as one `inet twin` table (dispatch by zone pair, a
counter and the rule's name on every rule, NFLOG on every rule), loaded in one `nft -f`
transaction, read back over netlink (hash, counters) and compared with what was loaded.

One rule base for both address families: a policy rule without addresses matches both;
addresses of one family make it that family's (`ip saddr` / `ip6 saddr`), and a rule with
addresses of both becomes one nft rule per family. icmp is IPv4's echo (`meta l4proto icmp`),
icmpv6 IPv6's (`meta l4proto ipv6-icmp`)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from traffic.netns import in_thread
from traffic.nftdump import Missing, read_table
from twin.errors import EnvironmentProblem, last_line
from twin.firewalls import tamper
from twin.firewalls.base import Firewall, FirewallNode, SendFile, Snapshot, TemplateSet, check
from twin.plan.agent import IN, OUT, agent_plan, enforced_centrally
from twin.plan.plan import ChainRule, Plan
from twin.policy.model import ANTI_SPOOFING, CT_INVALID, Action, FirewallKind
from twin.policy.resolve import IPNet, PortRange, range_text

TABLE = (
    "twin"  # `table inet twin`: twin's own, never `flush ruleset` (Docker's rules live there too)
)
HOST_TEMPLATE = "nftables/host.nft.j2"  # a host's own rules (enforcement: host|both)
ROUTER_TEMPLATE = "nftables/router.nft.j2"  # the central node when the hosts enforce alone
NFT_VERDICT = {
    Action.allow: "accept",
    Action.deny: "drop",
    Action.reject: "reject with icmpx admin-prohibited",
}


@dataclass(frozen=True)
class _NftRule:
    name: str
    match: str  # nft match expressions, ending in a space when not empty
    verdict: str


def render_nftables(t: TemplateSet, plan: Plan, source: str, *, exact: bool = True) -> str:
    """`exact`: anti-spoofing lets through the planned host addresses only (the twin: an
    address a host adds itself is not the policy's); else each zone's whole subnets (an export
    for a device whose zones hold more hosts than the policy lists)."""
    if exact and not enforced_centrally(plan):  # the twin's hosts enforce alone
        return t.render(ROUTER_TEMPLATE, lab=plan.lab, source=source)
    bridge = {z.name: z.bridge for z in plan.zones}
    if exact:
        sources = [(bridge[h.zone], str(a)) for h in plan.hosts for a in h.addresses]
    else:
        sources = [(z.bridge, str(n)) for z in plan.zones for n in z.nets]
    sources4 = [(b, a) for b, a in sources if ":" not in a]
    sources6 = [(b, a) for b, a in sources if ":" in a]
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
        Nftables.template,
        lab=plan.lab,
        source=source,
        group=plan.nflog_group,
        zones=plan.zones,
        exact=exact,
        sources4=sources4,
        sources6=sources6,
        anti_spoofing=ANTI_SPOOFING,
        ct_invalid=CT_INVALID,
        dispatch=dispatch,
        defaults=defaults,
        chains=chains,
    )


def render_host_nftables(t: TemplateSet, plan: Plan, host: str, source: str) -> str:
    """One host's own table: output and input chains dispatching on the other end's zone to
    that pair's rules (as the host is given them: `twin.plan.agent`), the same defaults; per
    address family, the host's own address is the only source it may send from."""
    agent = agent_plan(plan, host)
    own = [c for c in (*agent.outbound, *agent.inbound) if not c.shared]
    families = sorted({n.version for z in plan.zones for n in z.nets})
    return t.render(
        HOST_TEMPLATE,
        lab=plan.lab,
        source=source,
        host=agent.host,
        group=plan.nflog_group,
        anti_spoofing=ANTI_SPOOFING,
        ct_invalid=CT_INVALID,
        families=[
            {
                "ip": "ip" if f == 4 else "ip6",
                "nfproto": f"ipv{f}",
                "address": next((str(a) for a in agent.host.addresses if a.version == f), ""),
                "gateways": [str(g) for g in agent.gateways if g.version == f],
                "out": agent.dispatch(OUT, f),
                "in": agent.dispatch(IN, f),
            }
            for f in families
        ],
        ipv6=6 in families,
        defaults=[_NftRule(r.name, "", NFT_VERDICT[r.action]) for r in plan.rules if r.default],
        chains=[
            {"name": c.name, "rules": [line for cr in c.rules for line in _nft_rules(cr)]}
            for c in own
        ],
    )


SET_THRESHOLD = 8  # up to this many nft rules for one policy rule; past it, anonymous sets


def _nft_rules(cr: ChainRule) -> list[_NftRule]:
    """One policy rule in one chain → its nft rule(s), all carrying the rule's name (counters
    and log records add up per name). A few values become one nft rule each: an anonymous set
    costs the kernel ~1 ms to create (10,000 rules: 9.5 s to load with sets, 1 s without).
    Past SET_THRESHOLD rules, each list becomes one set, one nft rule per protocol."""
    verdict, name = NFT_VERDICT[cr.rule.action], cr.rule.name
    values = {p: _port_values(_of(cr.ports, p)) for p in ("tcp", "udp")}
    parts = []  # (family, sources, destinations, single matches, grouped matches)
    for family, saddr, daddr in _by_family(cr.saddr, cr.daddr):
        icmp = ["meta l4proto icmp "] if cr.icmp and family != 6 and not cr.any_proto else []
        if cr.icmp6 and family != 4 and not cr.any_proto:
            icmp.append("meta l4proto ipv6-icmp ")
        single = [_l4(p, [v]) for p in values for v in values[p]] + icmp
        grouped = [_l4(p, vs) for p, vs in values.items() if vs] + icmp
        if cr.any_proto:
            single = grouped = [""]
        parts.append((saddr, daddr, single, grouped))
    count = sum(len(_addrs("saddr", s)) * len(_addrs("daddr", d)) * len(m) for s, d, m, _ in parts)
    if count <= SET_THRESHOLD:
        return [
            _NftRule(name, s + d + m, verdict)
            for saddr, daddr, single, _ in parts
            for m in single
            for s in _addrs("saddr", saddr)
            for d in _addrs("daddr", daddr)
        ]
    return [
        _NftRule(name, _addr("saddr", saddr) + _addr("daddr", daddr) + m, verdict)
        for saddr, daddr, _, grouped in parts
        for m in grouped
    ]


Nets = tuple[IPNet, ...] | None


def _by_family(saddr: Nets, daddr: Nets) -> list[tuple[int | None, Nets, Nets]]:
    """The (family, sources, destinations) a rule's addresses split into: one family-free part
    when neither side names addresses, else one part per family both sides allow."""
    if saddr is None and daddr is None:
        return [(None, None, None)]
    out: list[tuple[int | None, Nets, Nets]] = []
    for family in (4, 6):
        s = None if saddr is None else tuple(n for n in saddr if n.version == family)
        d = None if daddr is None else tuple(n for n in daddr if n.version == family)
        if s != () and d != ():
            out.append((family, s, d))
    return out


def _l4(proto: str, values: list[str]) -> str:
    return f"meta l4proto {proto} " if values == [""] else f"{proto} dport {_set(values)} "


def _of(ranges: tuple[PortRange, ...], proto: str) -> list[PortRange]:
    return [r for r in ranges if r.proto == proto]


def _port_values(ranges: list[PortRange]) -> list[str]:
    """Ports and ranges as nft writes them; [''] is the whole protocol, [] none of it."""
    if any((r.lo, r.hi) == (1, 65535) for r in ranges):
        return [""]
    return [range_text(r.lo, r.hi) for r in ranges]


def _addrs(field: str, nets: tuple[IPNet, ...] | None) -> list[str]:
    """One match per network ('' when the whole zone)."""
    return [_addr(field, (n,)) for n in nets] if nets else [""]


def _addr(field: str, nets: tuple[IPNet, ...] | None) -> str:
    """`ip saddr …` or `ip6 saddr …` (the nets of one family)."""
    if nets is None:
        return ""
    family = "ip" if nets[0].version == 4 else "ip6"
    values = (str(n) if n.num_addresses > 1 else str(n.network_address) for n in nets)
    return f"{family} {field} {_set(values)} "


def _set(items: Any) -> str:
    values = list(items)
    return values[0] if len(values) == 1 else "{ " + ", ".join(values) + " }"


class Nftables(Firewall):
    kind: ClassVar[FirewallKind] = FirewallKind.nftables
    suffix: ClassVar[str] = ".nft"
    template: ClassVar[str] = "nftables/ruleset.nft.j2"
    nflog_attribution: ClassVar[bool] = True
    rehearsal: ClassVar[bool] = True
    host_enforcement: ClassVar[bool] = True
    whole_netfilter: ClassVar[bool] = True
    netmiko_type: ClassVar[str] = "linux"

    def start(self, file: str) -> tuple[str, ...]:
        return (f"nft -f {file}",)

    def render(self, t: TemplateSet, plan: Plan, source: str) -> str:
        return render_nftables(t, plan, source)

    def export(self, t: TemplateSet, plan: Plan, source: str) -> str:
        """Anti-spoofing by zone subnet: a device's zones hold more hosts than the policy
        lists (the twin lets the planned addresses through only)."""
        return render_nftables(t, plan, source, exact=False)

    def render_host(self, t: TemplateSet, plan: Plan, host: str, source: str) -> str:
        return render_host_nftables(t, plan, host, source)

    def apply(self, node: FirewallNode, config: str) -> None:
        """One `nft -f` transaction: the old table goes and the new one comes at once."""
        check(node.run(["nft", "-f", "-"], stdin=config), node.name, "nft -f")

    def snapshot(self, node: FirewallNode) -> Snapshot | None:
        """twin's table read over netlink from inside the firewall (milliseconds where `nft -j
        list` takes seconds at 10,000 rules); None when it is not there at all."""
        try:
            table = in_thread(lambda: read_table(TABLE, node.netns), "twin-nft")
        except Missing:
            return None
        except OSError as exc:
            raise EnvironmentProblem(
                f"reading the firewall's ruleset: {exc.strerror or exc}"
            ) from None
        counters: dict[str, int] = {}
        for rule in table.rules:
            if rule.comment:
                counters[rule.comment] = counters.get(rule.comment, 0) + rule.packets
        return Snapshot(tamper.table_sha256(table), counters, table)

    def remember(self, node: FirewallNode, snap: Snapshot) -> None:
        if snap.table is not None:
            host = node.name if node.host else ""
            tamper.save_loaded(node.lab_dir, tamper.fingerprint(snap.table), host)

    def describe_change(self, node: FirewallNode, snap: Snapshot) -> str:
        if snap.table is None:
            return "the table could not be read"
        listed: dict[str, dict[int, str]] = {}

        def rule_text(chain: str, handle: int) -> str:
            if chain not in listed:
                res = node.run(["nft", "-a", "-s", "list", "chain", "inet", TABLE, chain])
                listed[chain] = {}
                for line in res.stdout.splitlines() if res.ok else []:
                    text, sep, number = line.strip().rpartition(" # handle ")
                    if sep and number.isdigit():
                        listed[chain][int(number)] = text
            return listed[chain].get(handle, "?")

        loaded = tamper.read_loaded(node.lab_dir, node.name if node.host else "")
        return tamper.describe(loaded, snap.table, rule_text)

    def push_ssh(self, conn: Any, config: str, send_file: SendFile) -> tuple[str, ...]:
        """Copy the ruleset over (scp), load it with `nft -f`, remove the copy."""
        sent: list[str] = []
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "firewall.nft"
            local.write_text(config)
            remote = "twin-firewall.nft"
            send_file(local, remote)
            sent.append(f"scp firewall.nft /tmp/{remote}")
        for command in (f"nft -f /tmp/{remote} && echo twin-ok", f"rm -f /tmp/{remote}"):
            output = str(conn.send_command(command))
            sent.append(command)
            if command.startswith("nft") and "twin-ok" not in output:
                detail = last_line(output) or "no output"
                raise EnvironmentProblem(f"nft -f over ssh failed: {detail}")
        return tuple(sent)
