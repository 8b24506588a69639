"""nftables, twin's own firewall: the plan as one `inet twin` table (dispatch by zone pair, a
counter and the rule's name on every rule, NFLOG on every rule), loaded in one `nft -f`
transaction, read back over netlink (hash, counters) and compared with what was loaded."""

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
from twin.plan.plan import ChainRule, Plan
from twin.policy.model import ANTI_SPOOFING, CT_INVALID, Action, FirewallKind
from twin.policy.resolve import IPv4Net, PortRange, range_text

TABLE = (
    "twin"  # `table inet twin`: twin's own, never `flush ruleset` (Docker's rules live there too)
)
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


def render_nftables(t: TemplateSet, plan: Plan, source: str) -> str:
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
        Nftables.template,
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
    return [range_text(r.lo, r.hi) for r in ranges]


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


class Nftables(Firewall):
    kind: ClassVar[FirewallKind] = FirewallKind.nftables
    suffix: ClassVar[str] = ".nft"
    template: ClassVar[str] = "nftables/ruleset.nft.j2"
    nflog_attribution: ClassVar[bool] = True
    rehearsal: ClassVar[bool] = True
    netmiko_type: ClassVar[str] = "linux"

    def start(self, file: str) -> tuple[str, ...]:
        return (f"nft -f {file}",)

    def render(self, t: TemplateSet, plan: Plan, source: str) -> str:
        return render_nftables(t, plan, source)

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
            tamper.save_loaded(node.lab_dir, tamper.fingerprint(snap.table))

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

        return tamper.describe(tamper.read_loaded(node.lab_dir), snap.table, rule_text)

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
