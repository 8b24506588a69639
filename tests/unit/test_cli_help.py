"""What a user of a command-line tool expects (issue 11): `--version`, `-h` as well as `--help`,
help reflowed (no sentence hard-wrapped in the middle, no `<bool>`), "did you mean" for a
mistyped command or option, shell completion; and a start that imports only what the command
needs (what is imported is asserted, never how long it takes: bench/startup.py measures)."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import twin
from tests.conftest import ROOT
from twin.cli.commands import COMMANDS, load


def twin_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args],
        capture_output=True, text=True, cwd=ROOT, check=False, env={**os.environ, **(env or {})},
    )  # fmt: skip


def words(text: str) -> str:
    return " ".join(text.split())


def test_version_and_both_help_options() -> None:
    res = twin_run("--version")
    assert (res.returncode, res.stdout) == (0, f"twin {twin.__version__}\n")
    short, long = twin_run("-h"), twin_run("--help")
    assert short.returncode == long.returncode == 0 and short.stdout == long.stdout
    assert short.stdout.startswith("Usage: twin [OPTIONS] COMMAND [ARGS]...")
    for name in (*COMMANDS, "images build", "images tag"):
        res = twin_run(*name.split(), "-h")
        assert res.returncode == 0, (name, res.stderr)
        assert res.stdout.startswith(f"Usage: twin {name} "), res.stdout[:80]
        assert "<bool>" not in res.stdout and "--no-" not in res.stdout.replace("--no-intent", "")


def test_every_command_is_listed_whole_with_its_first_paragraph() -> None:
    """`twin --help` lists the table without importing the commands; the table's line is the
    command's own first paragraph, and is shown whole (never cut with '...')."""
    listing = twin_run("--help").stdout.split("Commands:\n", 1)[1]
    entries = dict(re.findall(r"^  (\S+) +(.*(?:\n {4,}.*)*)", listing, flags=re.M))
    assert list(entries) == list(COMMANDS)
    for name, (_, _, short) in COMMANDS.items():
        assert words(entries[name]) == short, name
        cmd = load(name)
        first = (cmd.help or "").split("\n\n", 1)[0]
        assert words(first) == short, f"{name}: the table and the docstring differ"
    assert "..." not in listing


@pytest.mark.parametrize("columns", [60, 80, 200])
def test_a_long_paragraph_is_reflowed_not_cut_mid_sentence(columns: int) -> None:
    """`graph`'s entry was printed cut where its docstring's line ends: every line of a help
    paragraph is now filled up to the width (the next word would not fit), at any width."""
    text = twin_run("graph", "-h", env={"COLUMNS": str(columns)}).stdout
    width = min(columns, 100) - 2  # click: max_content_width (as set), less a margin of 2
    paragraph = text.split("\n\n")[1].splitlines()
    assert words(" ".join(paragraph)) == COMMANDS["graph"][2]
    for line, after in itertools.pairwise(paragraph):
        assert len(line) + 1 + len(after.split()[0]) > width, (line, after)


@pytest.mark.parametrize(
    ("args", "says"),
    [(("stauts",), "No such command 'stauts'. Did you mean 'status'?"),
     (("test", "--jsn", "x"), "No such option: --jsn"),
     (("diff", "--json"), "Option '--json' requires an argument")],
    ids=["command", "option", "json-needs-a-path"],
)  # fmt: skip
def test_command_line_mistakes_exit_2_with_a_hint(args: tuple[str, ...], says: str) -> None:
    res = twin_run(*args)
    assert res.returncode == 2 and says in res.stderr and res.stdout == ""
    if args[1:2] == ("--jsn",):
        assert "--json" in res.stderr  # click's "Possible options"


def complete(line: str, env: dict[str, str] | None = None) -> list[str]:
    """What bash completion offers for the last word of `line` (typer's protocol)."""
    words_ = line.split(" ")
    res = twin_run(
        env={"_TWIN_COMPLETE": "complete_bash", "COMP_WORDS": line,
             "COMP_CWORD": str(len(words_) - 1), **(env or {})},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def test_shell_completion_of_commands_options_choices_and_labs(twin_env: Path) -> None:
    res = twin_run("completion", "bash")
    assert res.returncode == 0 and "_TWIN_COMPLETE=complete_bash" in res.stdout
    for shell in ("zsh", "fish"):
        assert "_TWIN_COMPLETE" in twin_run("completion", shell).stdout
    assert twin_run("completion", "tcsh").returncode == 2
    assert complete("twin sta") == ["status"]
    assert "--junit" in complete("twin test --j")
    assert complete("twin test --matrix z") == ["zones"]
    run = twin_env / "run"
    run.mkdir()
    for lab in ("alpha1", "beta1"):
        entry = {"lab": lab, "dir": f"{twin_env}/home/{lab}", "runtime": "netns", "pid": 1}
        (run / f"{lab}.json").write_text(json.dumps(entry))
    assert complete("twin test --lab al") == ["alpha1"]


def imported(*args: str) -> set[str]:
    res = twin_run(*args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    return set(re.findall(r"\|\s+([\w.]+)$", res.stderr, flags=re.M))


HEAVY = {
    *("pydantic", "jinja2", "scapy", "netmiko", "twin.policy.model", "twin.plan.plan"),
    *("twin.pipeline", "twin.rehearse", "twin.vendors.registry", "twin.report.console"),
}


def test_help_status_and_down_import_no_command_they_do_not_run() -> None:
    """(A command's module is imported with importlib, which -X importtime does not list: what
    it imports is. `twin.deploy.teardown` is the status/down module's.)"""
    help_ = imported("--help")
    assert "twin.cli.commands" in help_
    assert not help_ & (HEAVY | {"twin.deploy.teardown", "rich.table"}), help_ & HEAVY
    for args in (("status",), ("down",), ("status", "-q"), ("--version",)):
        found = imported(*args)
        assert args == ("--version",) or "twin.deploy.teardown" in found
        assert not found & HEAVY, (args, found & HEAVY)
    assert {"twin.pipeline", "twin.policy.model"} <= imported("validate", "-h")
