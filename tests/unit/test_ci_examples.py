"""The CI examples are valid YAML, gate a change with `twin diff` and `twin rehearse`, and use
the options as they are: each job works on its own lab (`--lab`) and never tears down another
job's (`twin down --all` on a shared runner), report paths are given to `--json`/`--junit`."""

from __future__ import annotations

import re
import shlex

import yaml

from tests.conftest import ROOT
from twin.policy.syntax import LAB_NAME

CI = ROOT / "examples" / "ci"
LAB_COMMANDS = {"up", "test", "rehearse", "report", "down", "status"}


def twin_lines(script: str) -> list[list[str]]:
    """Each `twin …` command of a script, as words (sudo dropped, comments cut)."""
    found = []
    for line in script.splitlines():
        if not re.match(r"\s*(sudo\s+)?twin\s", line):
            continue
        words = shlex.split(line, comments=True)
        if words[:1] == ["sudo"]:
            words = words[1:]
        if words[:1] == ["twin"]:
            found.append(words)
    return found


def check_commands(commands: list[list[str]]) -> None:
    assert commands
    for words in commands:
        assert "--all" not in words, words
        if words[1] in LAB_COMMANDS:
            assert words[words.index("--lab") + 1] == "$LAB", words
        for option in ("--json", "--junit", "--html"):
            if option in words:  # a path follows, never another option or nothing
                assert re.fullmatch(r"out/[\w.-]+", words[words.index(option) + 1]), words
        assert ">" not in words, words  # reports are written by twin, not redirected


# the CI systems' ids, as long as they get (GitHub run ids have 10-11 digits today)
IDS = {"github.run_id": "9" * 12, "github.run_attempt": "99", "CI_JOB_ID": "9" * 14}


def check_lab_name(template: str) -> None:
    """The job's lab name is a lab name once the CI system fills in its (numeric) ids."""
    name = re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}|\$\{(\w+)\}", lambda m: IDS[m[1] or m[2]], template)
    assert LAB_NAME.fullmatch(name), name


def scripts() -> dict[str, str]:
    """Every shell line of both examples, by file."""
    flow = yaml.safe_load((CI / "github-actions.yml").read_text())
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["twin-policy-gate"]
    return {
        "github-actions.yml": "\n".join(
            str(s.get("run", "")) for s in flow["jobs"]["rehearse"]["steps"]
        ),
        "gitlab-ci.yml": "\n".join([*job["script"], *job["after_script"]]),
    }


def test_github_actions_workflow_gates_and_publishes() -> None:
    flow = yaml.safe_load((CI / "github-actions.yml").read_text())
    job = flow["jobs"]["rehearse"]
    assert "self-hosted" in job["runs-on"] and "docker" in job["runs-on"]
    script = "\n".join(str(s.get("run", "")) for s in job["steps"])
    assert "twin diff baseline.yml" in script and "twin rehearse" in script
    assert "--junit out/junit.xml" in script and "--html out/report.html" in script
    always = [s for s in job["steps"] if s.get("if") == "always()"]
    assert any('twin down --lab "$LAB"' in str(s.get("run", "")) for s in always)
    assert any(s.get("uses", "").startswith("actions/upload-artifact") for s in always)
    check_commands(twin_lines(script))
    check_lab_name(flow["env"]["LAB"])


def test_gitlab_job_gates_and_publishes() -> None:
    data = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
    job = data["twin-policy-gate"]
    script = "\n".join(job["script"])
    assert "twin diff baseline.yml" in script and "twin rehearse" in script
    assert 'twin down --lab "$LAB"' in "\n".join(job["after_script"])
    assert job["artifacts"]["reports"]["junit"] == "out/junit.xml"
    assert job["artifacts"]["when"] == "always"
    check_commands(twin_lines(script + "\n" + "\n".join(job["after_script"])))
    check_lab_name(data["variables"]["LAB"])


def test_every_option_of_the_examples_exists() -> None:
    """The examples run with the options twin has: each command parses (`--help` after them
    would print; here the click parser is asked directly, nothing runs)."""
    from twin.cli.commands import load

    for name, text in scripts().items():
        for words in twin_lines(text):
            cmd = load(words[1])
            known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
            for word in words[2:]:
                if word.startswith("-"):
                    assert word in known, f"{name}: twin {words[1]} has no option {word}"
