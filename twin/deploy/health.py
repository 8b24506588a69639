"""A verdict is only as good as the twin's health: check it before and after every run.

Checked from inside each node's namespace (no subprocess per node): the node exists, its
interfaces are up with their addresses (IPv6 ones too, from /proc/net/if_inet6), the hosts'
default routes (each family) point at the firewall, the
firewall still holds the ruleset twin loaded, and every responder answers on its own host.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from dataclasses import dataclass, field

from traffic.netns import Namespaces, entered, in_thread
from traffic.prober import OPEN, Probe
from twin.deploy import census
from twin.deploy.configure import firewall_snapshot, ruleset_change, send_probes
from twin.deploy.enforcement import described
from twin.deploy.enforcement import problems as node_problems
from twin.deploy.responders import responder_alive
from twin.firewalls.base import Snapshot
from twin.firewalls.table import firewall_of
from twin.lab.state import LabState
from twin.plan.plan import Plan
from twin.runtime.base import Runtime

SIOCGIFFLAGS, SIOCGIFADDR, SIOCGIFNETMASK = 0x8913, 0x8915, 0x891B
IFF_UP, IFF_RUNNING = 0x1, 0x40


@dataclass
class Health:
    problems: list[str] = field(default_factory=list)  # the twin cannot be trusted: exit 3
    warnings: list[str] = field(default_factory=list)  # worth saying; results still stand
    snapshot: Snapshot | None = None  # the firewall's table as read by the check
    checks: list[str] = field(default_factory=list)  # what was looked at, for the report
    generations: dict[str, int] = field(default_factory=dict)  # node → nftables generation

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok, "checks": self.checks, "problems": self.problems,
            "warnings": self.warnings,
        }  # fmt: skip

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Iface:
    up: bool
    address: str  # "a.b.c.d/len" or ""
    addresses6: frozenset[str] = frozenset()  # "x:y::z/len", link-local ones left out


def check_health(
    runtime: Runtime,
    state: LabState,
    plan: Plan,
    responders: bool = True,
    snapshot: Snapshot | bool | None = True,
    *,
    since: dict[str, int] | None = None,
) -> Health:
    """`snapshot`: the firewall's table if the caller already read it (None: it is gone);
    True: read it here; False: do not look at the ruleset. `since`: the nftables generations
    of the check before a run (a ruleset changed and changed back during it is a problem)."""
    health = Health()
    nodes = runtime.status(state)
    gone = [n for n in plan.nodes if nodes.get(n) != "running"]
    for n in gone:
        role = "firewall" if n == plan.firewall else "host"
        health.problems.append(f"{role} node {n} is {nodes.get(n, 'missing')}")
    if gone:
        return health
    health.checks.append(f"{len(plan.nodes)} nodes running")
    seen = _interfaces(runtime, state, plan)
    for z in plan.zones:
        if z.subnet is not None:
            _expect(health, seen, plan.firewall, z.bridge, f"{z.gateway}/{z.subnet.prefixlen}")
        if z.subnet6 is not None:
            _expect6(health, seen, plan.firewall, z.bridge, f"{z.gateway6}/{z.subnet6.prefixlen}")
        for port in z.ports:
            _expect(health, seen, plan.firewall, port, "")
    for h in plan.hosts:
        if h.address is not None:
            _expect(health, seen, h.name, h.interface, f"{h.address}/{h.prefixlen}")
        if h.address6 is not None:
            _expect6(health, seen, h.name, h.interface, f"{h.address6}/{h.prefixlen6}")
        gw = seen.get((h.name, "default-gw"))
        for want, have in ((h.gateway, gw.address if gw else ""), (h.gateway6, _one(gw))):
            if gw is not None and want is not None and have != str(want):
                health.problems.append(
                    f"host {h.name}: default route via {have or 'nothing'}, not the firewall "
                    f"({want})"
                )
    ifaces = len(plan.zones) + sum(len(z.ports) for z in plan.zones) + len(plan.hosts)
    health.checks.append(f"{ifaces} interfaces up, with their planned addresses")
    health.checks.append(f"{len(plan.hosts)} hosts' default routes via the firewall")
    if plan.flat_zones and _bridge_nf_on(runtime, state, plan):
        health.problems.append(
            "firewall: net.bridge.bridge-nf-call-iptables is 1 (br_netfilter loaded after "
            "twin up?): frames between hosts of a flat zone go through the forward chain; "
            "`twin down` and `twin up` set it to 0"
        )
    elif plan.flat_zones:
        health.checks.append("flat zones bridged without the firewall (bridge-nf-call-iptables 0)")
    if snapshot is False:
        return health
    snap = firewall_snapshot(runtime, state, plan) if snapshot is True else snapshot
    health.snapshot = snap if isinstance(snap, Snapshot) else None
    loaded = health.snapshot.sha256 if health.snapshot else ""
    if state.ruleset_sha256 and not loaded:
        health.problems.append(
            "the firewall holds no twin ruleset (table inet twin is gone): it enforces nothing"
        )
    elif state.ruleset_sha256 and health.snapshot and loaded != state.ruleset_sha256:
        snap = health.snapshot
        if snap.nodes:  # enforcement on the hosts: node by node
            central = snap.nodes.get(plan.firewall)

            def central_change() -> str:
                return ruleset_change(runtime, state, plan, central) if central else ""

            health.problems.extend(node_problems(runtime, state, plan, snap, central_change))
        else:
            change = ruleset_change(runtime, state, plan, snap)
            health.problems.append(
                f"the firewall's ruleset is not the one twin loaded (changed by hand?): {change}"
            )
    if state.ruleset_sha256:
        health.checks.append(described(plan, state.ruleset_sha256))
    _count_netfilter(runtime, state, plan, health, since)
    if responders:
        _check_responders(runtime, state, plan, health)
    return health


def _count_netfilter(
    runtime: Runtime, state: LabState, plan: Plan, health: Health, since: dict[str, int] | None
) -> None:
    """No netfilter table twin did not load, in the firewall or any host; no change made and
    undone since the last look."""
    whole = firewall_of(plan.firewall_kind).whole_netfilter
    ruleset_ok = health.ok
    counted = census.judge(runtime, state, plan, whole=whole, ruleset_ok=ruleset_ok, since=since)
    health.problems.extend(counted.problems)
    health.warnings.extend(counted.warnings)
    health.generations = counted.generations
    where = "the firewall and " if whole else ""
    health.checks.append(f"no other netfilter table in {where}the {len(plan.hosts)} hosts")


def _expect(
    health: Health, seen: dict[tuple[str, str], Iface], node: str, name: str, address: str
) -> None:
    iface = seen.get((node, name))
    if iface is None:
        health.problems.append(f"node {node}: interface {name} is missing")
    elif not iface.up:
        health.problems.append(f"node {node}: interface {name} is down (no carrier)")
    elif address and iface.address != address:
        health.problems.append(
            f"node {node}: {name} has address {iface.address or 'none'}, expected {address}"
        )


def _expect6(
    health: Health, seen: dict[tuple[str, str], Iface], node: str, name: str, address: str
) -> None:
    iface = seen.get((node, name))
    if iface is not None and address not in iface.addresses6:
        have = ", ".join(sorted(iface.addresses6)) or "none"
        health.problems.append(f"node {node}: {name} has IPv6 {have}, expected {address}")


def _one(gw: Iface | None) -> str:
    return next(iter(gw.addresses6), "") if gw is not None else ""


def _interfaces(runtime: Runtime, state: LabState, plan: Plan) -> dict[tuple[str, str], Iface]:
    """(node, interface) → state, read in one thread that enters each namespace in turn."""
    wanted: dict[str, list[str]] = {
        plan.firewall: [n for z in plan.zones for n in (z.bridge, *z.ports)],
        **{h.name: [h.interface] for h in plan.hosts},
    }
    paths = {node: runtime.netns(state, node) for node in wanted}
    out: dict[tuple[str, str], Iface] = {}
    dual = plan.dual_stack

    def work() -> None:
        ns = Namespaces()
        try:
            for node, names in wanted.items():
                try:
                    ns.enter(paths[node])
                except OSError:
                    continue
                v6 = _addresses6() if dual else {}
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    for name in names:
                        found = _iface(s, name)
                        if found is not None:
                            out[(node, name)] = Iface(found.up, found.address, v6.get(name, _NONE))
                if node != plan.firewall:
                    gw6 = _default_gateway6() if dual else ""
                    out[(node, "default-gw")] = Iface(
                        True, _default_gateway(), frozenset({gw6} if gw6 else ())
                    )
        finally:
            ns.close()

    in_thread(work, "twin-health")
    return out


def _bridge_nf_on(runtime: Runtime, state: LabState, plan: Plan) -> bool:
    """Does br_netfilter hand bridged frames to the IP hooks in the firewall's namespace?"""
    path = runtime.netns(state, plan.firewall)

    def read() -> bool:
        try:
            with entered(path), open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
                return f.read().strip() == "1"
        except FileNotFoundError:  # br_netfilter not loaded: bridged frames stay bridged
            return False

    return in_thread(read, "twin-health")


