"""netns runtime: every node a network namespace, every link a veth pair, on the local kernel.

The embedded default where no Docker daemon answers. Built in batches: one `ip -batch` creates
all namespaces and all veth pairs (each end directly inside its namespace: nothing ever appears
in the machine's own namespace, so the twin is sealed by construction).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from twin.errors import EnvironmentProblem
from twin.lab.directory import TOPOLOGY, read_topology
from twin.lab.names import node_id, node_prefix
from twin.lab.state import LabState
from twin.policy.syntax import LAB_NAME, NODE_NAME
from twin.proc import ExecResult, run

NETNS_DIR = Path("/run/netns")


def owned(lab: str, name: str) -> bool:
    """Is `name` one of lab's namespaces? A lab name has no '-' (model.LAB_NAME), so the prefix
    clab-<lab>- is this lab's alone: clab-adv1- never catches clab-adv10-… nor clab-adv1x-…"""
    node = name.removeprefix(node_prefix(lab))
    return bool(LAB_NAME.fullmatch(lab)) and node != name and bool(NODE_NAME.fullmatch(node))


class NetnsRuntime:
    name = "netns"
    topology_only = True

    def unavailable(self) -> str | None:
        if os.geteuid() != 0:
            return "needs root (network namespaces)"
        for tool in ("ip", "nft", "nsenter"):
            if shutil.which(tool) is None:
                return f"{tool} is not installed (run `make setup`)"
        return None

    def _ns(self, state: LabState, node: str) -> str:
        return node_id(state.lab, node)

    def netns(self, state: LabState, node: str) -> str:
        return str(NETNS_DIR / self._ns(state, node))

    def deploy(self, state: LabState) -> None:
        topo = read_topology(state.path / TOPOLOGY)
        nodes = list(topo["topology"]["nodes"])
        names = [self._ns(state, n) for n in nodes]
        taken = [n for n in names if (NETNS_DIR / n).exists()]
        if taken:
            raise EnvironmentProblem(
                f"network namespace {taken[0]} already exists (another lab named {state.lab!r}?); "
                f"remove it with `twin down --lab {state.lab}` or pick another lab name"
            )
        state.add("netns", *names)
        state.save()
        batch = [f"netns add {n}" for n in names]
        for link in topo["topology"]["links"]:
            (a, a_if), (b, b_if) = (e.split(":", 1) for e in link["endpoints"])
            batch.append(
                f"link add {a_if} netns {self._ns(state, a)} type veth "
                f"peer name {b_if} netns {self._ns(state, b)}"
            )
        run(["ip", "-batch", "-"], stdin="\n".join(batch) + "\n", where="creating namespaces")

    def destroy(self, state: LabState) -> list[str]:
        """Only namespaces named clab-<lab>-<node>: a state file may name anything."""
        names = [
            n
            for n in state.resources.get("netns", [])
            if owned(state.lab, n) and (NETNS_DIR / n).exists()
        ]
        if names:
            batch = "".join(f"netns del {n}\n" for n in names)
            run(["ip", "-force", "-batch", "-"], stdin=batch, check=False)
        return [n for n in names if (NETNS_DIR / n).exists()]

    def discover(self, lab: str) -> dict[str, list[str]]:
        found = sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []
        return {"netns": [n for n in found if owned(lab, n)]}

    def status(self, state: LabState) -> dict[str, str]:
        prefix = node_prefix(state.lab)
        return {
            n.removeprefix(prefix): "running" if (NETNS_DIR / n).exists() else "missing"
            for n in state.resources.get("netns", [])
        }

    def exec(
        self, state: LabState, node: str, argv: list[str], stdin: str | None = None
    ) -> ExecResult:
        path = self.netns(state, node)
        if not os.path.exists(path):
            raise EnvironmentProblem(f"node {node} of lab {state.lab} is gone ({path} missing)")
        return run(["nsenter", f"--net={path}", "--", *argv], stdin=stdin, check=False)
