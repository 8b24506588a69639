"""Twin's own files, damaged: the state file (`<lab dir>/state.json`) and the registry entry
(`$TWIN_RUN_DIR/<lab>.json`). A damaged file gives a clear message naming it and the way out,
never a traceback — and is never trusted: `down` deletes the directory they name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.errors import EnvironmentProblem, TwinError, UsageError
from twin.lab.directory import LabDir, home, run_dir
from twin.lab.registry import broken_entries, claim, entries, find_entry, read_entry
from twin.lab.state import LabState, load_state


def saved_state(lab: str = "lab1") -> LabState:
    state = LabState(lab, "netns", str(home() / lab), "/tmp/p.yml", status="up")
    state.add("netns", f"clab-{lab}-fw", f"clab-{lab}-web1")
    state.save()
    return state


def test_a_saved_state_loads_back() -> None:
    state = saved_state()
    assert load_state(state.path) == state


def test_a_state_file_with_the_old_extra_bag_loads_into_typed_fields() -> None:
    state = saved_state()
    data = json.loads(state.files.state.read_text())
    data["extra"] = {
        "pids": {"fw": 101}, "netns": {"fw": 4026532000}, "responder_ports": {"tcp": [22]},
        "host_tuning": "gc_thresh3 raised", "firewall_loaded_via": "ssh",
        "node_setup_by_deploy": True, "privileged": True, "gone": "dropped",
    }  # fmt: skip
    state.files.state.write_text(json.dumps(data))
    loaded = load_state(state.path)
    assert (loaded.container_pids, loaded.netns_inodes) == ({"fw": 101}, {"fw": 4026532000})
    assert loaded.responder_ports == {"tcp": [22]} and loaded.host_tuning == "gc_thresh3 raised"
    assert loaded.firewall_loaded_via == "ssh" and loaded.node_setup_by_deploy and loaded.privileged


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("container_pids", {"fw": "101"}, "container_pids is not a mapping of nodes to numbers"),
        ("netns_inodes", {"fw": True}, "netns_inodes is not a mapping of nodes to numbers"),
        ("responder_ports", {"tcp": [22, "x"]}, "responder_ports['tcp'] is not a list of ports"),
        ("privileged", 1, "field 'privileged' has the wrong type (int)"),
    ],
)
def test_typed_fields_are_checked_inside(field: str, value: object, reason: str) -> None:
    state = saved_state()
    data = json.loads(state.files.state.read_text()) | {field: value}
    state.files.state.write_text(json.dumps(data))
    with pytest.raises(EnvironmentProblem, match=re.escape(reason)):
        load_state(state.path)


CORRUPT_STATES = {
    "empty": (b"", "Expecting value: line 1 column 1 (char 0)"),
    "truncated": (None, "Unterminated string starting at"),
    "binary": (b"\xff\xfe\x00garbage", "not UTF-8 text"),
    "json-list": (b"[1, 2]", "a JSON object expected, found list"),
    "json-null": (b"null", "a JSON object expected, found NoneType"),
    "unknown-field": (b'{"lab": "lab1", "bogus": 1}', "unknown field 'bogus'"),
    "missing-field": (b'{"lab": "lab1"}', "field 'runtime' is missing"),
    "wrong-type": (b'{"lab": "lab1", "resources": "all"}', "field 'resources' has the wrong type"),
    "bool-pid": (b'{"lab": "lab1", "responder_pid": true}', "field 'responder_pid' has the wrong"),
    "deep": (b"[" * 100_000, "a JSON object expected"),
}


@pytest.mark.parametrize("case", CORRUPT_STATES)
def test_a_corrupt_state_file_says_so_and_how_to_get_out(case: str) -> None:
    state = saved_state()
    path = state.path / LabDir.STATE
    content, reason = CORRUPT_STATES[case]
    raw = path.read_bytes()  # truncated: cut inside the string "lab1"
    path.write_bytes(raw[: raw.index(b'"lab1"') + 3] if content is None else content)
    with pytest.raises(EnvironmentProblem) as exc:
        load_state(state.path)
    message = str(exc.value)
    assert message.startswith(f"{path}: state file is corrupt (")
    assert message.endswith(
        "`twin down --lab lab1` still removes the lab (it finds the lab's nodes by name)"
    )
    if case != "deep":  # json's own wording for 100,000 brackets is its business
        assert reason in message
    assert len(message.splitlines()) == 1


def test_a_state_file_naming_another_directory_is_not_trusted() -> None:
    """`down` deletes the state's `dir`: a state file saying `/` must never get that far."""
    state = saved_state()
    data = json.loads((state.path / LabDir.STATE).read_text())
    for evil in ({"dir": "/"}, {"lab": "other"}, {"dir": str(home() / "other")}):
        (state.path / LabDir.STATE).write_text(json.dumps({**data, **evil}))
        with pytest.raises(EnvironmentProblem, match=r"state file is corrupt \(it belongs to lab"):
            load_state(state.path)


