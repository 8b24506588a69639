"""Push a twin firewall's configuration over SSH with netmiko, the way an engineer would.

The firewall node gets a management link (`twinmgmt`, 169.254.254.1/30) into a management
namespace `clab-<lab>-mgmt` that twin creates for the push, and an OpenSSH server listening on
that address only, with a key pair made for the lab. netmiko runs in a thread that has entered
the management namespace: it copies the ruleset with SCP (`linux` device type) and runs
`nft -f`; for a VyOS firewall (`vyos` device type) it sends the `set` commands, commits and
saves. Afterwards sshd stops and the management namespace (with its link) is deleted: the twin
is sealed again. Every resource is named in the lab state before it is made, so `twin down`
removes what a crash left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traffic.netns import entered
from twin.deploy.configure import remember_loaded
from twin.deploy.running import open_lab
from twin.errors import EnvironmentProblem, last_line
from twin.firewalls.base import Firewall
from twin.firewalls.table import firewall_of
from twin.lab.names import node_id
from twin.lab.state import LabState
from twin.plan.plan import Plan
from twin.proc import run
from twin.runtime.base import Runtime

MGMT_FW, MGMT_PEER, MGMT_PREFIX = "169.254.254.1", "169.254.254.2", 30
FW_IFACE = "twinmgmt"
SSHD = "/usr/sbin/sshd"
READY_TIMEOUT = 10.0


@dataclass(frozen=True)
class Pushed:
    device_type: str
    host: str
    commands: tuple[str, ...]
    seconds: float


def push_firewall(runtime: Runtime, state: LabState, plan: Plan, config: str) -> Pushed:
    """Load `config` (the rendered firewall file) onto the firewall node over SSH."""
    if runtime.name != "netns":
        raise EnvironmentProblem("--config-via ssh needs the netns runtime (for now)")
    if not Path(SSHD).exists():
        raise EnvironmentProblem("sshd is not installed (make setup installs openssh-server)")
    started = time.monotonic()
    fw = firewall_of(plan.firewall_kind)
    mgmt = node_id(state.lab, "mgmt")
    keys = state.path / "ssh"
    sshd: subprocess.Popen[bytes] | None = None
    state.add("netns", mgmt)
    state.save()
    try:
        _management_link(runtime, state, plan, mgmt)
        client_key = _keys(keys)
        sshd = _start_sshd(runtime, state, plan, keys)
        commands = _in_namespace(f"/run/netns/{mgmt}", _session, fw, str(client_key), config)
    finally:
        if sshd is not None:
            _stop(sshd, state)
        run(["ip", "netns", "del", mgmt], check=False)
        if mgmt in state.resources.get("netns", []):
            state.resources["netns"].remove(mgmt)
        shutil.rmtree(keys, ignore_errors=True)
        state.save()
    remember_loaded(runtime, state, plan)
    state.firewall_loaded_via = "ssh"
    state.save()
    return Pushed(fw.netmiko_type, MGMT_FW, commands, time.monotonic() - started)


def push_lab(lab: str) -> Pushed:
    """Push the firewall configuration of a lab that is up (its rendered file) over SSH."""
    opened = open_lab(lab)
    plan = opened.plan
    ext = firewall_of(plan.firewall_kind).suffix
    config = opened.state.files.config(plan.firewall, ext).read_text()
    return push_firewall(opened.runtime, opened.state, plan, config)


def _management_link(runtime: Runtime, state: LabState, plan: Plan, mgmt: str) -> None:
    fw_ns = Path(runtime.netns(state, plan.firewall)).name
    batch = [
        f"netns add {mgmt}",
        f"link add {FW_IFACE} netns {fw_ns} type veth peer name eth0 netns {mgmt}",
        f"-n {fw_ns} addr add {MGMT_FW}/{MGMT_PREFIX} dev {FW_IFACE}",
        f"-n {fw_ns} link set {FW_IFACE} up",
        f"-n {mgmt} addr add {MGMT_PEER}/{MGMT_PREFIX} dev eth0",
        f"-n {mgmt} link set eth0 up",
        f"-n {mgmt} link set lo up",
    ]
    for line in batch:  # `-n` is not allowed inside a batch file: one call each (7 calls)
        run(["ip", *line.split()], where="management link for --config-via ssh")


def _keys(keys: Path) -> Path:
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in ("host", "client"):
        if not (keys / name).exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"twin-{name}",
                 "-f", str(keys / name)], where="ssh-keygen")  # fmt: skip
    (keys / "authorized_keys").write_text((keys / "client.pub").read_text())
    (keys / "sshd_config").write_text(
        "\n".join(
            [
                f"ListenAddress {MGMT_FW}",
                "Port 22",
                f"HostKey {keys / 'host'}",
                f"PidFile {keys / 'sshd.pid'}",
                f"AuthorizedKeysFile {keys / 'authorized_keys'}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PrintMotd no",
                "",
            ]
        )
    )
    return keys / "client"


def _start_sshd(
    runtime: Runtime, state: LabState, plan: Plan, keys: Path
) -> subprocess.Popen[bytes]:
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    log = keys / "sshd.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            ["nsenter", f"--net={runtime.netns(state, plan.firewall)}", "--",
             SSHD, "-D", "-e", "-f", str(keys / "sshd_config")],
            stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, start_new_session=True,
        )  # fmt: skip
    state.add("pid", str(proc.pid))
    state.save()
    deadline = time.monotonic() + READY_TIMEOUT
    while b"Server listening" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = last_line(log.read_text(errors="replace"))
            _stop(proc, state)
            raise EnvironmentProblem(f"sshd on the firewall did not start: {tail}")
        time.sleep(0.02)
    return proc


def _stop(proc: subprocess.Popen[bytes], state: LabState) -> None:
    """Stop sshd and its per-connection children (which run in sessions of their own)."""
    children = _children(proc.pid)
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGTERM)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    deadline = time.monotonic() + 3
    while any(Path(f"/proc/{c}").exists() for c in children) and time.monotonic() < deadline:
        time.sleep(0.02)
    pids = state.resources.get("pid", [])
    if str(proc.pid) in pids:
        pids.remove(str(proc.pid))


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            found.append(int(stat.parent.name))
    return found


def _in_namespace(path: str, fn: Any, *args: Any) -> Any:
    """Run `fn` on a thread that has entered the namespace (its sockets are made there)."""
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            with entered(path):
                box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            box["error"] = exc

    t = threading.Thread(target=body, name="twin-ssh-push")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _session(fw: Firewall, key_file: str, config: str) -> tuple[str, ...]:
    from netmiko import ConnectHandler, file_transfer  # noqa: PLC0415 - slow import, used here

    params: dict[str, Any] = {
        "device_type": fw.netmiko_type,
        "host": MGMT_FW,
        "username": "root",
        "use_keys": True,
        "key_file": key_file,
        "allow_agent": False,
        "ssh_config_file": None,
        "conn_timeout": 10,
    }
    try:
        conn = ConnectHandler(**params)
    except Exception as exc:  # noqa: BLE001 - one line for the user
        raise EnvironmentProblem(
            f"ssh to the firewall ({MGMT_FW}): {exc}".splitlines()[0]
        ) from None
    try:

        def send_file(local: Path, remote: str) -> None:
            file_transfer(conn, str(local), remote, file_system="/tmp", overwrite_file=True)

        return fw.push_ssh(conn, config, send_file)
    finally:
        conn.disconnect()
