"""Pull a running configuration from a PAN-OS or FortiGate device over SSH with netmiko.

The command flow is what an engineer types: PAN-OS switches the CLI to `set` output (and no
pager) then `show config running`; FortiGate `show full-configuration`. Failures become one
clear line: authentication refused, timed out, unreachable. The password comes from the
environment ($TWIN_DEVICE_PASSWORD), never from the command line (it would show in `ps`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from twin.errors import EnvironmentProblem, UsageError

VENDOR_OF = {"paloalto_panos": "panos", "fortinet": "fortigate"}
PASSWORD_ENV = "TWIN_DEVICE_PASSWORD"

# The commands each device type is sent, in order; the last one's output is the configuration.
COMMANDS: dict[str, tuple[str, ...]] = {
    "paloalto_panos": (
        "set cli pager off",
        "set cli config-output-format set",
        "show config running",
    ),
    "fortinet": ("show full-configuration",),
}


@dataclass(frozen=True)
class Target:
    device_type: str
    host: str
    username: str
    password: str | None = None
    port: int = 22
    key_file: str | None = None
    timeout: float = 20.0


class Connection(Protocol):
    def send_command(self, command_string: str, **kwargs: Any) -> Any: ...

    def disconnect(self) -> None: ...


Connect = Callable[..., Connection]


def pull(target: Target, connect: Connect | None = None) -> str:
    """The device's running configuration as text."""
    if target.device_type not in COMMANDS:
        raise UsageError(
            f"unknown device type {target.device_type!r}; use one of {', '.join(COMMANDS)}"
        )
    password = target.password or os.environ.get(PASSWORD_ENV)
    if password is None and target.key_file is None:
        raise UsageError(f"no credentials: set ${PASSWORD_ENV} or pass --key-file")
    params: dict[str, Any] = {
        "device_type": target.device_type,
        "host": target.host,
        "username": target.username,
        "port": target.port,
        "conn_timeout": target.timeout,
        "auth_timeout": target.timeout,
        "banner_timeout": target.timeout,
    }
    if password is not None:
        params["password"] = password
    if target.key_file is not None:
        params.update(use_keys=True, key_file=target.key_file)
    where = f"{target.username}@{target.host}:{target.port}"
    conn = _connect(connect, params, where)
    try:
        output = ""
        for command in COMMANDS[target.device_type]:
            output = str(conn.send_command(command, read_timeout=max(target.timeout, 60.0)))
    except Exception as exc:  # noqa: BLE001 - netmiko/paramiko raise many kinds; one line out
        raise EnvironmentProblem(f"{where}: {_describe(exc)}") from None
    finally:
        conn.disconnect()
    if not output.strip():
        raise EnvironmentProblem(f"{where}: the device returned an empty configuration")
    return output if output.endswith("\n") else output + "\n"


def _connect(connect: Connect | None, params: dict[str, Any], where: str) -> Connection:
    factory = connect or _netmiko()
    try:
        return factory(**params)
    except Exception as exc:  # noqa: BLE001 - see _describe
        raise EnvironmentProblem(f"{where}: {_describe(exc)}") from None


def _netmiko() -> Connect:
    try:
        # netmiko (and paramiko) take about a second to import: only commands that use it pay
        from netmiko import ConnectHandler  # noqa: PLC0415
    except ImportError:
        raise EnvironmentProblem("netmiko is not installed (make setup)") from None
    return ConnectHandler  # type: ignore[return-value]


def _describe(exc: BaseException) -> str:
    """netmiko's exception → what went wrong, in words, with what to check."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if "Authentication" in name or "authentication" in text.lower():
        return "authentication failed (check --user, $TWIN_DEVICE_PASSWORD or --key-file)"
    if "Timeout" in name or isinstance(exc, TimeoutError) or "timed out" in text.lower():
        return f"timed out ({text}); is the address right and SSH allowed from here?"
    if isinstance(exc, ConnectionRefusedError) or "refused" in text.lower():
        return "connection refused: nothing listens for SSH on that port"
    if isinstance(exc, OSError) or "unreachable" in text.lower() or "resolve" in text.lower():
        return f"unreachable ({text})"
    return f"{name}: {text}"
