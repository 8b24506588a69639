"""Machine-wide kernel limits a big twin meets, checked before anything is built.

The ARP/neighbour table is shared by every network namespace and capped by the machine's own
`net.ipv4.neigh.default.gc_thresh*`; past ~500 hosts a twin needs more. twin never changes a
host setting silently: it stops and says what to run, or raises the limit when asked to
(`twin up --tune-host`) and says what it changed.
"""

from __future__ import annotations

from pathlib import Path

from twin.errors import EnvironmentProblem
from twin.plan.plan import Plan

NEIGH = {4: Path("/proc/sys/net/ipv4/neigh/default"), 6: Path("/proc/sys/net/ipv6/neigh/default")}
STAT = {4: Path("/proc/net/stat/arp_cache"), 6: Path("/proc/net/stat/ndisc_cache")}
KEY = {4: "net.ipv4.neigh.default", 6: "net.ipv6.neigh.default"}


def neighbour_need(plan: Plan, family: int = 4) -> int:
    """Entries this twin adds in one family's table: the firewall learns every host, every host
    its gateway, and intrazone probes add a few peers per zone."""
    hosts = sum(1 for h in plan.hosts if family in h.families)
    zones = sum(1 for z in plan.zones if family in z.families)
    return 2 * hosts + 4 * zones + 16 if hosts else 0


def _read(family: int, name: str) -> int:
    return int((NEIGH[family] / name).read_text())


def entries_now(family: int = 4) -> int:
    """Neighbour entries in use machine-wide (all namespaces share the table)."""
    try:
        line = STAT[family].read_text().splitlines()[1]
    except (OSError, IndexError):
        return 0
    return int(line.split()[0], 16)


def check_neighbour_table(plan: Plan, tune: bool = False) -> str:
    """Raise EnvironmentProblem when the twin would overflow a family's table (IPv4's ARP,
    IPv6's neighbour discovery: one each); with `tune`, raise the limits instead and return
    what was changed (to tell the user). '' when nothing to do."""
    done = [_check(plan, tune, f) for f in (4, 6) if neighbour_need(plan, f)]
    return "; ".join(d for d in done if d)


def _check(plan: Plan, tune: bool, family: int) -> str:
    try:
        soft, hard = _read(family, "gc_thresh2"), _read(family, "gc_thresh3")
    except OSError:
        return ""
    mine = neighbour_need(plan, family)
    need = entries_now(family) + mine
    if mine <= soft and need <= hard:  # other labs' entries come and go; the hard cap drops
        return ""
    new = {"gc_thresh1": need, "gc_thresh2": 2 * need, "gc_thresh3": 4 * need}
    command = "sysctl -w " + " ".join(f"{KEY[family]}.{k}={v}" for k, v in new.items())
    if not tune:
        raise EnvironmentProblem(
            f"lab {plan.lab} has {len(plan.hosts)} hosts: the machine's IPv{family} neighbour "
            f"table (shared by all namespaces) needs ~{need} entries but gc_thresh2={soft}, "
            f"gc_thresh3={hard}; run `{command}` or `twin up --tune-host` to let twin do it"
        )
    old = {k: _read(family, k) for k in new}
    for key in ("gc_thresh3", "gc_thresh2", "gc_thresh1"):
        (NEIGH[family] / key).write_text(str(max(new[key], old[key])))
    restore = " ".join(f"{KEY[family]}.{k}={v}" for k, v in old.items())
    return (
        f"raised the machine's neighbour table limits ({command}); to restore: sysctl -w {restore}"
    )
