"""containerlab runtime: `containerlab deploy -t <lab dir>/topology.clab.yml`, then twin's own
configuration and checks, exactly as on the docker runtime.

The rendered file is plain containerlab: `kind: linux` nodes of the node image,
`network-mode: none` (no management eth0, no NATed bridge beside the firewall), the node setup
files bound in and run by `exec:`, and veth `links`. Facts this runtime respects:
- `exec:` failures do not fail a deploy: twin re-applies what is idempotent (sysctls, the
  ruleset), and `up` checks every interface, address and route afterwards;
- link `ipv4:` fields are ignored on linux nodes: addresses come from the setup files;
- containerlab runs linux nodes privileged (its choice, not twin's): recorded in the state file.
Everything after the deploy (exec, netns, status) is the docker runtime's: the containers carry
the same names (`clab-<lab>-<node>`) and labels.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from twin.lab.directory import TOPOLOGY
from twin.lab.directory import read_topology as read_topology_file
from twin.lab.names import node_prefix
from twin.lab.state import LabState
from twin.proc import run
from twin.runtime.docker import (
    CONTAINER,
    ROLE_LABEL,
    DockerRuntime,
    claim_containers,
    docker_unavailable,
    list_containers,
    read_topology,
    record_namespaces,
    remove_containers,
)
from twin.runtime.dockercli import about, docker

CLI = "containerlab"
# Twin's configure() skips the `ip -batch` setup when this is set: `exec:` already ran it.


def containerlab_unavailable() -> str | None:
    if shutil.which(CLI) is None:
        return (
            "the containerlab CLI is not installed (https://containerlab.dev/install/); "
            "`--runtime docker` builds the same twin from the same file without it"
        )
    return docker_unavailable()


class ContainerlabRuntime(DockerRuntime):
    name = "containerlab"

    def unavailable(self) -> str | None:
        return containerlab_unavailable()

    def deploy(self, state: LabState) -> None:
        topo: dict[str, Any] = read_topology(state)
        nodes: dict[str, dict[str, Any]] = topo["topology"]["nodes"]
        claim_containers(state, nodes)
        state.node_setup_by_deploy = True
        state.save()
        run(
            [CLI, "deploy", "--topo", str(state.path / TOPOLOGY)],
            where="containerlab deploy",
            timeout=900,
        )
        record_namespaces(state, list(nodes))
        with about(state.lab):
            privileged = docker(
                ["inspect", "--format", "{{.HostConfig.Privileged}}", *state.resources[CONTAINER]]
            ).stdout.split()
        state.privileged = "true" in privileged
        state.save()

    def destroy(self, state: LabState) -> list[str]:
        """`containerlab destroy` of the lab's own topology file (only if it names this lab:
        containerlab destroys the lab the file names), then whatever carries its labels."""
        topo = state.path / TOPOLOGY
        if shutil.which(CLI) is not None and _names_lab(topo, state.lab):
            run([CLI, "destroy", "--topo", str(topo), "--cleanup"], check=False, timeout=300)
        with about(state.lab):
            return remove_containers(self.discover(state.lab)[CONTAINER])

    def discover(self, lab: str) -> dict[str, list[str]]:
        with about(lab):
            found = list_containers(f"containerlab={lab}", ROLE_LABEL)
        return {CONTAINER: [n for n in found if n.startswith(node_prefix(lab))]}


def _names_lab(topo: Path, lab: str) -> bool:
    if topo.is_symlink() or not topo.is_file():
        return False
    try:
        return read_topology_file(topo).get("name") == lab
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return False
