"""Broken vendor input: one line naming file and line with a hint, exit 2. Only the CLI prints."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from twin.cli import app

DATA = Path(__file__).resolve().parents[2] / "data" / "vendors"

CASES = {
    "broken.xml": ("panos", "<config><devices>\n<entry name='x'>\n</devices>", ":3: not valid XML"),
    "bad-set.txt": ("panos", 'set address "web ip-netmask 1.2.3.4\n', ":1: cannot read this set"),
    "noend.conf": (
        "fortigate",
        "config firewall policy\n    edit 1\n        set action accept\n    next\n",
        ":1: config 'firewall policy' has no 'end'",
    ),
    "no-zones.conf": (
        "fortigate",
        "config firewall policy\n edit 1\n  set srcaddr all\n next\nend\n",
        ": no zones in this file: its 1 rules are all any → any",
    ),
    "no-policy.conf": (
        "fortigate",
        "config system interface\n edit port1\n  set ip 10.0.0.1 255.255.255.0\n next\nend\n",
        ": no security policy in this file",
    ),
    "wrong-vendor.txt": (
        "panos",
        "config firewall policy\n edit 1\n  set action accept\n next\nend\n",
        ": this is a FortiGate configuration, not PAN-OS (hint: twin import fortigate",
    ),
    "unclosed-quote.conf": (
        "fortigate",
        'config firewall policy\n edit 1\n  set comments "never closed\n next\nend\n',
        ":3: a quoted value starts here and is never closed",
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_vendor_file(name: str, tmp_path: Path) -> None:
    vendor, body, expected = CASES[name]
    path = tmp_path / name
    path.write_text(body)
    result = CliRunner().invoke(app, ["import", vendor, str(path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {path}") and expected in lines[0], lines[0]
    assert "Traceback" not in result.output


def test_unknown_vendor_and_target(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["import", "cisco", str(DATA / "panos-set.txt")])
    assert result.exit_code == 2 and "unknown vendor 'cisco'" in result.output
    result = CliRunner().invoke(app, ["export", "juniper", str(DATA / "mixed-policy.yml")])
    assert result.exit_code == 2 and "unknown export target 'juniper'" in result.output


def test_import_writes_a_valid_policy_and_report(tmp_path: Path) -> None:
    out = tmp_path / "prod.yml"
    result = CliRunner().invoke(
        app,
        ["import", "panos", str(DATA / "panos-running.xml"), "-o", str(out),
         "--zone-subnets", "Guest WiFi=10.99.0.0/24"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "13 PAN-OS rules read → 9 twin rules, 4 exact, 3 approximated, 4 skipped" in (
        result.output
    )
    assert (tmp_path / "prod.import-report.json").exists()
    check = CliRunner().invoke(app, ["validate", str(out)])
    assert check.exit_code == 0, check.output
    assert "10.99.0.0/24" in out.read_text()


def test_a_broken_reference_skips_its_rule_and_the_import_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "dangling.txt"
    path.write_text(
        "set zone a network layer3 e1\nset rulebase security rules r1 from a\n"
        "set rulebase security rules r1 to a\nset rulebase security rules r1 source nowhere\n"
        "set rulebase security rules r1 action allow\n"
    )
    result = CliRunner().invoke(app, ["import", "panos", str(path)])
    assert result.exit_code == 0, result.output
    assert "skipped: line 2: rule 'r1': unknown address 'nowhere'" in result.output
    assert "[could block more]" in result.output


def test_strict_exits_1_when_a_rule_is_not_exact(tmp_path: Path) -> None:
    args = ["import", "panos", str(DATA / "panos-running.xml"), "-o", str(tmp_path / "p.yml")]
    assert CliRunner().invoke(app, args).exit_code == 0
    result = CliRunner().invoke(app, [*args, "--strict"])
    assert result.exit_code == 1, result.output
    assert "--strict: 7 rules are not imported exactly" in result.output
    exact = tmp_path / "exact.txt"
    exact.write_text(
        "set zone a network layer3 e1\nset zone b network layer3 e2\n"
        "set rulebase security rules r1 from a\nset rulebase security rules r1 to b\n"
        "set rulebase security rules r1 service service-https\n"
    )
    result = CliRunner().invoke(app, ["import", "panos", str(exact), "--strict"])
    assert result.exit_code == 0, result.output


def test_lines_fortios_would_refuse_are_ignored_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "script.conf"
    path.write_text(
        "config firewall policy\n edit 1\n  set srcintf a\n  set dstintf b\n"
        "  set srcaddr all\n  set dstaddr all\n  cost 10\n next\n next\n"
        " edit 2\n  set srcintf b\n  set dstintf a\n  set srcaddr all\n  set dstaddr all\n"
        " next\n edit 3\n next\n delete 3\n move 2 before 1\nend\n"
    )
    result = CliRunner().invoke(
        app, ["import", "fortigate", str(path), "-o", str(tmp_path / "o.yml")]
    )
    assert result.exit_code == 0, result.output
    assert "line 7: syntax: 'cost 10' is not FortiOS configuration syntax: ignored" in result.output
    assert "line 9: syntax: 'next' without 'edit': ignored" in result.output
    assert "2 FortiGate rules read" in result.output
    rules = yaml.safe_load((tmp_path / "o.yml").read_text())["rules"]
    assert [r["name"] for r in rules] == ["policy-2", "policy-1"]


def test_no_intent_writes_no_expect_lines(tmp_path: Path) -> None:
    out = tmp_path / "p.yml"
    args = ["import", "panos", str(DATA / "panorama.xml"), "-o", str(out)]
    assert CliRunner().invoke(app, [*args, "--no-intent"]).exit_code == 0
    assert "expect" not in yaml.safe_load(out.read_text())
    assert CliRunner().invoke(app, args).exit_code == 0
    assert all(e["derived"] for e in yaml.safe_load(out.read_text())["expect"])