def _iface(s: socket.socket, name: str) -> Iface | None:
    req = struct.pack("16s16x", name.encode())
    try:
        flags = struct.unpack_from("H", fcntl.ioctl(s, SIOCGIFFLAGS, req), 16)[0]
    except OSError:
        return None
    up = bool(flags & IFF_UP) and bool(flags & IFF_RUNNING)
    try:
        addr = socket.inet_ntoa(fcntl.ioctl(s, SIOCGIFADDR, req)[20:24])
        mask = socket.inet_ntoa(fcntl.ioctl(s, SIOCGIFNETMASK, req)[20:24])
    except OSError:
        return Iface(up, "")
    prefix = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
    return Iface(up, f"{addr}/{prefix}")


_NONE: frozenset[str] = frozenset()


def _addresses6() -> dict[str, frozenset[str]]:
    """interface → its IPv6 addresses ("x::y/len", not link-local), in the calling thread's
    namespace."""
    found: dict[str, set[str]] = {}
    try:
        with open("/proc/thread-self/net/if_inet6") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:  # IPv6 off in this namespace
        return {}
    for line in lines:
        fields = line.split()
        if len(fields) == 6 and fields[3] != "20":  # scope 0x20: link-local
            addr = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
            found.setdefault(fields[5], set()).add(f"{addr}/{int(fields[2], 16)}")
    return {name: frozenset(addrs) for name, addrs in found.items()}


