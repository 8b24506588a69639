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

NEIGH = Path("/proc/sys/net/ipv4/neigh/default")
ARP_STAT = Path("/proc/net/stat/arp_cache")


def neighbour_need(plan: Plan) -> int:
    """Entries this twin adds: the firewall learns every host, every host its gateway, and
    intrazone probes add a few peers per zone."""
    return 2 * len(plan.hosts) + 4 * len(plan.zones) + 16


def _read(name: str) -> int:
    return int((NEIGH / name).read_text())


def entries_now() -> int:
    """Neighbour entries in use machine-wide (all namespaces share the table)."""
    try:
        line = ARP_STAT.read_text().splitlines()[1]
    except (OSError, IndexError):
        return 0
    return int(line.split()[0], 16)


def check_neighbour_table(plan: Plan, tune: bool = False) -> str:
    """Raise EnvironmentProblem when the twin would overflow the table; with `tune`, raise the
    limits instead and return what was changed (to tell the user). '' when nothing to do."""
    try:
        soft, hard = _read("gc_thresh2"), _read("gc_thresh3")
    except OSError:
        return ""
    mine = neighbour_need(plan)
    need = entries_now() + mine
    if mine <= soft and need <= hard:  # other labs' entries come and go; the hard cap drops
        return ""
    new = {"gc_thresh1": need, "gc_thresh2": 2 * need, "gc_thresh3": 4 * need}
    command = "sysctl -w " + " ".join(f"net.ipv4.neigh.default.{k}={v}" for k, v in new.items())
    if not tune:
        raise EnvironmentProblem(
            f"lab {plan.lab} has {len(plan.hosts)} hosts: the machine's neighbour table (shared by "
            f"all namespaces) needs ~{need} entries but gc_thresh2={soft}, gc_thresh3={hard}; "
            f"run `{command}` or `twin up --tune-host` to let twin do it"
        )
    old = {k: _read(k) for k in new}
    for key in ("gc_thresh3", "gc_thresh2", "gc_thresh1"):
        (NEIGH / key).write_text(str(max(new[key], old[key])))
    restore = " ".join(f"net.ipv4.neigh.default.{k}={v}" for k, v in old.items())
    return (
        f"raised the machine's neighbour table limits ({command}); to restore: sysctl -w {restore}"
    )
