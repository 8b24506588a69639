"""Teardown: remove a lab, and only what provably belongs to it.

twin runs as root; its state file and registry entry are plain files anyone can edit or break.
So they say where to look, never what to delete:
- nodes: what every runtime available here discovers by the lab's name, whichever runtime the
  state names (a state saying docker for a netns lab must not leave its namespaces behind):
  namespaces named clab-<lab>-<node> (a lab name has no '-': that prefix is this lab's alone),
  containers labelled containerlab=<lab> and twin-registry=<this registry>;
- processes: responders whose command line names this lab directory's responders.json;
- the lab directory: only a real one (a symbolic link is removed, never its target), named after
  the lab, in a twin home, holding twin's own files (a state file or topology naming the lab).
  Anything else is kept and said so.
A lying or damaged state never makes `up` and `down` refuse each other: `twin down --lab X`
works without a registry entry or a state file, and ends with X gone.
"""

from __future__ import annotations

import json
import shutil
import signal
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from signal import SIGINT, SIGTERM

import yaml

from twin.deploy.responders import find_responders, stop_process
from twin.errors import TwinError, UsageError
from twin.files import read_regular
from twin.lab.directory import TOPOLOGY, LabDir, home, run_dir
from twin.lab.registry import Entry, broken_entries, entries, find_entry, release
from twin.lab.state import LabState, load_state
from twin.policy.syntax import LAB_NAME
from twin.runtime.docker import labelled_entries
from twin.runtime.registry import RUNTIMES, register

OWN_FILE_LIMIT = 64 * 1024 * 1024  # a state file or topology of a very big lab stays below


@dataclass
class Removal:
    lab: str
    left: list[str] = field(default_factory=list)  # could not be removed: exit 3
    kept: str = ""  # the directory was kept, and why (it is not provably this lab's)
    found: bool = False  # anything of the lab was there (nodes, processes, entry, directory)


@dataclass(frozen=True)
class Target:
    """A lab `down` is asked to remove, and where to look for its directory."""

    lab: str
    dir: Path | None = None  # None: $TWIN_HOME/<lab>
    runtime: str = ""  # what the registry entry recorded
    note: str = ""  # how it was found, when that is worth saying
    must_exist: bool = False  # named by the user without a registry entry: "not up" if nothing


def targets(lab: str | None, all_labs: bool = False) -> list[Target]:
    """`down --lab X`: X, with or without a registry entry; `down` alone: the only lab up;
    `down --all`: every lab of this registry and this twin home, however damaged."""
    if not all_labs:
        if lab is None:
            only = find_entry(None)
            return [Target(only.lab, Path(only.dir), only.runtime)]
        if not LAB_NAME.fullmatch(lab):
            raise UsageError(f"{lab!r} is not a lab name (1-20 of a-z 0-9)")
        entry = next((e for e in entries() if e.lab == lab), None)
        if entry is None:
            return [Target(lab, None, "", " (it had no readable registry entry)", True)]
        return [Target(lab, Path(entry.dir), entry.runtime)]
    found = [Target(e.lab, Path(e.dir), e.runtime) for e in entries()]
    known = {t.lab for t in found}
    for e in labelled_entries(known):  # docker labs the registry lost
        found.append(Target(e.lab, Path(e.dir) if e.dir else None, "docker"))
        known.add(e.lab)
    for path, problem in broken_entries():
        if path.stem not in known:
            found.append(Target(path.stem, note=f" (its registry entry was damaged: {problem})"))
            known.add(path.stem)
    for lab_dir in lab_dirs():
        if lab_dir.name not in known:
            found.append(Target(lab_dir.name, lab_dir, note=" (it had no registry entry)"))
    return found


def lab_dirs() -> list[Path]:
    """Lab directories of this twin home (twin's own files in them)."""
    where = home()
    if not where.is_dir():
        return []
    return [
        d
        for d in sorted(where.iterdir())
        if LAB_NAME.fullmatch(d.name) and not d.is_symlink() and holds_twin_files(d, d.name)
    ]


def down(entry: Entry) -> list[str]:
    """Remove the lab of a registry entry; returns what is left (empty when all went)."""
    return remove_lab(entry.lab, Path(entry.dir) if entry.dir else None, entry.runtime).left


def down_lost(lab: str) -> list[str]:
    """A lab known by name only (registry entry and state file lost or damaged)."""
    return remove_lab(lab).left


