"""The lab directory: `$TWIN_HOME/<lab>/` (default `./.twin/<lab>/`), like containerlab's
`clab-<lab>/`: every rendered artefact, a copy of the policy, the state file. Runs are kept
outside it, in the twin home's run store (`twin.lab.runstore`), so `twin down` keeps them.
Every name twin gives a file in it is spelled here, once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml


@dataclass(frozen=True)
class LabDir:
    """A lab directory and the files twin keeps in it."""

    path: Path

    STATE: ClassVar[str] = "state.json"  # names every resource before it is created
    LOCK: ClassVar[str] = "test.lock"  # one run at a time (flock)
    TOPOLOGY: ClassVar[str] = "topology.clab.yml"  # the single description every runtime builds
    POLICY: ClassVar[str] = "policy.yml"  # the policy the firewall enforces (a copy)
    CONFIGS: ClassVar[str] = "configs"  # per node: <node>.ip, <node>.sysctl, the firewall's file
    LOADED_RULESET: ClassVar[str] = "ruleset.loaded.json"  # fingerprint of the loaded table
    LOADED_GENERATIONS: ClassVar[str] = "netfilter.loaded.json"  # nftables generation per node
    AGENTS: ClassVar[str] = "agents"  # per host enforcing its own rules: <host>.loaded.json
    RESPONDER_SPEC: ClassVar[str] = "responders.json"
    RESPONDER_READY: ClassVar[str] = "responder.ready"
    RESPONDER_LOG: ClassVar[str] = "responder.log"
    REHEARSAL: ClassVar[str] = "rehearsal"  # baseline and candidate of `twin rehearse`
    REHEARSAL_STATE: ClassVar[str] = "state.json"  # in REHEARSAL: which of them is enforced

    @property
    def state(self) -> Path:
        return self.path / self.STATE

    @property
    def lock(self) -> Path:
        return self.path / self.LOCK

    @property
    def topology(self) -> Path:
        return self.path / self.TOPOLOGY

    @property
    def policy(self) -> Path:
        return self.path / self.POLICY

    @property
    def configs(self) -> Path:
        return self.path / self.CONFIGS

    @classmethod
    def config_name(cls, node: str, suffix: str) -> str:
        """`configs/<node><suffix>` (`.ip`, `.sysctl`, `.nft`, `.vyos`), relative to the lab."""
        return f"{cls.CONFIGS}/{node}{suffix}"

    def config(self, node: str, suffix: str) -> Path:
        return self.path / self.config_name(node, suffix)

    @property
    def rehearsal(self) -> Path:
        return self.path / self.REHEARSAL

    @property
    def loaded_ruleset(self) -> Path:
        return self.path / self.LOADED_RULESET

    @property
    def loaded_generations(self) -> Path:
        return self.path / self.LOADED_GENERATIONS

    def loaded_agent(self, host: str) -> Path:
        """The fingerprint of the table a host enforcing its own rules was given."""
        return self.path / self.AGENTS / f"{host}.loaded.json"

    @property
    def responder_spec(self) -> Path:
        return self.path / self.RESPONDER_SPEC

    @property
    def responder_ready(self) -> Path:
        return self.path / self.RESPONDER_READY

    @property
    def responder_log(self) -> Path:
        return self.path / self.RESPONDER_LOG

    @property
    def rehearsal_state(self) -> Path:
        return self.path / self.REHEARSAL / self.REHEARSAL_STATE


TOPOLOGY = LabDir.TOPOLOGY


def home() -> Path:
    """Absolute: the registry records lab directories, and `down` may run from anywhere."""
    return Path(os.environ.get("TWIN_HOME") or Path.cwd() / ".twin").absolute()


def run_dir() -> Path:
    return Path(os.environ.get("TWIN_RUN_DIR") or "/run/twin")


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
    """A folder of a lab directory that twin writes into (rehearsal): a link there
    is removed, never followed."""
    path = lab_dir / name
    if path.is_symlink():
        path.unlink()
    path.mkdir(exist_ok=True)
    return path


def read_topology(path: Path) -> dict[str, Any]:
    """A rendered topology file (twin's own, trusted): libyaml when there is one."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data: dict[str, Any] = yaml.load(path.read_text(), Loader=loader)
    return data
