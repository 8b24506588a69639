"""Broken vendor input: one line naming file and line with a hint, exit 2. Only the CLI prints."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app

DATA = Path(__file__).resolve().parents[2] / "data" / "vendors"

CASES = {
    "broken.xml": ("panos", "<config><devices>\n<entry name='x'>\n</devices>", ":3: not valid XML"),
    "bad-set.txt": ("panos", 'set address "web ip-netmask 1.2.3.4\n', ":1: cannot read this set"),
    "dangling.txt": (
        "panos",
        "set zone a network layer3 e1\nset rulebase security rules r1 from a\n"
        "set rulebase security rules r1 to a\nset rulebase security rules r1 source nowhere\n"
        "set rulebase security rules r1 action allow\n",
        ":2: rule 'r1': unknown address 'nowhere'",
    ),
    "noend.conf": (
        "fortigate",
        "config firewall policy\n    edit 1\n        set action accept\n    next\n",
        ":1: config 'firewall policy' has no 'end'",
    ),
    "badword.conf": ("fortigate", "config firewall policy\nfrobnicate\nend\n", ":2: unknown word"),
    "bad-port.conf": (
        "fortigate",
        "config firewall service custom\n edit s\n  set tcp-portrange 99999\n next\nend\n"
        "config firewall policy\nend\n",
        ":2: service 's': bad port range",
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
    assert "13 PAN-OS rules → 9 twin rules" in result.output
    assert (tmp_path / "prod.import-report.json").exists()
    check = CliRunner().invoke(app, ["validate", str(out)])
    assert check.exit_code == 0, check.output
    assert "10.99.0.0/24" in out.read_text()
