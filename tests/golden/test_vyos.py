"""VyOS 1.4 zone-based configuration: golden files, one per case (`--update-golden` rewrites)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import DUALSTACK, REFERENCE, assert_golden
from twin.pipeline import prepare

HERE = Path(__file__).resolve().parent / "vyos"


def _reference(data: dict[str, Any]) -> None:
    data["firewall"] = {"kind": "vyos", "name": "fw", "image": "vyos:1.4"}


def _mixed(data: dict[str, Any]) -> None:
    """Address groups, tcp+udp services, ranges, intrazone deny, reject default."""
    _reference(data)
    data["defaults"] = {"interzone": "reject", "intrazone": "deny"}
    data["addresses"] = {"jumps": ["jump1", "mon1"], "dbs": ["192.168.30.0/25"]}
    data["services"]["dns"] = ["udp/53", "tcp/53"]
    data["services"]["high"] = ["tcp/8000-8100", "udp/5000"]
    data["rules"][0:0] = [
        {"name": "dns-from-jumps", "from": "management", "to": "db", "source": ["jumps"],
         "destination": ["dbs", "db2"], "services": ["dns"], "action": "allow"},
        {"name": "high-ports", "from": "dev", "to": "app", "services": ["high", "icmp"],
         "action": "allow", "log": True},
        {"name": "web-peers", "from": "web", "to": "web", "services": ["ssh"], "action": "allow"},
    ]  # fmt: skip


CASES: dict[str, Callable[[dict[str, Any]], None]] = {
    "reference": _reference,
    "mixed": _mixed,
    "dualstack": _reference,  # the dual-stack reference: ipv4 and ipv6 rule-sets per zone pair
}
SOURCES = {"dualstack": DUALSTACK}


@pytest.mark.parametrize("case", sorted(CASES))
def test_vyos_config(case: str, tmp_path: Path, update_golden: bool) -> None:
    data = yaml.safe_load(SOURCES.get(case, REFERENCE).read_text())
    CASES[case](data)
    policy = tmp_path / "policy.yml"
    policy.write_text(yaml.safe_dump(data, sort_keys=False))
    files = prepare(policy).files
    text = files["configs/fw.vyos"].replace(str(policy), "policy.yml")
    assert_golden(HERE / f"{case}.vyos", text, update_golden)
    topo = yaml.safe_load(files["topology.clab.yml"])["topology"]["nodes"]
    assert topo["fw"]["image"] == "vyos:1.4" and topo["fw"]["cmd"] == "/sbin/init"
    assert "exec" not in topo["fw"]
    assert topo["web1"]["image"].startswith("twin-node:")


def test_every_rule_is_described_by_its_policy_name() -> None:
    data = yaml.safe_load(REFERENCE.read_text())
    _reference(data)
    path = HERE.parent / "vyos-reference.yml"
    try:
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        text = prepare(path).files["configs/fw.vyos"]
    finally:
        path.unlink()
    for rule in data["rules"]:
        assert f"description '{rule['name']}'" in text
    assert "set firewall zone finance from web firewall name web-to-finance" in text
    assert "set firewall ipv4 name web-to-finance rule 10 action 'reject'" in text


def test_ipv6_rules_go_to_ipv6_rule_sets() -> None:
    """A rule on IPv6 addresses lands in the `-6` rule-set only, one on IPv4 addresses in the
    IPv4 one only, a zone rule in both; zones take each family's rule-set."""
    data = yaml.safe_load(DUALSTACK.read_text())
    _reference(data)
    path = HERE.parent / "vyos-dualstack.yml"
    try:
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        text = prepare(path).files["configs/fw.vyos"]
    finally:
        path.unlink()
    assert "set firewall ipv6 name management-to-db-6 rule 20 protocol 'ipv6-icmp'" in text
    assert "set firewall ipv6 name management-to-db-6 rule 20 source address 'fd00:40::12'" in text
    assert "set firewall ipv4 name app-to-db rule 20 source address '192.168.20.0/24'" in text
    assert "app-to-db-6 rule 20" not in text  # the IPv4-only backup rule
    assert "set firewall zone db from app firewall ipv6-name app-to-db-6" in text
    assert "set firewall zone db from app firewall name app-to-db" in text
    assert "set interfaces bridge br3 address 'fd00:30::1/64'" in text
