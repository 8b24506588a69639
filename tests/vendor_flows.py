"""Hand-checked flows of real configurations (tests/data/vendor-corpus/flows/*.yml) as intent.

`imported_with_flows(path)` imports the corpus file the list names (with its zone subnets),
puts a host on every address the list uses and adds one `expect:` line per flow (beside the
derived ones), so the same policy is checked statically and on a live twin.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from twin.policy.load import validate_policy
from twin.policy.model import Policy
from twin.vendors.registry import parse
from twin.vendors.translate.build import build_policy

CORPUS = Path(__file__).resolve().parent / "data" / "vendor-corpus"
FLOWS = CORPUS / "flows"


@dataclass(frozen=True)
class Flow:
    src: str
    dst: str
    service: str
    verdict: str
    why: str


def flow_files() -> list[Path]:
    return sorted(FLOWS.glob("*.yml"))


def load_flows(path: Path) -> tuple[dict[str, Any], list[Flow]]:
    spec = yaml.safe_load(path.read_text())
    return spec, [Flow(*(str(x) for x in row)) for row in spec["flows"]]


def imported_with_flows(path: Path, lab: str) -> tuple[Policy, list[Flow]]:
    spec, flows = load_flows(path)
    source = CORPUS / spec["file"]
    subnets = {
        str(k): ipaddress.IPv4Network(v) for k, v in (spec.get("zone_subnets") or {}).items()
    }
    dev = parse(source.parent.name, source.read_text(errors="replace"), spec["file"])
    data = build_policy(dev, lab, subnets).data
    names = {}
    for f in flows:
        for ip in (f.src, f.dst):
            names[ip] = _host(data, ip)
    data.setdefault("expect", [])
    for i, f in enumerate(flows):
        data["expect"].append(
            {
                "name": f"hand.{i}",
                "from": names[f.src],
                "to": names[f.dst],
                "service": f.service,
                "verdict": f.verdict,
            }
        )
    return validate_policy(data, {}, spec["file"]), flows


def _host(data: dict[str, Any], ip: str) -> str:
    addr = ipaddress.IPv4Address(ip)
    for zone in data["zones"].values():
        if addr not in ipaddress.IPv4Network(zone["subnet"]):
            continue
        for h in zone["hosts"]:
            if ipaddress.IPv4Address(h["address"]) == addr:
                return str(h["name"])
        name = "f-" + ip.replace(".", "-")
        zone["hosts"].append({"name": name, "address": ip})
        return name
    raise AssertionError(f"{ip} is in no zone of the imported policy: {list(data['zones'])}")
