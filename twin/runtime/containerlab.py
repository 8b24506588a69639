"""containerlab runtime (placeholder while it is written)."""

from __future__ import annotations

import shutil

from twin.runtime.docker import DockerRuntime


class ContainerlabRuntime(DockerRuntime):
    name = "containerlab"

    def unavailable(self) -> str | None:
        if shutil.which("containerlab") is None:
            return "the containerlab CLI is not installed"
        return super().unavailable()
