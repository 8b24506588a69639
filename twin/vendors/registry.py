"""The two directions, dispatched: vendor text → DeviceConfig; twin policy → vendor text."""

from __future__ import annotations

import re
from pathlib import Path

from twin.errors import InputError, Problem
from twin.firewalls.table import firewall_named
from twin.plan.build import build_plan
from twin.policy.load import load_policy
from twin.policy.model import Policy
from twin.render.templates import Templates
from twin.vendors.device import DeviceConfig
from twin.vendors.exporters import fortigate as fortigate_export
from twin.vendors.exporters import panos as panos_export
from twin.vendors.exporters.view import view
from twin.vendors.importers.asa import parse_asa
from twin.vendors.importers.fortigate import parse_fortigate
from twin.vendors.importers.panos import parse_panos

NAMES = {"panos": "PAN-OS", "fortigate": "FortiGate", "asa": "Cisco ASA"}
# What a vendor's configuration looks like in its first lines (to refuse the wrong one).
_SIGNS = {
    "panos": re.compile(
        r"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(config|response|policy)\b|^set (deviceconfig|"
        r"rulebase|zone|address|shared|device-group|vsys|network|mgt-config) |^config \{",
        re.M | re.S,
    ),
    "fortigate": re.compile(r"^#config-version=F|^config (system|firewall|vdom|global)\b", re.M),
    "asa": re.compile(
        r"^: Saved|^(ASA|NGFW) Version|^access-list \S+ (extended|advanced)|^nameif ", re.M | re.I
    ),
}


def sniff(text: str) -> str | None:
    """The vendor a configuration's text looks like (None: cannot tell)."""
    head = text[:20000]
    found = [v for v, sign in _SIGNS.items() if sign.search(head)]
    return found[0] if len(found) == 1 else None


def parse(vendor: str, text: str, file: str, vsys: str | None = None) -> DeviceConfig:
    seen = sniff(text)
    if seen is not None and seen != vendor:
        raise InputError(
            [
                Problem(
                    file,
                    None,
                    "",
                    f"this is a {NAMES[seen]} configuration, not {NAMES.get(vendor, vendor)}",
                    f"twin import {seen} {file}",
                )
            ]
        )
    if vendor == "panos":
        return parse_panos(text, file, vsys)
    if vendor == "fortigate":
        return parse_fortigate(text, file, vsys)
    if vendor == "asa":
        return parse_asa(text, file)
    raise InputError(
        [
            Problem(
                "<command line>", None, "", f"no importer for {vendor!r}", "panos, fortigate or asa"
            )
        ]
    )


def export(target: str, file: str | Path, rules_only: bool = False) -> str:
    policy = load_policy(file)
    return export_policy(target, policy, str(file), rules_only)


def export_policy(
    target: str, policy: Policy, source: str = "policy", rules_only: bool = False
) -> str:
    if rules_only and target not in ("panos", "panos-xml", "fortigate"):
        raise InputError(
            [
                Problem(
                    "<command line>",
                    None,
                    "--rules-only",
                    f"{target} is the twin's own firewall, exported whole",
                    "--rules-only applies to panos, panos-xml and fortigate",
                )
            ]
        )
    if target == "panos":
        return panos_export.to_set(view(policy), source, rules_only)
    if target == "panos-xml":
        return panos_export.to_xml(view(policy), source, rules_only)
    if target == "fortigate":
        return fortigate_export.to_cli(view(policy), source, rules_only)
    fw = firewall_named(target)
    if fw is not None:  # twin's own firewall kinds, exported as they run (nftables: see export)
        return fw.export(Templates(), build_plan(policy), source)
    raise InputError(
        [
            Problem(
                "<command line>",
                None,
                "",
                f"unknown export target {target!r}",
                "one of panos, panos-xml, fortigate, vyos, nftables",
            )
        ]
    )