def test_an_unreadable_state_file_is_an_environment_problem() -> None:
    state = saved_state()
    (state.path / LabDir.STATE).unlink()
    (state.path / LabDir.STATE).mkdir()
    with pytest.raises(EnvironmentProblem, match=r"state file is corrupt \(Is a directory"):
        load_state(state.path)


def test_a_missing_state_file_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no such state file"):
        load_state(home() / "never")


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_in_a_state_file_load_or_raise_a_twin_error(raw: bytes) -> None:
    lab_dir = home() / "fuzz"
    lab_dir.mkdir(parents=True, exist_ok=True)
    (lab_dir / LabDir.STATE).write_bytes(raw)
    try:
        load_state(lab_dir)
    except TwinError as exc:
        assert len(str(exc).splitlines()) == 1


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.dictionaries(
        st.sampled_from(["lab", "runtime", "dir", "policy", "status", "resources", "extra", "x"]),
        st.none()
        | st.booleans()
        | st.integers()
        | st.text(max_size=8)
        | st.lists(st.text(max_size=3))
        | st.dictionaries(st.text(max_size=3), st.lists(st.text(max_size=3)) | st.integers()),
    )
)
def test_any_json_in_a_state_file_loads_or_raises_a_twin_error(data: dict[str, object]) -> None:
    good = {"lab": "fuzz", "runtime": "netns", "dir": str(home() / "fuzz"), "policy": "p"}
    lab_dir = home() / "fuzz"
    lab_dir.mkdir(parents=True, exist_ok=True)
    (lab_dir / LabDir.STATE).write_text(json.dumps({**good, **data}))
    try:
        state = load_state(lab_dir)
    except TwinError as exc:
        assert len(str(exc).splitlines()) == 1
        return
    assert (state.lab, Path(state.dir)) == ("fuzz", lab_dir)
    assert all(isinstance(v, list) for v in state.resources.values())


# --- the registry ------------------------------------------------------------------------------


def test_a_registry_entry_reads_back() -> None:
    entry = claim("lab1", home() / "lab1", "netns")
    assert read_entry(entry.path) == entry
    assert entries() == [entry]
    assert broken_entries() == []


GARBAGE_ENTRIES = {
    "empty": b"",
    "binary": b"\x00\xff",
    "truncated": b'{"lab": "lab1", "di',
    "list": b"[]",
    "other-lab": b'{"lab": "lab2", "dir": "/x/lab2", "runtime": "netns"}',
    "root-dir": b'{"lab": "lab1", "dir": "/", "runtime": "netns"}',
    "relative-dir": b'{"lab": "lab1", "dir": "lab1", "runtime": "netns"}',
    "odd-runtime": b'{"lab": "lab1", "dir": "/x/lab1", "runtime": "../../bin/sh"}',
}


@pytest.mark.parametrize("case", GARBAGE_ENTRIES)
def test_a_damaged_registry_entry_is_rebuilt_from_the_state_file(case: str) -> None:
    state = saved_state()
    entry = claim("lab1", state.path, "netns")
    entry.path.write_bytes(GARBAGE_ENTRIES[case])

    (rebuilt,) = entries()
    assert (rebuilt.lab, rebuilt.dir, rebuilt.runtime) == ("lab1", state.dir, "netns")
    assert rebuilt.problem.endswith("; rebuilt from state.json")
    assert find_entry("lab1") == rebuilt
    assert broken_entries() == []


@pytest.mark.parametrize("case", GARBAGE_ENTRIES)
def test_a_damaged_registry_entry_without_a_state_file_is_reported_not_trusted(case: str) -> None:
    entry = claim("lab1", home() / "lab1", "netns")
    entry.path.write_bytes(GARBAGE_ENTRIES[case])

    assert entries() == []
    ((path, problem),) = broken_entries()
    assert path == run_dir() / "lab1.json" and problem
    with pytest.raises(UsageError) as exc:
        find_entry("lab1")
    assert str(exc.value) == (
        f"{path}: the registry entry of lab 'lab1' cannot be read ({problem}); "
        "`twin down --all` removes it and what it names"
    )
    with pytest.raises(UsageError, match=r"has a registry entry that cannot be read .*down --all"):
        claim("lab1", home() / "lab1", "netns")


def test_home_is_absolute_even_when_twin_home_is_relative(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TWIN_HOME", "rel")
    assert home() == tmp_path / "rel"
