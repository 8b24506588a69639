"""Runtimes: one small interface, one module per implementation, an explicit registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from twin.errors import EnvironmentProblem, UsageError
from twin.lab import LabState


@dataclass(frozen=True)
class ExecResult:
    """A command run inside a node: what ran, how it ended, what it said."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


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


RUNTIMES: dict[str, Callable[[], Runtime]] = {}


def get_runtime(name: str) -> Runtime:
    """A runtime by name; `auto` picks docker when a daemon answers, else netns."""
    register()
    if name == "auto":
        order = ["docker", "netns"]
        reasons = []
        for candidate in order:
            if candidate in RUNTIMES:
                rt = RUNTIMES[candidate]()
                why = rt.unavailable()
                if why is None:
                    return rt
                reasons.append(f"{candidate}: {why}")
        raise EnvironmentProblem("no runtime can run here (" + "; ".join(reasons) + ")")
    if name not in RUNTIMES:
        raise UsageError(f"unknown runtime {name!r}; choose one of auto, {', '.join(RUNTIMES)}")
    rt = RUNTIMES[name]()
    why = rt.unavailable()
    if why is not None:
        raise EnvironmentProblem(f"runtime {name} cannot run here: {why}")
    return rt


def register() -> None:
    """Fill the registry (on first use: the runtimes import twin.proc, which imports this)."""
    if RUNTIMES:
        return
    from twin.runtime import containerlab, docker, netns

    RUNTIMES["netns"] = netns.NetnsRuntime
    RUNTIMES["docker"] = docker.DockerRuntime
    RUNTIMES["containerlab"] = containerlab.ContainerlabRuntime
