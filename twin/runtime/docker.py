"""docker runtime: every node a container of the node image, wired the way containerlab wires.

- One container per node, named `clab-<lab>-<node>` and labelled like containerlab's own
  (`containerlab`, `clab-node-name`, `clab-node-kind`, `clab-topo-file`, …), built from the
  lab's `topology.clab.yml`: its nodes (image, labels, binds) and its links.
- `--network none`: no management interface, no Docker bridge, no NAT: nothing bypasses the
  firewall and nothing leaves the twin.
- Least privilege: `--cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW`, no-new-privileges.
  sysctls are written from the host into the node's namespace (`configure`), so the containers
  need neither `--privileged` nor `--sysctl`.
- Links: one `ip -batch` creates each veth pair with both ends directly inside the two
  containers' namespaces (`netns <pid>`), as containerlab does but without the detour through
  the host namespace: no interface ever appears on the machine, and two labs cannot collide.
- Every container is recorded in the state file before it is created; its veths live and die
  with its namespace, so removing the containers removes everything.
"""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from twin.errors import EnvironmentProblem
from twin.lab import directory as labdir
from twin.lab.directory import TOPOLOGY, run_dir
from twin.lab.names import node_id, node_prefix
from twin.lab.registry import Entry
from twin.lab.state import LabState
from twin.policy.syntax import LAB_NAME
from twin.proc import ExecResult, run
from twin.runtime.dockercli import about, default_timeout, docker, removal_turn, server_version

CONTAINER = "container"  # the state file's resource kind
REGISTRY_LABEL = "twin-registry"  # the twin registry (TWIN_RUN_DIR) a container belongs to
ROLE_LABEL = "twin-role"  # set by the rendered topology on every node twin makes
FIREWALL_LABEL = "twin-firewall"  # the firewall kind, on the firewall node
HOST_CAPS = ("NET_ADMIN", "NET_RAW")  # a host: addresses, routes, raw sockets for the probes
WORKERS = 4
EXEC_TIMEOUT = 120.0


def container_name(lab: str, node: str) -> str:
    return node_id(lab, node)


def docker_unavailable() -> str | None:
    if os.geteuid() != 0:  # before asking the daemon: its socket refuses non-root too
        return "needs root (veths into the containers' namespaces, setns for probes)"
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    res = server_version()
    if not res.ok:
        return f"no Docker daemon answers ({res.said or 'no answer'})"
    if shutil.which("ip") is None:
        return "ip (iproute2) is not installed (run `make setup`)"
    return None


class DockerRuntime:
    name = "docker"
    topology_only = False  # containers mount the rendered files

    def unavailable(self) -> str | None:
        return docker_unavailable()

    # --- deploy ------------------------------------------------------------------------------

    def deploy(self, state: LabState) -> None:
        topo = read_topology(state)
        nodes: dict[str, dict[str, Any]] = topo["topology"]["nodes"]
        with about(state.lab):
            claim_containers(state, nodes)
            argvs = [self.run_argv(state, node, spec) for node, spec in nodes.items()]
            run_parallel(argvs, "starting containers")
            record_namespaces(state, list(nodes))
        wire(state, topo["topology"].get("links", []))

    def run_argv(self, state: LabState, node: str, spec: dict[str, Any]) -> list[str]:
        """`docker run` for one node: containerlab's name and labels, no network, few caps."""
        cmd = shlex.split(str(spec.get("cmd") or ""))
        return [
            "run",
            "--detach",
            *node_options(state, node, spec),
            str(spec["image"]),
            *cmd,
        ]

    # --- teardown ----------------------------------------------------------------------------

    def destroy(self, state: LabState) -> list[str]:
        """The containers carrying this lab's and this registry's labels (also one whose create
        raced a Ctrl-C); a name in the state file without them is someone else's."""
        with about(state.lab):
            return remove_containers(self.discover(state.lab)[CONTAINER])

    def discover(self, lab: str) -> dict[str, list[str]]:
        """This lab's containers: labelled containerlab=<lab> and twin-registry=<this registry>,
        and named clab-<lab>-…"""
        with about(lab):
            found = list_containers(f"containerlab={lab}", f"{REGISTRY_LABEL}={run_dir()}")
        return {CONTAINER: [n for n in found if n.startswith(node_prefix(lab))]}

    # --- inspect -----------------------------------------------------------------------------

    def status(self, state: LabState) -> dict[str, str]:
        prefix = node_prefix(state.lab)
        names = state.resources.get(CONTAINER, [])
        with about(state.lab):
            states = container_states(names)
        return {n.removeprefix(prefix): states.get(n, "missing") for n in names}

    def exec(
        self, state: LabState, node: str, argv: list[str], stdin: str | None = None
    ) -> ExecResult:
        name = container_name(state.lab, node)
        interactive = ["--interactive"] if stdin is not None else []
        limit = max(EXEC_TIMEOUT, default_timeout())  # the daemon's time and the command's
        with about(state.lab):
            res = docker(["exec", *interactive, name, *argv], stdin, timeout=limit)
        if not res.ok and ("is not running" in res.stderr or "No such container" in res.stderr):
            raise EnvironmentProblem(gone(state, node))
        return res

    def netns(self, state: LabState, node: str) -> str:
        """`/proc/<pid>/ns/net` of the node's container, checked against the namespace
        recorded at deploy time (a dead container's pid may since belong to anything)."""
        pid, inode = state.container_pids.get(node), state.netns_inodes.get(node)
        path = f"/proc/{pid}/ns/net"
        if not pid or netns_inode(path) != inode:
            raise EnvironmentProblem(gone(state, node))
        return path


