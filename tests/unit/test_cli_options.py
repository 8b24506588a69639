"""One option, one meaning (issue 11): `--json PATH`, `--junit PATH`, `--lab NAME`, `--timeout`
and `-q` are the same option wherever they appear; `-` is standard output, and then standard
output holds the report only. Through the real command (`python -m twin`), no lab needed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REFERENCE, ROOT
from twin.cli.commands import COMMANDS, load
from twin.verify.verify import DEFAULT_TIMEOUT

SHARED = ("--json", "--junit", "--html", "--lab", "--timeout", "--quiet")
TABLES = ("test", "status", "diff", "rehearse", "report", "runs", "blast", "compare")  # tables


def twin(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def commands() -> dict[str, Any]:
    found = {}
    for name in COMMANDS:
        cmd = load(name)
        subs = getattr(cmd, "commands", None)
        for sub, c in (subs or {name: cmd}).items():
            found[sub if subs is None else f"{name} {sub}"] = c
    return found


def option(cmd: Any, name: str) -> Any:
    return next((p for p in cmd.params if name in p.opts), None)


def test_a_shared_option_is_the_same_everywhere() -> None:
    seen: dict[str, dict[str, tuple[Any, ...]]] = {o: {} for o in SHARED}
    for name, cmd in commands().items():
        for opt in SHARED:
            p = option(cmd, opt)
            if p is not None:  # names, metavar, help, type: one definition
                seen[opt][name] = (tuple(p.opts), p.metavar, p.help, p.is_flag)
    for opt, where in seen.items():
        assert len(set(where.values())) == 1, f"{opt} differs: {where}"
    assert set(seen["--json"]) == {"test", "diff", "rehearse", "report", "runs", "blast", "compare"}
    assert set(seen["--junit"]) == {"test", "rehearse", "report"}
    assert not any(flag for *_, flag in seen["--json"].values())  # a path, never a flag


def test_one_probe_timeout_default_and_q_wherever_a_table_is_printed() -> None:
    found = commands()
    defaults = {
        n: option(c, "--timeout").default for n, c in found.items() if option(c, "--timeout")
    }
    assert defaults == {"test": DEFAULT_TIMEOUT, "rehearse": DEFAULT_TIMEOUT}
    for name in TABLES:
        assert option(found[name], "-q") is not None, name


def test_json_dash_is_stdout_and_the_tables_go_to_stderr(
    make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    def edit(data: dict) -> None:
        data["rules"].insert(0, {"name": "web-db-temp", "from": "web", "to": "db",
                                 "services": ["postgres"], "action": "allow"})  # fmt: skip

    res = twin("diff", str(REFERENCE), str(make_policy(edit)), "--json", "-", cwd=tmp_path)
    assert res.returncode == 1
    assert json.loads(res.stdout)["intent_violations"]  # stdout parses: JSON and nothing else
    assert "the change VIOLATES intent: web-never-db" in res.stderr  # the tables: on stderr
    assert not (tmp_path / "-").exists()
    res = twin("blast", str(REFERENCE), "--json", "-", "-q", cwd=tmp_path)
    assert res.returncode == 0 and json.loads(res.stdout)["ok"]
    assert res.stderr.startswith("blast radius of ") and len(res.stderr.splitlines()) == 1


def test_json_path_writes_the_file_and_prints_the_tables(tmp_path: Path) -> None:
    out = tmp_path / "diff.json"
    res = twin("diff", str(REFERENCE), str(REFERENCE), "--json", str(out), "-q")
    assert res.returncode == 0 and res.stderr == ""
    assert (
        res.stdout.startswith("0 newly blocked, 0 newly allowed")
        and len(res.stdout.splitlines()) == 1
    )
    assert json.loads(out.read_text())["intent_violations"] == []


@pytest.mark.parametrize(
    "args",
    [("test", "--json", "-", "--junit", "-"), ("report", "--html", "-", "--json", "-"),
     ("rehearse", "--rollback", "--json", "-", "--junit", "-")],
    ids=["test", "report", "rehearse"],
)  # fmt: skip
def test_two_reports_on_stdout_are_refused_before_anything_runs(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    res = twin(*args, cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.endswith("both name standard output (-); give one a file\n")
    assert len(res.stderr.splitlines()) == 1


def test_test_json_dash_writes_no_file_named_dash(tmp_path: Path) -> None:
    """It used to write a file called `-`; now it is standard output (here: no lab is up)."""
    res = twin("test", "--json", "-", cwd=tmp_path)
    assert res.returncode == 3 and "no lab is up" in res.stderr
    assert not (tmp_path / "-").exists() and res.stdout == ""


@pytest.mark.parametrize(
    ("args", "says"),
    [(("test", "--timeout", "1.5"), "--timeout must be between 0 and 1 s"),
     (("test", "--matrix", "ful"), "--matrix 'ful': did you mean 'full'? one of auto, full, zones"),
     (("up", str(REFERENCE), "--runtime", "netsn"), "did you mean 'netns'?"),
     (("blast", str(REFERENCE), "--via", "port"), "--via 'port': did you mean 'ports'?")],
    ids=["timeout", "matrix", "runtime", "via"],
)  # fmt: skip
def test_a_bad_value_is_one_line_exit_2(args: tuple[str, ...], says: str, tmp_path: Path) -> None:
    res = twin(*args, cwd=tmp_path)
    assert res.returncode == 2 and says in res.stderr, res.stderr
    assert len(res.stderr.splitlines()) == 1


def test_make_twin_test_and_down_take_policy() -> None:
    for target in ("twin-up", "twin-test", "twin-down"):
        res = subprocess.run(
            ["make", "-n", target, "POLICY=mine.yml"], capture_output=True, text=True, cwd=ROOT,
            check=True,
        )  # fmt: skip
        verb = target.removeprefix("twin-")
        assert f"-m twin {verb} mine.yml" in res.stdout, res.stdout
