"""load: the reference loads; problems come back together, each with its line and a hint."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import REFERENCE
from twin.errors import InputError
from twin.plan.build import build_plan
from twin.policy.load import load_policy, parse_policy


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
        "p.yml:6: rules[0].to: unknown zone 'dbx'"
        " (hint: did you mean 'db'? zones are: web, db, or any)",
        "p.yml:6: rules[0].services[0]: port out of range in 'tcp/70000' (hint: ports are 1-65535)",
        "p.yml:7: rules[1].name: duplicate rule name 'r' (also rules[0])"
        " (hint: rule names are unique)",
    ]


def test_unknown_key_names_the_allowed_ones() -> None:
    text = "name: p\nzones:\n  web: {subnet: 10.1.0.0/24, hosts: [w1], vlan: 3}\n"
    assert problems(text) == [
        "p.yml:3: zones.web.vlan: unknown key 'vlan'"
        " (hint: allowed here: subnet, subnet6, hosts, gateway, gateway6, description, "
        "sensitive, segment)"
    ]


def test_injection_shaped_names_are_refused() -> None:
    text = 'name: p\nzones:\n  web: {subnet: 10.1.0.0/24, hosts: ["w1; rm -rf /"]}\n'
    (msg,) = problems(text)
    assert msg.startswith("p.yml:3: zones.web.hosts[0].name: host name 'w1; rm -rf /'")


# --- limits and the shape of YAML --------------------------------------------------------------

ONE_ZONE = "name: p\nzones:\n  web: {subnet: 10.1.0.0/24, hosts: [w1]}\n"


def test_the_value_limit_stops_the_parser_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted while composing (before any walking): a huge flat list stops at the limit."""
    monkeypatch.setattr("twin.policy.source.MAX_NODES", 1000)
    assert problems(ONE_ZONE + "description: [" + "0, " * 5000 + "0]\n") == [
        "p.yml:4: too big: more than 1000 values (hint: split the policy)"
    ]


def test_groups_of_groups_cost_what_they_contain() -> None:
    """Each level names the next one three times: 3^25 expansions without memoisation."""
    levels = 25
    text = ONE_ZONE + "services:\n"
    text += "".join(f"  s{i}: [s{i + 1}, s{i + 1}, s{i + 1}]\n" for i in range(levels))
    text += f"  s{levels}: [tcp/80, udp/53]\naddresses:\n"
    text += "".join(f"  a{i}: [a{i + 1}, a{i + 1}, a{i + 1}]\n" for i in range(levels))
    text += f"  a{levels}: [10.9.0.0/16]\n"
    text += (
        "rules:\n  - {name: r, from: web, to: web, source: [a0], services: [s0], action: allow}\n"
    )
    start = time.monotonic()
    plan = build_plan(parse_policy(text, "p.yml"))
    assert time.monotonic() - start < 2
    (rule, *_defaults) = plan.rules
    assert [str(s) for s in rule.services or ()] == ["tcp/80", "udp/53"]
    assert [str(n) for n in rule.sources or ()] == ["10.9.0.0/16"]


def test_keys_are_taken_as_written() -> None:
    """YAML 1.1 reads `no:` as false and `1:` as an int; a key is a name: `no` stays `no`."""
    text = "name: p\nzones:\n  no: {subnet: 10.1.0.0/24, hosts: [w1]}\n"
    text += "  on: {subnet: 10.2.0.0/24, hosts: [w2]}\n"
    assert list(parse_policy(text, "p.yml").zones) == ["no", "on"]


def test_merge_keys_and_aliases_still_work() -> None:
    text = """name: p
base: &base {subnet: 10.1.0.0/24}
zones:
  web: {<<: *base, hosts: [w1]}
"""
    assert problems(text) == [
        "p.yml:2: base: unknown key 'base' (hint: allowed here: name, description, firewall, "
        "defaults, zones, addresses, services, rules, expect)"
    ]
    fine = "name: p\nzones:\n  web: &w {subnet: 10.1.0.0/24, hosts: [w1]}\n"
    fine += "rules:\n  - &r {name: r1, from: web, to: web, action: allow}\n"
    fine += "  - &m {<<: *r, name: r2, action: deny}\n"
    fine += "expect:\n  - {from: w1, to: web, service: tcp/80, verdict: block, name: *m}\n"
    policy_problems = problems(fine)  # the merged mapping, walked again through *m
    assert policy_problems == ["p.yml:8: expect[0].name: must be text, not a mapping"]
    fine = fine.split("expect:")[0]
    assert [(r.name, r.action) for r in parse_policy(fine, "p.yml").rules] == [
        ("r1", "allow"),
        ("r2", "deny"),
    ]
    twice = fine + "  - {<<: *r, name: r3, name: r4}\n"
    assert problems(twice) == [
        "p.yml:7: rules[2].name: duplicate key (hint: remove one (the other is on line 7))"
    ]


def test_a_big_file_reports_the_same_lines_as_a_small_one() -> None:
    """Files past 64 KiB are parsed by libyaml when they are sound YAML; the lines of the
    policy problems found afterwards must still be the file's own."""
    rules = "".join(
        f"  - {{name: r{i}, from: web, to: web, services: [tcp/{1000 + i}], action: allow}}\n"
        for i in range(2000)
    )
    text = (
        ONE_ZONE + "rules:\n" + rules + "  - {name: bad, from: web, to: nowhere, action: allow}\n"
    )
    assert len(text) > 64 * 1024
    line = text.count("\n")
    assert problems(text) == [
        f"p.yml:{line}: rules[2000].to: unknown zone 'nowhere' (hint: zones are: web, or any)"
    ]


def test_a_file_name_with_a_newline_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a\nb.yml"
    path.write_text(ONE_ZONE)
    with pytest.raises(InputError) as exc:
        load_policy(path)
    (problem,) = exc.value.problems
    assert str(problem).endswith("a\\nb.yml: file name has control characters (hint: rename it)")
