"""What a firewall adapter is handed: templates to render with, and a way to run a command on
its node. Protocols, so adapters depend on neither the renderer nor the runtimes."""

from __future__ import annotations

from typing import Any, Protocol

from twin.proc import ExecResult


class TemplateSet(Protocol):
    def render(self, name: str, **context: Any) -> str:
        """The named template rendered with `context`."""


class NodeExec(Protocol):
    def __call__(self, argv: list[str], stdin: str | None = None) -> ExecResult:
        """Run a command inside the firewall node."""
