"""The registry of labs that are up: `$TWIN_RUN_DIR/<lab>.json` (default `/run/twin`, tmpfs like
`/run/netns`): one entry per lab that is up, created exclusively — the lock that stops a second
`up` of the same lab — and pointing at the lab directory, so `twin down` works from anywhere.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from twin.errors import EnvironmentProblem, NotUp, UsageError, did_you_mean
from twin.lab.directory import LabDir, home, run_dir
from twin.lab.state import load_state
from twin.policy.syntax import LAB_NAME


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
    return Entry(
        state.lab, state.dir, state.runtime, path, f"{problem}; rebuilt from {LabDir.STATE}"
    )


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
        labs = [e.lab for e in up]
        raise NotUp(
            f"lab {lab!r} is not up ({did_you_mean(lab, labs)}labs up: {', '.join(labs) or 'none'})"
        )
    if not up:
        raise NotUp("no lab is up; start one with `twin up FILE`")
    if len(up) > 1:
        names = ", ".join(e.lab for e in up)
        raise UsageError(f"{len(up)} labs are up ({names}); pick one with --lab NAME or FILE")
    return up[0]
