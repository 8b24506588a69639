"""The lab directory (rendered files + state file) and the registry of labs that are up.

- Lab directory: `$TWIN_HOME/<lab>/` (default `./.twin/<lab>/`), like containerlab's
  `clab-<lab>/`: every rendered artefact, a copy of the policy, the state file, the logs.
- Registry: `$TWIN_RUN_DIR/<lab>.json` (default `/run/twin`, tmpfs like `/run/netns`): one entry
  per lab that is up, created exclusively — the lock that stops a second `up` of the same lab —
  and pointing at the lab directory, so `twin down` works from anywhere.
- The state file names every resource *before* it is created, so `down` can remove it after a
  crash, a Ctrl-C or a kill.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from twin.errors import EnvironmentProblem, UsageError

STATE = "state.json"


def home() -> Path:
    return Path(os.environ.get("TWIN_HOME") or Path.cwd() / ".twin")


def run_dir() -> Path:
    return Path(os.environ.get("TWIN_RUN_DIR") or "/run/twin")


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
    extra: dict[str, Any] = field(default_factory=dict)  # runtime-specific facts

    @property
    def path(self) -> Path:
        return Path(self.dir)

    def add(self, kind: str, *names: str) -> None:
        known = self.resources.setdefault(kind, [])
        known.extend(n for n in names if n not in known)

    def save(self) -> None:
        write_atomic(self.path / STATE, json.dumps(asdict(self), indent=2, sort_keys=True))


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_state(lab_dir: Path) -> LabState:
    path = lab_dir / STATE
    try:
        data = json.loads(path.read_text())
        return LabState(**data)
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such state file (was the lab ever brought up here?)"
        ) from None
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
        raise EnvironmentProblem(
            f"{path}: state file is corrupt ({str(exc).splitlines()[0]}); "
            "run `twin down --all` to remove every twin lab on this machine"
        ) from None


@dataclass(frozen=True)
class Entry:
    """A registry entry: a lab that is (or was being brought) up on this machine."""

    lab: str
    dir: str
    runtime: str
    path: Path  # the entry file itself


def claim(lab: str, lab_dir: Path, runtime: str) -> Entry:
    """Register a lab as up; refuse if it already is (the lock against a second `up`)."""
    rd = run_dir()
    rd.mkdir(parents=True, exist_ok=True)
    path = rd / f"{lab}.json"
    body = json.dumps({"lab": lab, "dir": str(lab_dir), "runtime": runtime, "pid": os.getpid()})
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        other = read_entry(path)
        where = f" from {other.dir}" if other else ""
        raise UsageError(
            f"lab {lab!r} is already up{where}; run `twin down --lab {lab}` first"
        ) from None
    with os.fdopen(fd, "w") as f:
        f.write(body)
    return Entry(lab, str(lab_dir), runtime, path)


def release(lab: str) -> None:
    (run_dir() / f"{lab}.json").unlink(missing_ok=True)


def read_entry(path: Path) -> Entry | None:
    try:
        data = json.loads(path.read_text())
        return Entry(str(data["lab"]), str(data["dir"]), str(data["runtime"]), path)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def entries() -> list[Entry]:
    rd = run_dir()
    if not rd.is_dir():
        return []
    found = (read_entry(p) for p in sorted(rd.glob("*.json")))
    return [e for e in found if e is not None]


def find_entry(lab: str | None) -> Entry:
    """The named lab, or the only lab that is up."""
    up = entries()
    if lab is not None:
        for e in up:
            if e.lab == lab:
                return e
        names = ", ".join(e.lab for e in up) or "none"
        raise UsageError(f"lab {lab!r} is not up (labs up: {names})")
    if not up:
        raise UsageError("no lab is up; start one with `twin up FILE`")
    if len(up) > 1:
        names = ", ".join(e.lab for e in up)
        raise UsageError(f"{len(up)} labs are up ({names}); pick one with --lab NAME or FILE")
    return up[0]
