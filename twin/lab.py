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
from twin.model import LAB_NAME

STATE = "state.json"
LOCK = "test.lock"


def home() -> Path:
    """Absolute: the registry records lab directories, and `down` may run from anywhere."""
    return Path(os.environ.get("TWIN_HOME") or Path.cwd() / ".twin").absolute()


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


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write a file whole or not at all. Never through a link: the temporary file is created
    fresh (a link planted under its name is removed), and the rename replaces a link at `path`
    itself, not what it points to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(tmp, flags, 0o644), "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    os.replace(tmp, path)


def lab_subdir(lab_dir: Path, name: str) -> Path:
    """A folder of a lab directory that twin writes into (runs, logs, rehearsal): a link there
    is removed, never followed."""
    path = lab_dir / name
    if path.is_symlink():
        path.unlink()
    path.mkdir(exist_ok=True)
    return path


@contextmanager
def testing(state: LabState) -> Iterator[None]:
    """One run at a time on a lab (`twin test`, `twin rehearse`): they share the firewall's
    NFLOG group and counters. A lock on `<lab dir>/test.lock` holding the runner's pid; the
    kernel drops it when the process ends, however it ends."""
    path = state.path / LOCK
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
    path = lab_dir / STATE
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
    "extra": (dict,),
}


def _state_problem(data: Any, lab_dir: Path) -> str:
    """What is wrong with a parsed state file ("" when nothing is)."""
    if not isinstance(data, dict):
        return f"a JSON object expected, found {type(data).__name__}"
    known = {f.name: f for f in fields(LabState)}
    assert set(known) == set(_STATE_TYPES), "LabState changed: update _STATE_TYPES"
    for key, value in data.items():
        if key not in known:
            return f"unknown field {key!r}"
        if isinstance(value, bool) or not isinstance(value, _STATE_TYPES[key]):
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
    if not LAB_NAME.fullmatch(data["lab"]):
        return f"lab name {data['lab']!r} is not one twin makes"
    if "\0" in data["dir"] or not Path(data["dir"]).is_absolute():
        return f"its dir {data['dir']!r} is not an absolute path"
    if data["lab"] != lab_dir.name or Path(data["dir"]).resolve() != lab_dir.resolve():
        return f"it belongs to lab {data['lab']!r} in {data['dir']!r}, not to {str(lab_dir)!r}"
    return ""


def _printable(text: str) -> str:
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


@dataclass(frozen=True)
class Entry:
    """A registry entry: a lab that is (or was being brought) up on this machine."""

    lab: str
    dir: str
    runtime: str
    path: Path  # the entry file itself
    problem: str = ""  # set when the entry file was damaged and rebuilt from the state file


def claim(lab: str, lab_dir: Path, runtime: str) -> Entry:
    """Register a lab as up; refuse if it already is (the lock against a second `up`)."""
    rd = run_dir()
    path = rd / f"{lab}.json"
    body = json.dumps({"lab": lab, "dir": str(lab_dir), "runtime": runtime, "pid": os.getpid()})
    try:
        rd.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        other = read_entry(path)
        if other is None:
            raise UsageError(
                f"lab {lab!r} has a registry entry that cannot be read ({entry_problem(path)}); "
                "run `twin down --all`, which removes it and what it names"
            ) from None
        raise UsageError(
            f"lab {lab!r} is already up from {other.dir}; run `twin down --lab {lab}` first"
        ) from None
    except OSError as exc:
        raise EnvironmentProblem(
            f"twin registry {rd}: {exc.strerror} (set TWIN_RUN_DIR to a writable directory)"
        ) from None
    with os.fdopen(fd, "w") as f:
        f.write(body)
    return Entry(lab, str(lab_dir), runtime, path)


def release(lab: str) -> None:
    (run_dir() / f"{lab}.json").unlink(missing_ok=True)


def read_entry(path: Path) -> Entry | None:
    """A registry entry, checked (its `dir` is deleted by `down`); when the entry is damaged
    but the lab's state file (`$TWIN_HOME/<lab>/state.json`) is sound, the entry is rebuilt
    from that. None when neither can be trusted: see `broken_entries`."""
    problem = entry_problem(path)
    if not problem:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Entry(data["lab"], data["dir"], data["runtime"], path)
    lab = path.name.removesuffix(".json")
    if not LAB_NAME.fullmatch(lab):
        return None
    try:
        state = load_state(home() / lab)
    except (UsageError, EnvironmentProblem):
        return None
    return Entry(state.lab, state.dir, state.runtime, path, f"{problem}; rebuilt from {STATE}")


def entry_problem(path: Path) -> str:
    """What is wrong with a registry entry file ("" when nothing is)."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        return exc.strerror or str(exc)
    except (ValueError, RecursionError):
        return "not JSON"
    if not isinstance(data, dict):
        return "not a JSON object"
    lab, where, runtime = data.get("lab"), data.get("dir"), data.get("runtime")
    if not isinstance(lab, str) or lab != path.name.removesuffix(".json"):
        return "its lab is not the one its file is named after"
    if not LAB_NAME.fullmatch(lab):
        return "its lab name is not one twin makes"
    if not isinstance(where, str) or not Path(where).is_absolute() or Path(where).name != lab:
        return f"its lab directory is not an absolute path ending in /{lab}"
    if not isinstance(runtime, str) or not runtime.isalnum():
        return "its runtime is not a name"
    return ""


def entries() -> list[Entry]:
    rd = run_dir()
    if not rd.is_dir():
        return []
    found = (read_entry(p) for p in sorted(rd.glob("*.json")))
    return [e for e in found if e is not None]


def broken_entries() -> list[tuple[Path, str]]:
    """Registry files that `entries` cannot use (damaged, and no sound state file to rebuild
    them from), with what is wrong. The lab name is the file name; nothing else is known."""
    rd = run_dir()
    if not rd.is_dir():
        return []
    return [(p, entry_problem(p)) for p in sorted(rd.glob("*.json")) if read_entry(p) is None]


def find_entry(lab: str | None) -> Entry:
    """The named lab, or the only lab that is up."""
    up = entries()
    if lab is not None:
        for e in up:
            if e.lab == lab:
                return e
        for path, problem in broken_entries():
            if path.name == f"{lab}.json":
                raise UsageError(
                    f"{path}: the registry entry of lab {lab!r} cannot be read ({problem}); "
                    "`twin down --all` removes it and what it names"
                )
        names = ", ".join(e.lab for e in up) or "none"
        raise UsageError(f"lab {lab!r} is not up (labs up: {names})")
    if not up:
        raise UsageError("no lab is up; start one with `twin up FILE`")
    if len(up) > 1:
        names = ", ".join(e.lab for e in up)
        raise UsageError(f"{len(up)} labs are up ({names}); pick one with --lab NAME or FILE")
    return up[0]
