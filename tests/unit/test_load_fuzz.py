"""Fuzzing the loader: whatever the bytes, the answer is a Policy or an InputError — never any
other exception, never a message of more than one line. What the loader accepts, the later pure
stages (plan, render, flow selection) must handle too: a gap in validation shows up there."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.conftest import REFERENCE
from twin.cli import app
from twin.errors import InputError
from twin.plan.build import build_plan
from twin.plan.flows import plan_flows, static_violations
from twin.policy.load import parse_policy
from twin.policy.model import Policy
from twin.render.topology import render_lab

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
REFERENCE_TEXT = REFERENCE.read_text()
REFERENCE_DATA = yaml.safe_load(REFERENCE_TEXT)

# Pieces of YAML and of policies, glued at random: most results are broken YAML, some are
# policies with one odd value, a few are valid.
TOKENS = [
    *("name: ", "zones:", "subnet: ", "hosts: ", "rules:", "expect:", "services:", "addresses:"),
    *("from: ", "to: ", "action: ", "verdict: ", "service: ", "gateway: ", "address: "),
    *("firewall: ", "defaults: ", "kind: ", "image: ", "log: ", "source: ", "destination: "),
    *("web", "app", "web1", "fw", "any", "allow", "deny", "reject", "block", "tcp/80", "icmp"),
    *("10.1.0.0/24", "10.1.0.5", "10.1.0.1/24", "0.0.0.0/0", "tcp/0-70000", "udp/53"),
    *("\n", "\n  ", "\n    ", "  ", "- ", "{", "}", "[", "]", ", ", ": ", "? ", "|", ">"),
    *(
        "&a ",
        "*a",
        "<<: *a",
        "!!python/object/apply:os.system ",
        "!include ",
        "!!set ",
        "!!binary ",
    ),
    *("---\n", "...\n", "# c\n", "'", '"', "\\", "\\x07", "\t", "\x00", "\x1b[31m", "\u202e"),
    *("é", "\ufeff", "~", "null", "yes", "no", "on", "0x1f", "1e9", "2024-01-01", "-1", ".inf"),
    *("%YAML 1.1\n", "$(reboot)", "; rm -rf /", 'a" accept #', "\r\n", "\u2028"),
]
yamlish = st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), min_size=1, max_size=60).map(
    "".join
)

INTERESTING = st.sampled_from(
    [
        "",
        " ",
        "any",
        "fw",
        "web",
        "web1",
        "tcp",
        "tcp/80",
        "tcp/65536",
        "icmp",
        "10.1.0.0/24",
        "192.168.10.0/24",
        "192.168.10.11",
        "192.168.10.255",
        "10.0.0.0/8",
        "fd00::/64",
        "interzone-default",
        "web; rm -rf /",
        'a" accept #',
        "$(reboot)",
        "x\ny",
        "\x07",
        "w\u0435b",
        "a" * 40,
    ]
)
leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats()
    | st.text(max_size=12)
    | INTERESTING
)
values = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(INTERESTING | st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a data tree (the root excluded)."""
    out: list[tuple[Any, ...]] = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in items:
        out.append((*prefix, key))
        out.extend(paths(child, (*prefix, key)))
    return out


@st.composite
def mutated_reference(draw: st.DrawFn) -> str:
    """The reference policy with one to four edits: a value replaced, a key deleted or added,
    a list item duplicated (same names twice), a key renamed."""
    data = copy.deepcopy(REFERENCE_DATA)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(paths(data)))
        parent: Any = data
        for key in where[:-1]:
            parent = parent[key]
        last = where[-1]
        op = draw(st.sampled_from(["replace", "delete", "add", "duplicate", "rename"]))
        if op == "replace":
            parent[last] = draw(values)
        elif op == "delete":
            del parent[last]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(INTERESTING | st.text(max_size=6))] = draw(values)
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(INTERESTING)] = parent.pop(last)
        if not isinstance(data, dict) or not data:
            break
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=draw(st.booleans()))


@st.composite
def text_edits(draw: st.DrawFn) -> str:
    """The reference file with characters deleted, inserted or replaced at random places."""
    text = REFERENCE_TEXT
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 20))
        text = text[:at] + draw(st.sampled_from(TOKENS) | st.text(max_size=3)) + text[at + cut :]
    return text


def check(raw: str | bytes) -> Policy | None:
    """The property: a Policy (which the pure stages can take all the way) or an InputError
    whose every problem is one line naming the file."""
    try:
        policy = parse_policy(raw, "fuzz.yml")
    except InputError as exc:
        assert exc.problems
        for problem in exc.problems:
            text = str(problem)
            assert text.startswith("fuzz.yml"), text
            assert len(text.splitlines()) == 1 and text.isprintable(), repr(text)
        return None
    plan = build_plan(policy)
    render_lab(plan, "fuzz.yml")
    static_violations(plan_flows(plan))
    return policy


@FUZZ
@given(yamlish)
def test_yamlish_text(text: str) -> None:
    check(text)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(raw: bytes) -> None:
    check(raw)


@FUZZ
@given(mutated_reference())
def test_mutated_reference_policy(text: str) -> None:
    check(text)


@FUZZ
@given(text_edits())
def test_edited_reference_file(text: str) -> None:
    check(text)


def test_the_generators_reach_both_outcomes() -> None:
    """A fuzz test whose inputs are all rejected (or all accepted) proves little: the
    mutations must keep some policies valid and break others."""
    outcomes: set[bool] = set()

    @settings(max_examples=100, deadline=None, database=None)
    @given(mutated_reference())
    def collect(text: str) -> None:
        outcomes.add(check(text) is not None)

    collect()
    assert outcomes == {True, False}


@pytest.fixture
def in_tmp(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=mutated_reference() | text_edits() | yamlish)
def test_cli_never_shows_a_traceback(text: str, in_tmp: Any) -> None:
    """`twin validate` on fuzzed files: exit 0 (valid), 1 (the rules break their own intent)
    or 2 (bad input) — never an exception escaping the CLI."""
    (in_tmp / "p.yml").write_text(text, encoding="utf-8", errors="surrogateescape")
    result = CliRunner().invoke(app, ["validate", "p.yml"])
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code == 2:
        assert result.stdout == ""
        assert all(line.startswith("error: p.yml") for line in result.stderr.splitlines())
