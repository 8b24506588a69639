"""The runtimes by name: an explicit table, filled on first use (each runtime imports what it
drives; `twin --help` needs none of them)."""

from __future__ import annotations

import os
from collections.abc import Callable

from twin.errors import EnvironmentProblem, UsageError
from twin.runtime.base import Runtime

RUNTIMES: dict[str, Callable[[], Runtime]] = {}


def get_runtime(name: str) -> Runtime:
    """A runtime by name; `auto` picks docker when a daemon answers, else netns."""
    register()
    if name == "auto" and os.geteuid() != 0:  # every runtime does: say it once
        raise EnvironmentProblem(
            "needs root: twin builds network namespaces and veth links (netns, docker, "
            "containerlab); run it as root"
        )
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
    """Fill the registry on first use."""
    if RUNTIMES:
        return
    from twin.runtime import containerlab, docker, netns

    RUNTIMES["netns"] = netns.NetnsRuntime
    RUNTIMES["docker"] = docker.DockerRuntime
    RUNTIMES["containerlab"] = containerlab.ContainerlabRuntime
