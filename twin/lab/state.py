"""The state file of a lab (`<lab dir>/state.json`): it names every resource *before* it is
created, so `down` can remove it after a crash, a Ctrl-C or a kill; and the lock that keeps one
run at a time on a lab.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from twin.errors import EnvironmentProblem, UsageError
from twin.lab.directory import LabDir, write_atomic
from twin.policy.syntax import LAB_NAME


@dataclass
class LabState:
    lab: str
    runtime: str
    dir: str
    policy: str  # the policy file the user gave (a copy is in the lab dir)
    status: str = "deploying"  # deploying | up | failed
    created: float = field(default_factory=time.time)
    resources: dict[str, list[str]] = field(default_factory=dict)  # kind → names
    ruleset_sha256: str = ""
    responder_pid: int = 0
    responder_ports: dict[str, list[int]] = field(default_factory=dict)  # tcp/udp → ports served
    host_tuning: str = ""  # what `up --tune-host` changed on the machine, said again by `up`
    firewall_loaded_via: str = ""  # "ssh" once `--config-via ssh` pushed the firewall's config
    # docker and containerlab: each node's container pid and network namespace inode, so `netns`
    # can tell a node is still the same one
    container_pids: dict[str, int] = field(default_factory=dict)
    netns_inodes: dict[str, int] = field(default_factory=dict)
    node_setup_by_deploy: bool = False  # containerlab's `exec:` ran the nodes' setup files
    privileged: bool = False  # containerlab ran the nodes privileged (its choice, not twin's)
    enforcing: dict[str, str] = field(default_factory=dict)  # node → hash of the table it holds

    @property
    def path(self) -> Path:
        return Path(self.dir)

    @property
    def files(self) -> LabDir:
        return LabDir(self.path)

    def add(self, kind: str, *names: str) -> None:
        known = self.resources.setdefault(kind, [])
        known.extend(n for n in names if n not in known)

    def save(self) -> None:
        write_atomic(self.files.state, json.dumps(asdict(self), indent=2, sort_keys=True))


@contextmanager
def testing(state: LabState) -> Iterator[None]:
    """One run at a time on a lab (`twin test`, `twin rehearse`): they share the firewall's
    NFLOG group and counters. A lock on `<lab dir>/test.lock` holding the runner's pid; the
    kernel drops it when the process ends, however it ends."""
    path = state.files.lock
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise EnvironmentProblem(f"lab {state.lab}: cannot open {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 16, 0).decode(errors="replace").strip()
            raise EnvironmentProblem(
                f"lab {state.lab} is being tested by pid {pid if pid.isdigit() else '?'}; "
                "wait for it to end"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def load_state(lab_dir: Path) -> LabState:
    """The state file of the lab in `lab_dir`, checked field by field: `down` removes what it
    names and deletes its `dir`, so a damaged or foreign file must never be trusted."""
    path = LabDir(lab_dir).state
    if lab_dir.is_symlink():
        raise EnvironmentProblem(
            f"{lab_dir} is a symbolic link, not a lab directory (twin never follows it); "
            f"`twin down --lab {lab_dir.name}` removes the lab and the link, not its target"
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such state file (was the lab ever brought up here?)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise _corrupt(path, lab_dir, reason or str(exc)) from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _corrupt(
            path, lab_dir, str(exc).splitlines()[0] if str(exc) else "not JSON"
        ) from None
    data = _migrate(data)
    problem = _state_problem(data, lab_dir)
    if problem:
        raise _corrupt(path, lab_dir, problem)
    return LabState(**data)


def _corrupt(path: Path, lab_dir: Path, reason: str) -> EnvironmentProblem:
    lab = lab_dir.name
    how = f"`twin down --lab {lab}`" if LAB_NAME.fullmatch(lab) else "`twin down --all`"
    return EnvironmentProblem(
        f"{path}: state file is corrupt ({_printable(reason)}); {how} still removes the lab "
        "(it finds the lab's nodes by name)"
    )


# LabState's fields and the JSON types each may hold (bool is an int to Python: refused apart).
_STATE_TYPES: dict[str, tuple[type, ...]] = {
    "lab": (str,),
    "runtime": (str,),
    "dir": (str,),
    "policy": (str,),
    "status": (str,),
    "created": (int, float),
    "resources": (dict,),
    "ruleset_sha256": (str,),
    "responder_pid": (int,),
    "responder_ports": (dict,),
    "host_tuning": (str,),
    "firewall_loaded_via": (str,),
    "container_pids": (dict,),
    "netns_inodes": (dict,),
    "node_setup_by_deploy": (bool,),
    "privileged": (bool,),
    "enforcing": (dict,),
}
# State files written before these fields were typed kept them in an `extra` bag.
_LEGACY_EXTRA = {
    "responder_ports": "responder_ports",
    "host_tuning": "host_tuning",
    "firewall_loaded_via": "firewall_loaded_via",
    "pids": "container_pids",
    "netns": "netns_inodes",
    "node_setup_by_deploy": "node_setup_by_deploy",
    "privileged": "privileged",
    "enforcing": "enforcing",
}


def _migrate(data: Any) -> Any:
    if isinstance(data, dict) and isinstance(data.get("extra"), dict):
        data = dict(data)
        extra = data.pop("extra")
        data |= {new: extra[old] for old, new in _LEGACY_EXTRA.items() if old in extra}
    return data


def _state_problem(data: Any, lab_dir: Path) -> str:
    """What is wrong with a parsed state file ("" when nothing is)."""
    if not isinstance(data, dict):
        return f"a JSON object expected, found {type(data).__name__}"
    known = {f.name: f for f in fields(LabState)}
    assert set(known) == set(_STATE_TYPES), "LabState changed: update _STATE_TYPES"
    for key, value in data.items():
        if key not in known:
            return f"unknown field {key!r}"
        types = _STATE_TYPES[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return f"field {key!r} has the wrong type ({type(value).__name__})"
    required = [
        n for n, f in known.items() if f.default is MISSING and f.default_factory is MISSING
    ]
    missing = [n for n in required if n not in data]
    if missing:
        return f"field {missing[0]!r} is missing"
    for kind, names in data.get("resources", {}).items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return f"resources[{kind!r}] is not a list of names"
    for key in ("container_pids", "netns_inodes"):
        if not all(_is_int(v) for v in data.get(key, {}).values()):
            return f"{key} is not a mapping of nodes to numbers"
    if not all(isinstance(v, str) for v in data.get("enforcing", {}).values()):
        return "enforcing is not a mapping of nodes to ruleset hashes"
    for proto, ports in data.get("responder_ports", {}).items():
        if not isinstance(ports, list) or not all(_is_int(p) for p in ports):
            return f"responder_ports[{proto!r}] is not a list of ports"
    if not LAB_NAME.fullmatch(data["lab"]):
        return f"lab name {data['lab']!r} is not one twin makes"
    if "\0" in data["dir"] or not Path(data["dir"]).is_absolute():
        return f"its dir {data['dir']!r} is not an absolute path"
    if data["lab"] != lab_dir.name or Path(data["dir"]).resolve() != lab_dir.resolve():
        return f"it belongs to lab {data['lab']!r} in {data['dir']!r}, not to {str(lab_dir)!r}"
    return ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _printable(text: str) -> str:
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