def _default_gateway6() -> str:
    """The IPv6 default route's gateway in the calling thread's namespace ('' if none)."""
    try:
        with open("/proc/thread-self/net/ipv6_route") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return ""
    for line in lines:
        fields = line.split()
        if len(fields) == 10 and fields[0] == "0" * 32 and fields[1] == "00":
            gw = fields[4]
            if gw != "0" * 32:
                return str(ipaddress.IPv6Address(bytes.fromhex(gw)))
    return ""


def _default_gateway() -> str:
    """The default route's gateway in the calling thread's namespace ('' if none)."""
    with open("/proc/thread-self/net/route") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 2 and fields[1] == "00000000":
                return socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
    return ""


def _check_responders(runtime: Runtime, state: LabState, plan: Plan, health: Health) -> None:
    """Each host's responder answers a TCP and a UDP probe sent from the host to itself."""
    if not responder_alive(state):
        health.problems.append(
            "the responder process is not running (allowed flows would look closed)"
        )
        return
    spec = state.responder_ports
    tcp, udp = spec.get("tcp", []), spec.get("udp", [])
    probes = []
    for h in plan.hosts:
        path = runtime.netns(state, h.name)
        for addr in map(str, h.addresses):
            probes += [Probe(path, addr, addr, "tcp", p) for p in tcp[:1]]
            probes += [Probe(path, addr, addr, "udp", p) for p in udp[:1]]
    subnets = plan.lab_subnets
    health.checks.append(f"responders answer ({len(probes)} probes, each host to itself)")
    silent = [
        f"{p.proto}/{p.port} on {p.dst}"
        for p, out in zip(probes, send_probes(probes, subnets, 0.5), strict=True)
        if out.verdict != OPEN
    ]
    if silent:
        more = f" and {len(silent) - 3} more" if len(silent) > 3 else ""
        health.problems.append(f"responders silent: {', '.join(silent[:3])}{more}")
