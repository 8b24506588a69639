"""Shared fixtures: isolated lab homes, unique lab names, golden files, leak checks."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "topologies" / "zero-trust-6zone.yml"
DUALSTACK = ROOT / "topologies" / "zero-trust-6zone-dualstack.yml"
_counter = itertools.count()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(autouse=True)
def twin_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own lab home and registry: tests never see each other's labs."""
    monkeypatch.setenv("TWIN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TWIN_RUN_DIR", str(tmp_path / "run"))
    return tmp_path


def unique_lab(prefix: str = "t") -> str:
    """A lab name no other test (or parallel session) uses: namespaces are machine-wide."""
    return f"{prefix}{os.getpid() % 100000}x{next(_counter)}"[:20]


@pytest.fixture
def make_policy(tmp_path: Path) -> Callable[..., Path]:
    """Write a copy of a policy (the reference by default) with a unique lab name, optionally
    changed by `edit(data)`; returns its path."""

    def make(
        edit: Callable[[dict], None] | None = None, base: Path = REFERENCE, name: str | None = None
    ) -> Path:
        data = yaml.safe_load(base.read_text())
        data["name"] = name or unique_lab()
        if edit:
            edit(data)
        path = tmp_path / f"{data['name']}.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return make


def assert_golden(path: Path, actual: str, update: bool, suffix: str = ".ref") -> None:
    """Compare with a .ref file (or `suffix`); on mismatch write .actual beside it (aerleon's
    way)."""
    ref = path.with_name(path.name + suffix)
    if update or not ref.exists():
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(actual)
        if not update:
            pytest.fail(f"{ref} did not exist; written — review it and commit it")
        return
    expected = ref.read_text()
    act = ref.with_name(path.name + ".actual")
    if actual != expected:
        act.write_text(actual)
        pytest.fail(f"{ref} differs; see {act} (rerun with --update-golden to accept)")
    act.unlink(missing_ok=True)


# --- integration ---------------------------------------------------------------------------


def netns_list() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def need_root_netns() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    for tool in ("ip", "nft", "nsenter"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (make setup)")


@pytest.fixture
def no_leftovers() -> Iterator[Callable[[str], None]]:
    """Yields `watch(lab)`; after the test, asserts nothing of those labs is left."""
    labs: list[str] = []
    yield labs.append
    for lab in labs:
        left = sorted(n for n in netns_list() if n.startswith(f"clab-{lab}-"))
        assert not left, f"namespaces left behind: {left}"


@pytest.fixture
def lab_up(no_leftovers: Callable[[str], None]) -> Iterator[Callable[..., object]]:
    """`lab_up(policy_path, runtime="netns")` → an open Lab; always brought down afterwards."""
    from twin import pipeline
    from twin.errors import NotUp, UsageError
    from twin.lab.registry import find_entry

    created: list[str] = []

    def up(policy: Path, runtime: str = "netns") -> pipeline.Lab:
        if runtime == "netns":
            need_root_netns()
        lab = yaml.safe_load(policy.read_text())["name"]
        no_leftovers(lab)
        created.append(lab)
        state = pipeline.up(policy, runtime)
        return pipeline.open_lab(state.lab)

    yield up
    for lab in created:
        try:
            entry = find_entry(lab)
        except (NotUp, UsageError):  # not up (any more)
            continue
        assert pipeline.down(entry) == []
