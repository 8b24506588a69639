"""The firewall kinds twin can run, by name: one explicit table (no lookup by module name).
A new kind is one module under twin/firewalls/ and one line here."""

from __future__ import annotations

from twin.firewalls.base import Firewall
from twin.firewalls.nftables import Nftables
from twin.firewalls.vyos import Vyos
from twin.policy.model import Enforcement, FirewallKind, Policy

FIREWALLS: dict[FirewallKind, Firewall] = {
    FirewallKind.nftables: Nftables(),
    FirewallKind.vyos: Vyos(),
}


def firewall_of(kind: FirewallKind | str) -> Firewall:
    """The adapter of a kind (a FirewallKind, or its name as a label or an export target)."""
    return FIREWALLS[FirewallKind(kind)]


def firewall_named(name: str) -> Firewall | None:
    """The adapter whose kind is called `name`, or None."""
    return next((f for f in FIREWALLS.values() if f.name == name), None)


def unsupported(policy: Policy) -> list[tuple[tuple[str, ...], str, str]]:
    """What the policy asks of its firewall kind that the kind cannot do: (path, message,
    hint) each."""
    fw, asked = firewall_of(policy.firewall.kind), policy.firewall.enforcement
    if asked is Enforcement.central or fw.host_enforcement:
        return []
    able = ", ".join(f.name for f in FIREWALLS.values() if f.host_enforcement)
    return [
        (
            ("firewall", "enforcement"),
            f"enforcement {asked.value} needs a firewall kind that programs each host's own "
            f"rules ({able}); {fw.name} is a central firewall only",
            f"write enforcement: central, or kind: {able.split(',')[0]}",
        )
    ]
