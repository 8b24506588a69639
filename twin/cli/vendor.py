"""Vendor commands: import a PAN-OS / FortiGate policy, export a twin policy to a vendor."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated

import typer
import yaml

from twin.cli.common import err, handle_errors, human, out
from twin.cli.options import Policy, is_stdout, one_stdout
from twin.errors import InputError, Problem
from twin.files import check_output, read_regular, write_output
from twin.vendors import fetch, registry
from twin.vendors.translate.build import build_policy, lab_name

VENDORS = ("panos", "fortigate", "asa")
TARGETS = "panos|panos-xml|fortigate|vyos|nftables"


@handle_errors
def import_cmd(
    vendor: Annotated[
        str | None,
        typer.Argument(metavar="VENDOR", help="panos | fortigate | asa", show_default=False),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="FILE", help="Running config (XML, set, or text).", show_default=False
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", metavar="PATH", help="Policy file to write (default: stdout)."
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", metavar="NAME", help="Lab name (default: file name).")
    ] = None,
    zone_subnets: Annotated[
        str | None,
        typer.Option(
            "--zone-subnets",
            metavar="ZONE=CIDR,…|FILE",
            help="ZONE=CIDR,… or a YAML file mapping zone → subnet (overrides interfaces).",
        ),
    ] = None,
    vsys: Annotated[
        str | None,
        typer.Option(
            "--vsys", "--vdom", metavar="NAME", help="PAN-OS vsys / device group, FortiGate VDOM."
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            "--device",
            metavar="paloalto_panos|fortinet",
            help="Pull the configuration over SSH instead of reading FILE.",
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", metavar="HOST", help="Device address (with --device).")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", metavar="USER", help="SSH user (with --device).")
    ] = None,
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", help="SSH port (with --device).")
    ] = 22,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", metavar="PATH", help="SSH private key (with --device)."),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            metavar="PATH",
            help="Write the import report (JSON) to PATH (default: beside -o; - for stdout).",
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Exit 1 when a rule is skipped or approximated (for CI)."),
    ] = False,
    no_intent: Annotated[
        bool,
        typer.Option(
            "--no-intent", help="Write no derived intent (one sample flow per imported rule)."
        ),
    ] = False,
) -> None:
    """Import a PAN-OS, FortiGate or Cisco ASA/FTD policy as a twin policy file, with a report.

    The password for --device comes from $TWIN_DEVICE_PASSWORD (never a command-line option)."""
    one_stdout(output=output or Path("-"), report=report)  # no -o: the policy is on stdout
    for option, path in (("--output", output), ("--report", report)):
        if path is not None:
            check_output(path, option)
    if device is not None:
        text, source = _pull(device, host, user, port, key_file)
        vendor = vendor or fetch.VENDOR_OF[device]
    else:
        if vendor is None or file is None:
            raise InputError(
                [
                    Problem(
                        "<command line>",
                        None,
                        "",
                        "give VENDOR and FILE",
                        "twin import panos running-config.xml -o prod.yml",
                    )
                ]
            )
        text, source = _read(file), str(file)
    if vendor not in VENDORS:
        raise InputError(
            [
                Problem(
                    "<command line>",
                    None,
                    "",
                    f"unknown vendor {vendor!r}",
                    f"one of {', '.join(VENDORS)}",
                )
            ]
        )
    dev = registry.parse(vendor, text, source, vsys)
    subnets = _zone_subnets(zone_subnets)
    lab = name or lab_name(Path(source).stem if device is None else (host or "device"))
    imported = build_policy(dev, lab, subnets, intent=not no_intent)
    body = imported.to_yaml()
    if output is None:
        out.print(body, markup=False, end="")
    else:
        write_output(output, body)
    rep_path = report
    if rep_path is None and output is not None and not is_stdout(output):
        rep_path = output.with_name(output.stem + ".import-report.json")
    if rep_path is not None:
        write_output(rep_path, json.dumps(imported.report.as_data(), indent=1) + "\n")
    sink = err if output is None or is_stdout(output) else out
    for note in imported.report.notes:
        sink.print(f"  {note}", markup=False)
    where = f" → {output}" if output else ""
    sink.print(f"imported {source}{where}: {imported.report.summary()}", markup=False)
    if rep_path is not None:
        sink.print(f"report: {rep_path}", markup=False)
    inexact = imported.report.strict_failures()
    if strict and inexact:
        err.print(
            f"--strict: {len(inexact)} rules are not imported exactly: "
            + ", ".join(f"{r.name!r} ({r.outcome.value}, {r.direction})" for r in inexact[:5])
            + (" …" if len(inexact) > 5 else ""),
            markup=False,
        )
        raise typer.Exit(1)


@handle_errors
def export_cmd(
    target: Annotated[str, typer.Argument(metavar="TARGET", help=TARGETS)],
    file: Policy,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", metavar="PATH", help="Write here (default: stdout)."),
    ] = None,
    rules_only: Annotated[
        bool,
        typer.Option(
            "--rules-only",
            help="Objects and rules only: no hostname, interface or zone that would overwrite "
            "a device's own (panos, panos-xml, fortigate).",
        ),
    ] = False,
) -> None:
    """Export a twin policy as vendor configuration: what was tested is what you apply."""
    if output is not None:
        check_output(output, "--output")
    text = registry.export(target, file, rules_only)
    if output is None:
        out.print(text, markup=False, end="", soft_wrap=True)
    else:
        write_output(output, text)
        human(output).print(f"exported {file} as {target} → {output}", markup=False)


MAX_CONFIG_BYTES = 256 * 1024 * 1024  # the biggest firewall exports seen are tens of MB


def _read(file: Path) -> str:
    raw = read_regular(file, MAX_CONFIG_BYTES)  # a regular file, read with a bound
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            [Problem(str(file), line, "", "not UTF-8 text", "save it as UTF-8")]
        ) from None


def _zone_subnets(spec: str | None) -> dict[str, ipaddress.IPv4Network]:
    if not spec:
        return {}
    where = "--zone-subnets"
    if "=" in spec:
        pairs = dict(p.split("=", 1) for p in spec.split(",") if p.strip())
    else:
        where = spec
        data = yaml.safe_load(_read(Path(spec)))
        if not isinstance(data, dict):
            raise InputError(
                [Problem(spec, 1, "", "must be a mapping zone: subnet", "dmz: 172.16.5.0/24")]
            )
        pairs = {str(k): str(v) for k, v in data.items()}
    try:
        return {k.strip(): ipaddress.IPv4Network(v.strip()) for k, v in pairs.items()}
    except ValueError as exc:
        raise InputError(
            [Problem(where, None, "", f"bad subnet: {exc}", "write ZONE=10.0.1.0/24")]
        ) from None


def _pull(
    device: str, host: str | None, user: str | None, port: int, key_file: Path | None
) -> tuple[str, str]:
    if device not in fetch.VENDOR_OF:
        raise InputError(
            [
                Problem(
                    "<command line>",
                    None,
                    "--device",
                    f"unknown device type {device!r}",
                    f"one of {', '.join(fetch.VENDOR_OF)}",
                )
            ]
        )
    if not host or not user:
        raise InputError(
            [Problem("<command line>", None, "--device", "needs --host and --user", "")]
        )
    target = fetch.Target(
        device, host, user, port=port, key_file=str(key_file) if key_file else None
    )
    return fetch.pull(target), f"{device}://{host}"