def gone(state: LabState, node: str) -> str:
    return (
        f"node {node} of lab {state.lab} is not running (container "
        f"{container_name(state.lab, node)} stopped or removed); "
        f"run `twin down --lab {state.lab}` and `twin up` again"
    )


def netns_inode(path: str) -> int:
    try:
        return Path(path).stat().st_ino
    except OSError:
        return 0


# --- helpers shared with the containerlab runtime ---------------------------------------------


def read_topology(state: LabState) -> dict[str, Any]:
    return labdir.read_topology(state.path / TOPOLOGY)


def node_options(state: LabState, node: str, spec: dict[str, Any]) -> list[str]:
    name = container_name(state.lab, node)
    labels = {
        "containerlab": state.lab,
        "clab-node-name": node,
        "clab-node-longname": name,
        "clab-node-kind": str(spec.get("kind", "linux")),
        "clab-node-type": "",
        "clab-node-group": "",
        "clab-node-lab-dir": str(state.path / node),
        "clab-topo-file": str(state.path / TOPOLOGY),
        "clab-owner": _owner(),
        REGISTRY_LABEL: str(run_dir()),
        **{str(k): str(v) for k, v in (spec.get("labels") or {}).items()},
    }
    opts = ["--name", name, "--hostname", node, "--network", "none", "--restart", "no"]
    # the firewall table (plan, policy model) only where containers are made, not for
    # `twin status` / `twin down`, which import this module too
    from twin.firewalls.table import firewall_named  # noqa: PLC0415

    fw = firewall_named(labels.get(FIREWALL_LABEL, ""))
    if fw is not None and fw.privileged:  # only this node, only with a kind that needs it
        opts += ["--privileged"]
    else:
        caps = fw.caps if fw is not None else HOST_CAPS
        opts += ["--cap-drop", "ALL", *(a for cap in caps for a in ("--cap-add", cap))]
        opts += ["--security-opt", "no-new-privileges"]
    for key, value in labels.items():
        opts += ["--label", f"{key}={value}"]
    for bind in spec.get("binds") or []:
        opts += ["--volume", _absolute_bind(state.path, str(bind))]
    return opts


def _owner() -> str:
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _absolute_bind(lab_dir: Path, bind: str) -> str:
    """containerlab resolves a relative bind source against the topology file's folder."""
    src, sep, rest = bind.partition(":")
    path = Path(src)
    return f"{path if path.is_absolute() else lab_dir / path}{sep}{rest}"


def claim_containers(state: LabState, nodes: dict[str, dict[str, Any]]) -> None:
    """Images present, names free; then every container is recorded before it exists."""
    check_images({str(spec["image"]) for spec in nodes.values()})
    names = [container_name(state.lab, n) for n in nodes]
    taken = existing_containers(names)
    if taken:
        raise EnvironmentProblem(
            f"container {taken[0]} already exists (another lab named {state.lab!r}?); "
            f"remove it with `twin down --lab {state.lab}` or pick another lab name"
        )
    state.add(CONTAINER, *names)
    state.save()


def check_images(images: set[str]) -> None:
    # the image build (jinja2, the recipe) is imported only by `up`: `twin status`/`down` start fast
    from twin.images.build import image_exists, missing_image_hint  # noqa: PLC0415

    for image in sorted(images):
        if not image_exists(image):
            raise EnvironmentProblem(missing_image_hint(image))


