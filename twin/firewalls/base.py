"""What a firewall kind is and can do, declared once per kind (one module each, listed in
`twin.firewalls.table`); and what an adapter is handed: templates to render with, and the
firewall node of a running lab (a way to run a command in it, its namespace, the lab directory).

Adapters depend on neither the renderer nor the runtimes: both are protocols here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from traffic.nftdump import Table
from twin.errors import EnvironmentProblem
from twin.plan.plan import Plan
from twin.policy.model import FirewallKind
from twin.proc import ExecResult


class TemplateSet(Protocol):
    def render(self, name: str, **context: Any) -> str:
        """The named template rendered with `context`."""


class NodeExec(Protocol):
    def __call__(self, argv: list[str], stdin: str | None = None) -> ExecResult:
        """Run a command inside the firewall node."""


@dataclass(frozen=True)
class FirewallNode:
    """The firewall node of a running lab, as an adapter sees it."""

    name: str
    run: NodeExec
    netns: str  # its network namespace file (netlink reads, NFLOG)
    lab_dir: Path
    host: bool = False  # a host enforcing its own rules (`enforcement: host|both`)


@dataclass(frozen=True)
class Snapshot:
    """The firewall's table as the kernel holds it: a hash of what it does, and its counters."""

    sha256: str
    counters: dict[str, int]  # rule name (nft comment) → packets, summed over its nft rules
    table: Table | None = field(default=None, compare=False, repr=False)
    # with enforcement on the hosts: every enforcing node's own (None: its table is gone);
    # then `sha256` covers them all and `counters` add them up
    nodes: dict[str, Snapshot | None] = field(default_factory=dict, compare=False, repr=False)


SendFile = Callable[[Path, str], None]  # (local file, remote name in /tmp) over an SSH session


class Firewall:
    """One firewall kind. Subclasses set every class constant and implement `render` and
    `apply`; the other methods have the defaults of a kind that cannot do that thing."""

    kind: ClassVar[FirewallKind]
    suffix: ClassVar[str]  # its configuration file: configs/<firewall><suffix>
    template: ClassVar[str]  # the Jinja2 template its configuration is rendered from
    # The node boots its own init and sets up its own addresses, bridges and sysctls: twin runs
    # no setup file in it and applies the configuration once it has booted.
    own_init: ClassVar[bool] = False
    privileged: ClassVar[bool] = False  # docker --privileged (else only CAPS below)
    caps: ClassVar[tuple[str, ...]] = ("NET_ADMIN", "NET_RAW")
    binds: ClassVar[tuple[str, ...]] = ()  # host paths its container needs besides its files
    # Every rule logs its twin name to NFLOG: the second witness of each probe, the crafted-
    # packet checks and the log evidence need it.
    nflog_attribution: ClassVar[bool] = False
    rehearsal: ClassVar[bool] = False  # `twin rehearse` can swap its ruleset in one step
    # Each host can get its own rules, derived from the same policy (`enforcement: host|both`):
    # `render_host`, and a host node can be handed to `apply`, `snapshot`, `remember`.
    host_enforcement: ClassVar[bool] = False
    # twin's table is all the node's netfilter should hold: any other table (any family, or
    # x_tables) is a change by hand. Not so for a kind whose own init keeps tables (VyOS).
    whole_netfilter: ClassVar[bool] = False
    netmiko_type: ClassVar[str]  # netmiko's device_type for `twin push --ssh`

    @property
    def name(self) -> str:
        return self.kind.value

    def bridge(self, zone: str, index: int) -> str:
        """The firewall's bridge for a zone (an interface name: 15 characters at most)."""
        return f"br-{zone}" if len(zone) <= 12 else f"brz{index}"

    def start(self, file: str) -> tuple[str, ...]:
        """Commands that load the configuration `file` when the node starts (containerlab's
        `exec:`); nothing for a kind that boots its own init."""
        return ()

    def render(self, t: TemplateSet, plan: Plan, source: str) -> str:
        raise NotImplementedError

    def export(self, t: TemplateSet, plan: Plan, source: str) -> str:
        """The configuration for a real device (`twin export`): what the twin runs, unless the
        kind says otherwise."""
        return self.render(t, plan, source)

    def render_host(self, t: TemplateSet, plan: Plan, host: str, source: str) -> str:
        """The rules host `host` enforces itself (`enforcement: host|both`)."""
        raise NotImplementedError

    def apply(self, node: FirewallNode, config: str) -> None:
        """Load `config` into the running firewall, in one step where the kind allows."""
        raise NotImplementedError

    def snapshot(self, node: FirewallNode) -> Snapshot | None:
        """Its ruleset as the kernel holds it now, with counters; None when it cannot be read
        (or the kind does not say)."""
        return None

    def remember(self, node: FirewallNode, snap: Snapshot) -> None:
        """Keep what was just loaded, so a later change can be named."""

    def describe_change(self, node: FirewallNode, snap: Snapshot) -> str:
        """What differs between what was loaded and `snap`, in words."""
        return "the ruleset differs"

    def push_ssh(self, conn: Any, config: str, send_file: SendFile) -> tuple[str, ...]:
        """Apply `config` over a netmiko session the way an engineer would; the commands sent."""
        raise NotImplementedError


def check(res: ExecResult, node: str, what: str) -> None:
    """A command run in a node must succeed: else one line with the last line it printed."""
    if not res.ok:
        raise EnvironmentProblem(f"{what} failed on node {node}: {res.said or res.returncode}")