def remove_lab(lab: str, lab_dir: Path | None = None, recorded: str = "") -> Removal:
    """Remove lab `lab`: its nodes and responders wherever they are found, its registry entry,
    and `lab_dir` (default `$TWIN_HOME/<lab>`) if that is provably the lab's directory.
    `recorded`: the runtime a registry entry named (only to say what could not be checked)."""
    done = Removal(lab)
    if not LAB_NAME.fullmatch(lab):
        done.left.append(f"{lab!r} (not a lab name twin makes; remove it by hand)")
        return done
    lab_dir = lab_dir if lab_dir is not None else home() / lab
    state = _state(lab_dir)
    named = {recorded, state.runtime if state else ""}
    register()
    with signals_deferred():
        pids = set(find_responders(lab_dir))
        if state is not None and state.responder_pid:
            pids.add(state.responder_pid)  # stop_process checks it is this lab's responder
        for pid in sorted(pids):
            stop_process(pid, lab_dir)
        done.found = bool(pids)
        for name, make in RUNTIMES.items():
            runtime = make()
            why = runtime.unavailable()
            if why is not None:
                if name in named and name != "netns":
                    done.left.append(f"its {name} nodes (cannot look: {why})")
                continue
            found = runtime.discover(lab)
            if any(found.values()):
                done.found = True
                lost = LabState(lab, name, str(lab_dir), "", status="lost", resources=found)
                done.left += runtime.destroy(lost)
        if not done.left:
            entry = run_dir() / f"{lab}.json"
            done.found |= entry.exists() or entry.is_symlink()
            release(lab)
            done.found |= lab_dir.exists() or lab_dir.is_symlink()
            done.kept = remove_lab_dir(lab_dir, lab)
    return done


def _state(lab_dir: Path) -> LabState | None:
    """The state file, for hints only (which runtime, which responder); never for names."""
    try:
        return load_state(lab_dir)
    except TwinError:
        return None


def remove_lab_dir(lab_dir: Path, lab: str) -> str:
    """Delete `lab_dir` if it is provably lab's directory; else say why it was kept."""
    try:
        info = lab_dir.lstat()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"{lab_dir}: {exc.strerror}"
    in_home = lab_dir.is_absolute() and lab_dir.name == lab and _is_home(lab_dir.parent)
    if stat.S_ISLNK(info.st_mode):
        if not in_home:
            return f"{lab_dir} is a symbolic link outside the twin home"
        lab_dir.unlink()  # the link, never what it points to
        return ""
    if not stat.S_ISDIR(info.st_mode):
        return f"{lab_dir} is not a directory"
    if not in_home:
        return (
            f"{lab_dir} is not in this twin home ({home()}); if it is the lab's, remove it "
            f"with TWIN_HOME={lab_dir.parent} twin down --lab {lab}"
        )
    if not holds_twin_files(lab_dir, lab):
        return f"{lab_dir} holds no state file or topology of lab {lab}: not twin's to delete"
    shutil.rmtree(lab_dir, ignore_errors=True)  # rmtree never follows a link inside
    return f"{lab_dir} could not be removed" if lab_dir.exists() else ""


def _is_home(folder: Path) -> bool:
    """A twin home: this one ($TWIN_HOME or ./.twin), or another default `.twin` folder (a lab
    brought up from another working directory)."""
    return folder == home() or folder.name == ".twin"


def holds_twin_files(lab_dir: Path, lab: str) -> bool:
    """Does the directory hold twin's own files for `lab`: a state file or a topology naming it
    (regular files, read with a bound)?"""
    for name, parse in ((LabDir.STATE, json.loads), (TOPOLOGY, yaml.safe_load)):
        path = lab_dir / name
        if path.is_symlink() or not path.is_file():
            continue
        try:
            data = parse(read_regular(path, OWN_FILE_LIMIT))
        except (TwinError, ValueError, yaml.YAMLError):
            continue
        key = "lab" if name == LabDir.STATE else "name"
        if isinstance(data, dict) and data.get(key) == lab:
            return True
    return False


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Clean-up must finish: hold Ctrl-C and SIGTERM until it has (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = {s: signal.signal(s, lambda n, _f: caught.append(n)) for s in (SIGINT, SIGTERM)}
    try:
        yield
    except BaseException:
        caught.clear()  # the error ends the command anyway: a held signal must not replace it
        raise
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if caught:
            signal.raise_signal(caught[0])