def run_parallel(argvs: list[list[str]], where: str) -> None:
    """Run docker commands a few at a time; wait for all (also on Ctrl-C), then report.
    (Starting containers in parallel is safe: the engine's deadlock needs two leaving.)"""
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    try:
        results = list(pool.map(docker, argvs))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for res in results:
        if not res.ok:
            detail = res.said or "no output"
            raise EnvironmentProblem(f"{where}: {' '.join(res.argv[:2])} failed: {detail}")


def existing_containers(names: list[str]) -> list[str]:
    states = container_states(names)
    return [n for n in names if n in states]


def container_states(names: list[str]) -> dict[str, str]:
    """name → Docker's state word (running, exited, …) for the containers that exist."""
    if not names:
        return {}
    res = docker(["inspect", "--format", "{{.Name}} {{.State.Status}}", *names])
    out = {}
    for line in res.stdout.splitlines():
        name, _, status = line.strip().partition(" ")
        out[name.lstrip("/")] = status
    return out


def container_pids(names: list[str]) -> dict[str, int]:
    res = docker(["inspect", "--format", "{{.Name}} {{.State.Pid}} {{.State.Status}}", *names])
    pids = {}
    for line in res.stdout.splitlines():
        name, pid, status = line.split()
        if status != "running" or pid == "0":
            raise EnvironmentProblem(f"container {name.lstrip('/')} is {status}, not running")
        pids[name.lstrip("/")] = int(pid)
    missing = [n for n in names if n not in pids]
    if missing:
        raise EnvironmentProblem(f"container {missing[0]} vanished while the lab came up")
    return pids


def record_namespaces(state: LabState, nodes: list[str]) -> None:
    """Each node's pid and network namespace, so `netns` can tell it is still the same one."""
    pids = container_pids([container_name(state.lab, n) for n in nodes])
    state.container_pids = {n: pids[container_name(state.lab, n)] for n in nodes}
    state.netns_inodes = {
        n: netns_inode(f"/proc/{p}/ns/net") for n, p in state.container_pids.items()
    }
    if netns_inode("/proc/self/ns/net") in state.netns_inodes.values():
        raise EnvironmentProblem("a container shares the machine's network namespace")
    state.save()


def wire(state: LabState, links: list[dict[str, Any]]) -> None:
    """Create every veth pair directly inside the two containers' namespaces, one batch."""
    pids = state.container_pids
    batch = []
    for link in links:
        (a, a_if), (b, b_if) = (str(e).split(":", 1) for e in link["endpoints"])
        batch.append(f"link add {a_if} netns {pids[a]} type veth peer name {b_if} netns {pids[b]}")
    if batch:
        run(["ip", "-batch", "-"], stdin="\n".join(batch) + "\n", where="wiring veth links")


def list_containers(*label_filters: str) -> list[str]:
    argv = ["ps", "--all", "--format", "{{.Names}}"]
    for flt in label_filters:
        argv += ["--filter", f"label={flt}"]
    res = docker(argv)
    return [line.strip() for line in res.stdout.splitlines() if line.strip()]


def remove_containers(names: list[str]) -> list[str]:
    """`docker rm -f` (SIGKILL: nodes hold no state worth a graceful stop), one container at a
    time and one twin process at a time (`dockercli`: Docker Engine before 20.10.27 deadlocks
    when containers leave a network together); returns what is left."""
    if not names:
        return []
    with removal_turn() as progress:
        for name in names:
            docker(["rm", "--force", "--volumes", name])
            progress()
    return existing_containers(names)


def labelled_entries(known: set[str]) -> list[Entry]:
    """Docker labs of this registry found by label but missing from it (lost registry entry,
    crash before it was written): registry entries for `twin down --all` to remove."""
    if docker_unavailable() is not None:
        return []
    res = docker(
        ["ps", "--all", "--filter", f"label={REGISTRY_LABEL}={run_dir()}",
         "--format", '{{.Label "containerlab"}}\t{{.Label "clab-topo-file"}}'],
    )  # fmt: skip
    found: dict[str, str] = {}
    for line in res.stdout.splitlines():
        lab, _, topo = line.partition("\t")
        where = Path(topo).parent if topo else Path()
        sound = LAB_NAME.fullmatch(lab) and where.is_absolute() and where.name == lab
        if lab and lab not in known:  # a label is anyone's to write: trust no other directory
            found.setdefault(lab, str(where) if sound else "")
    return [Entry(lab, d, "docker", run_dir() / f"{lab}.json") for lab, d in sorted(found.items())]
