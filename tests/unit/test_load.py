"""load: the reference loads; problems come back together, each with its line and a hint."""

from __future__ import annotations

import pytest

from tests.conftest import REFERENCE
from twin.errors import InputError
from twin.load import load_policy, parse_policy


def test_reference_loads() -> None:
    p = load_policy(REFERENCE)
    assert p.name == "zt6" and list(p.zones)[:2] == ["web", "app"]
    assert len(p.rules) == 6 and len(p.expect) >= 5


def problems(text: str) -> list[str]:
    with pytest.raises(InputError) as exc:
        parse_policy(text, "p.yml")
    return [str(p) for p in exc.value.problems]


def test_all_problems_at_once_with_lines() -> None:
    text = """name: p
zones:
  web: {subnet: 10.1.0.0/24, hosts: [w1]}
  db: {subnet: 10.1.0.128/25, hosts: [w1]}
rules:
  - {name: r, from: web, to: dbx, action: allow, services: [tcp/70000]}
  - {name: r, from: web, to: db, action: allow}
"""
    assert problems(text) == [
        "p.yml:4: zones.db.subnet: 10.1.0.128/25 overlaps zone 'web' (10.1.0.0/24)"
        " (hint: give every zone its own subnet)",
        "p.yml:4: zones.db.hosts[0].name: duplicate host 'w1' (also in zone 'web')"
        " (hint: host names are unique across zones)",
        "p.yml:6: rules[0].to: unknown zone 'dbx' (hint: zones are: web, db, or any)",
        "p.yml:6: rules[0].services[0]: port out of range in 'tcp/70000' (hint: ports are 1-65535)",
        "p.yml:7: rules[1].name: duplicate rule name 'r' (also rules[0])"
        " (hint: rule names are unique)",
    ]


def test_unknown_key_names_the_allowed_ones() -> None:
    text = "name: p\nzones:\n  web: {subnet: 10.1.0.0/24, hosts: [w1], vlan: 3}\n"
    assert problems(text) == [
        "p.yml:3: zones.web.vlan: unknown key 'vlan'"
        " (hint: allowed here: subnet, hosts, gateway, description)"
    ]


def test_injection_shaped_names_are_refused() -> None:
    text = 'name: p\nzones:\n  web: {subnet: 10.1.0.0/24, hosts: ["w1; rm -rf /"]}\n'
    (msg,) = problems(text)
    assert msg.startswith("p.yml:3: zones.web.hosts[0].name: host name 'w1; rm -rf /'")
