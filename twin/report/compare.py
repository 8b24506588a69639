"""`twin compare`: the policy against a flat baseline, as data (JSON-ready) and as tables.

`compare_data` computes everything; `print_compare` only prints it. Every figure is a pair,
baseline → policy (see `twin.analysis.compare` for what the baselines and figures mean).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from twin.analysis.blast import Blast
from twin.analysis.compare import BASELINES, baseline_reach, catalogue, exposure
from twin.analysis.reach import Reach
from twin.report.blast import COUNTED, foothold_data, path_text, summaries
from twin.report.walk import print_live_summary


def compare_data(
    reach: Reach, file: str, baseline: str, via: str = "any", foothold: str | None = None
) -> dict[str, Any]:
    policy = Blast(reach, via)
    base = Blast(baseline_reach(reach.plan, baseline), via)
    services = catalogue(reach.plan, policy)
    before, after = exposure(base, services), exposure(policy, services)
    zones_before, _ = summaries(base)
    zones_after, _ = summaries(policy)
    data: dict[str, Any] = {
        "file": file,
        "lab": reach.plan.lab,
        "baseline": baseline,
        "baseline_means": BASELINES[baseline],
        "via": via,
        "counted": COUNTED[via],
        "services": after.services,
        "crown_jewels": [j.name for j in policy.jewels],
        "totals": {
            key: {"baseline": getattr(before, key), "policy": getattr(after, key)}
            for key in ("host_pairs", "host_services")
        },
        "zones": [
            {
                "zone": a["zone"],
                "hosts": a["hosts"],
                "reached": {"baseline": b["reached"], "policy": a["reached"]},
                "zones_reached": {"baseline": b["zones_reached"], "policy": a["zones_reached"]},
                "jewels": {
                    name: {"baseline": b["jewels"][name], "policy": a["jewels"][name]}
                    for name in a["jewels"]
                },
            }
            for a, b in zip(zones_after, zones_before, strict=True)
        ],
    }
    if foothold is not None:
        data["foothold"] = {
            "baseline": foothold_data(base, foothold),
            "policy": foothold_data(policy, foothold),
        }
    return data


def _cut(before: int, after: int) -> str:
    if before == 0:
        return "—"
    return f"{(before - after) / before:.0%}"


def _hops(path: list[dict[str, Any]] | None) -> str:
    if path is None:
        return "—"
    return "inside" if not path else str(len(path))


def print_compare(console: Console, data: dict[str, Any]) -> None:
    base = data["baseline"]
    console.print(
        f"{data['file']} (lab {data['lab']}) against the {base} baseline "
        f"({data['baseline_means']}); counting {data['counted']}, "
        f"{data['services']} services (those the policy names and the lateral-movement ports)",
        markup=False,
    )
    totals = Table(title=f"one hop: {base} → policy")
    for col in ("", base, "policy", "removed"):
        totals.add_column(col, justify="left" if not col else "right")
    for key, label in (
        ("host_pairs", "host pairs that can talk"),
        ("host_services", "reachable host-services (source → host:service)"),
    ):
        was, now = data["totals"][key]["baseline"], data["totals"][key]["policy"]
        totals.add_row(label, str(was), str(now), _cut(was, now))
    console.print(totals)
    jewels = data["crown_jewels"]
    table = Table(
        title="per foothold zone (all its hosts compromised): hosts reached at the fixed point "
        f"and hops to each crown jewel, {base} → policy"
    )
    for col in ("foothold", "hosts", "reached", *(f"→ {j}" for j in jewels)):
        table.add_column(col, justify="left" if col == "foothold" else "right")
    for z in data["zones"]:
        r = z["reached"]
        table.add_row(
            z["zone"],
            str(z["hosts"]),
            f"{r['baseline']} → {r['policy']}",
            *(
                f"{_hops(z['jewels'][j]['baseline'])} → {_hops(z['jewels'][j]['policy'])}"
                for j in jewels
            ),
        )
    console.print(table)
    if "foothold" in data:
        _print_foothold(console, data["foothold"], base)
    if "live" in data:
        _print_live(console, data)


def _print_live(console: Console, data: dict[str, Any]) -> None:
    live, base = data["live"], data["baseline"]
    print_live_summary(console, f"policy on lab {live['policy']['lab']}", live["policy"])
    print_live_summary(
        console, f"{base} baseline deployed as lab {live['baseline']['lab']}", live["baseline"]
    )
    pairs = zip(live["baseline"]["footholds"], live["policy"]["footholds"], strict=True)
    console.print(
        "hosts reached live per foothold, "
        + f"{base} → policy: "
        + ", ".join(f"{b['from']} {b['reached']} → {p['reached']}" for b, p in pairs),
        markup=False,
    )


def _print_foothold(console: Console, f: dict[str, Any], base: str) -> None:
    before, after = f["baseline"], f["policy"]
    kept = {r["host"] for r in after["reached"]}
    console.print(
        f"foothold {after['from']}: reaches {len(before['reached'])} hosts on the {base} "
        f"baseline, {len(after['reached'])} under the policy",
        markup=False,
    )
    spared = [r["host"] for r in before["reached"] if r["host"] not in kept]
    if spared:
        console.print(f"  out of reach now: {', '.join(spared)}", markup=False)
    for name, hops in after["jewels"].items():
        was = before["jewels"][name]
        console.print(
            f"  crown jewel {name}: {base}: "
            + ("unreachable" if was is None else path_text(was))
            + "; policy: "
            + ("unreachable" if hops is None else path_text(hops)),
            markup=False,
        )
