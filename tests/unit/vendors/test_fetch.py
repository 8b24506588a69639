"""`twin import --device`: the netmiko command flow and its errors, against a hand-written fake
device (no PAN-OS or FortiGate exists here); netmiko's own exception classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException
from typer.testing import CliRunner

from twin.cli import app
from twin.errors import EnvironmentProblem, UsageError
from twin.vendors import fetch

DATA = Path(__file__).resolve().parents[2] / "data" / "vendors"


class FakeDevice:
    """Records what it is sent; answers `show` commands with a stored configuration."""

    def __init__(self, config: str, fail_on: str | None = None, error: Exception | None = None):
        self.config = config
        self.fail_on = fail_on
        self.error = error
        self.sent: list[str] = []
        self.params: dict[str, Any] = {}
        self.closed = False

    def connect(self, **params: Any) -> FakeDevice:
        self.params = params
        if self.fail_on == "connect" and self.error is not None:
            raise self.error
        return self

    def send_command(self, command_string: str, **kwargs: Any) -> str:
        self.sent.append(command_string)
        if self.fail_on == command_string and self.error is not None:
            raise self.error
        return self.config if command_string.startswith("show") else ""

    def disconnect(self) -> None:
        self.closed = True


def test_panos_command_flow() -> None:
    dev = FakeDevice((DATA / "panos-set.txt").read_text())
    target = fetch.Target("paloalto_panos", "fw1", "admin", password="pw")
    text = fetch.pull(target, dev.connect)
    assert dev.sent == [
        "set cli pager off",
        "set cli config-output-format set",
        "show config running",
    ]
    assert dev.params["device_type"] == "paloalto_panos" and dev.params["password"] == "pw"
    assert text.startswith("# PAN-OS 10.2") and dev.closed


def test_fortinet_command_flow_with_key() -> None:
    dev = FakeDevice((DATA / "fortigate-backup.conf").read_text())
    target = fetch.Target("fortinet", "fgt", "admin", key_file="/k")
    fetch.pull(target, dev.connect)
    assert dev.sent == ["show full-configuration"]
    assert dev.params["use_keys"] is True and "password" not in dev.params


@pytest.mark.parametrize(
    ("fail_on", "error", "words"),
    [
        (
            "connect",
            NetmikoAuthenticationException("Authentication to device failed."),
            "authentication failed",
        ),
        ("connect", NetmikoTimeoutException("TCP connection to device failed."), "timed out"),
        ("connect", ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        ("connect", OSError(113, "No route to host"), "unreachable"),
        ("show config running", NetmikoTimeoutException("Pattern not detected"), "timed out"),
    ],
)
def test_errors_are_one_clear_line(fail_on: str, error: Exception, words: str) -> None:
    dev = FakeDevice("", fail_on, error)
    with pytest.raises(EnvironmentProblem) as exc:
        fetch.pull(fetch.Target("paloalto_panos", "fw1", "admin", password="x"), dev.connect)
    message = str(exc.value)
    assert message.startswith("admin@fw1:22: ") and words in message and "\n" not in message
    assert dev.closed or fail_on == "connect"


def test_empty_configuration_and_missing_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EnvironmentProblem, match="empty configuration"):
        fetch.pull(fetch.Target("fortinet", "fgt", "a", password="x"), FakeDevice("").connect)
    monkeypatch.delenv(fetch.PASSWORD_ENV, raising=False)
    with pytest.raises(UsageError, match="TWIN_DEVICE_PASSWORD"):
        fetch.pull(fetch.Target("fortinet", "fgt", "a"), FakeDevice("x").connect)


def test_real_netmiko_against_a_closed_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """netmiko itself, to the loopback where nothing listens: refused, one line, exit 3."""
    monkeypatch.setenv(fetch.PASSWORD_ENV, "x")
    result = CliRunner().invoke(
        app,
        ["import", "--device", "fortinet", "--host", "127.0.0.1", "--port", "9", "--user", "a"],
    )
    assert result.exit_code == 3, result.output
    assert "127.0.0.1:9" in result.output
