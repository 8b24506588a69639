"""The bad-input corpus: every file in cases/ (and a few generated here: too big, binary) goes
through the real CLI. Each must exit 2 with its pinned one-line message(s) and no traceback,
and leave nothing behind: no lab directory, no registry entry, no namespace, no file.

Goldens are cases/<id>.err; rewrite them with `pytest tests/errors --update-golden` and review
the diff — a message that changed is a user-visible change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT, assert_golden, netns_list
from twin.cli import app
from twin.policy.source import MAX_BYTES

CASES = Path(__file__).resolve().parent / "cases"
LAB = "bad"  # every case that gets as far as a lab name uses this one
ONE_ZONE = "name: bad\nzones:\n  web: {subnet: 10.1.0.0/24, hosts: [web1]}\n"


def _huge() -> bytes:
    """A valid policy followed by a comment that takes it past the size limit."""
    head = ONE_ZONE.encode()
    return head + b"# " + b"x" * (MAX_BYTES - len(head)) + b"\n"


# Cases that are generated rather than committed: megabytes, or bytes an editor would mangle.
GENERATED: dict[str, Callable[[], bytes]] = {
    "huge-file": _huge,
    "deep-nesting": lambda: b"name: bad\nzones: " + b"[" * 10_000 + b"]" * 10_000 + b"\n",
    "non-utf8-latin1": lambda: ONE_ZONE.replace("web1", "w\xe9b1").encode("latin-1"),
    "non-utf8-utf16": lambda: ONE_ZONE.encode("utf-16"),
    "control-char-nul": lambda: ONE_ZONE.replace("name: bad", "name: bad\x00").encode(),
    "control-char-bell": lambda: ONE_ZONE.replace("web1", "web\x071").encode(),
    "control-char-ansi": ("# \x1b[2J\x1b[31mall good\n" + ONE_ZONE).encode,
    "service-chain": (
        ONE_ZONE
        + "services:\n"
        + "".join(f"  s{i}: [s{i + 1}]\n" for i in range(40))
        + "  s40: tcp/80\n"
        + "rules:\n  - {name: r1, from: web, to: web, services: [s0], action: allow}\n"
    ).encode,
}
IDS = sorted([p.stem for p in CASES.glob("*.yml")] + list(GENERATED))


def case_bytes(case: str) -> bytes:
    return GENERATED[case]() if case in GENERATED else (CASES / f"{case}.yml").read_bytes()


def twin(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def lab_namespaces() -> set[str]:
    if shutil.which("ip") is None:
        return set()
    return {n for n in netns_list() if n.startswith(f"clab-{LAB}-")}


@dataclass(frozen=True)
class Run:
    work: Path  # the directory the CLI ran in, holding only the case file
    home: Path  # TWIN_HOME and TWIN_RUN_DIR given to it: must still not exist afterwards
    run_dir: Path
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def validated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Run]:
    """`python -m twin validate <case>.yml` for every selected case, a few at a time (each run
    is a fresh interpreter: ~0.3-0.7 s here, most of it imports)."""
    selected = sorted(
        {
            item.callspec.params["case"]
            for item in request.session.items
            if isinstance(item, pytest.Function)
            and item.originalname == "test_bad_policy_is_refused_with_its_message"
        }
    )
    root = tmp_path_factory.mktemp("errors")

    def one(case: str) -> tuple[str, Run]:
        work = root / case / "work"
        work.mkdir(parents=True)
        (work / f"{case}.yml").write_bytes(case_bytes(case))
        home, run_dir = root / case / "home", root / case / "run"
        env = {**os.environ, "TWIN_HOME": str(home), "TWIN_RUN_DIR": str(run_dir)}
        env["PYTHONPATH"] = str(ROOT)
        return case, Run(work, home, run_dir, twin("validate", f"{case}.yml", cwd=work, env=env))

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(pool.map(one, selected))


def test_the_corpus_is_big_and_every_golden_has_a_case() -> None:
    assert len(IDS) >= 45
    orphans = sorted(p.stem for p in CASES.glob("*.err") if p.stem not in IDS)
    assert not orphans, f"goldens without a case: {orphans}"
    clash = sorted(set(GENERATED) & {p.stem for p in CASES.glob("*.yml")})
    assert not clash


@pytest.mark.parametrize("case", IDS)
def test_bad_policy_is_refused_with_its_message(
    case: str,
    validated: dict[str, Run],
    update_golden: bool,
    twin_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = validated[case]
    res = run.result
    file = f"{case}.yml"

    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert lines, "no message at all"
    for line in lines:
        assert line.startswith(f"error: {file}"), line
    assert_golden(CASES / case, res.stderr, update_golden, suffix=".err")
    assert sorted(p.name for p in run.work.iterdir()) == [file]
    assert not run.home.exists()
    assert not run.run_dir.exists()

    # `up` (same CLI, in this process) stops at the same place, before it claims a lab or
    # touches the machine; twin_env points TWIN_HOME and TWIN_RUN_DIR into this test's tmp
    before = lab_namespaces()
    monkeypatch.chdir(run.work)
    up = CliRunner().invoke(app, ["up", file, "--runtime", "netns"])
    assert (up.exit_code, up.stdout, up.stderr) == (2, "", res.stderr)
    assert up.exception is None or isinstance(up.exception, SystemExit)
    assert not (twin_env / "home").exists()
    assert not (twin_env / "run").exists()
    assert lab_namespaces() <= before


def test_a_file_name_with_control_characters_is_refused(tmp_path: Path) -> None:
    """The name is printed in messages and written into comments of the rendered files."""
    file = tmp_path / "evil\nflush ruleset\n.yml"
    file.write_text(ONE_ZONE)
    env = {**os.environ, "TWIN_HOME": str(tmp_path / "h"), "TWIN_RUN_DIR": str(tmp_path / "r")}
    res = twin("render", file.name, "-o", "out", cwd=tmp_path, env=env)
    assert res.returncode == 2
    assert res.stderr == (
        "error: evil\\nflush ruleset\\n.yml: file name has control characters (hint: rename it)\n"
    )
    assert not (tmp_path / "out").exists()
