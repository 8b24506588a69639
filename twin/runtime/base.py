"""The one small interface every runtime implements (netns, docker, containerlab)."""

from __future__ import annotations

from typing import Protocol

from twin.lab.state import LabState
from twin.proc import ExecResult


class Runtime(Protocol):
    name: str
    # deploy reads nothing of the lab directory but topology.clab.yml (the other files can be
    # written while it builds); False when nodes mount or run the rendered files
    topology_only: bool

    def unavailable(self) -> str | None:
        """None when this runtime can run here, else why not (one line)."""

    def deploy(self, state: LabState) -> None:
        """Create the nodes and links of `<lab dir>/topology.clab.yml`; record each in `state`
        before creating it."""

    def destroy(self, state: LabState) -> list[str]:
        """Remove everything `state` names that still exists; return what could not be removed."""

    def status(self, state: LabState) -> dict[str, str]:
        """node → 'running' | 'missing' | a runtime-specific word."""

    def exec(
        self, state: LabState, node: str, argv: list[str], stdin: str | None = None
    ) -> ExecResult:
        """Run a command inside a node."""

    def discover(self, lab: str) -> dict[str, list[str]]:
        """Resources of a lab found by name or label, for `down` when the state file is lost."""

    def netns(self, state: LabState, node: str) -> str:
        """The node's network namespace file, for setns (probes, responders, NFLOG)."""
