"""The run store keeps runs outside the lab directory and removes only its own run folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twin.errors import UsageError
from twin.lab.runstore import RunFiles, find_run, list_runs, new_run, own_run, prune, run_id, store


def made(home: Path, lab: str, when: float) -> RunFiles:
    files = new_run(home, lab, when)
    files.meta.write_text(json.dumps({"id": files.id, "lab": lab}))
    return files


def test_ids_sort_by_time_name_the_lab_and_never_collide(tmp_path: Path) -> None:
    assert run_id("zt6", 0.5) == "19700101T000000.500Z-zt6"
    a, b = made(tmp_path, "zt6", 100.0), made(tmp_path, "zt6", 100.0)  # the same millisecond
    assert (a.id, b.id) == ("19700101T000140.000Z-zt6", "19700101T000140.001Z-zt6")
    c = made(tmp_path, "lab2", 50.0)
    assert [r.id for r in list_runs(tmp_path)] == [c.id, a.id, b.id]
    assert [r.id for r in list_runs(tmp_path, "zt6")] == [a.id, b.id] and b.lab == "zt6"
    assert store(tmp_path).name == "twin-runs"  # a '-': never a lab directory's name


def test_prune_removes_the_oldest_of_the_lab_and_nothing_it_does_not_own(tmp_path: Path) -> None:
    runs = [made(tmp_path, "zt6", float(t)) for t in range(5)]
    other = made(tmp_path, "lab2", 1.0)
    where = store(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "meta.json").write_text(json.dumps({"id": "19700101T000000.001Z-zt6"}))
    (where / "19700101T000000.001Z-zt6").symlink_to(outside)  # a link named like a run
    lying = where / "19700101T000000.002Z-zt6"
    lying.mkdir()
    (lying / "meta.json").write_text(json.dumps({"id": "something else"}))
    stray = where / "notes"
    stray.mkdir()
    assert prune(tmp_path, "zt6", 2) == [r.id for r in runs[:3]]
    assert [r.id for r in list_runs(tmp_path, "zt6")] == [r.id for r in runs[3:]]
    assert outside.is_dir() and (outside / "meta.json").exists()  # never followed
    assert lying.is_dir() and stray.is_dir() and other.path.is_dir()
    assert not own_run(where / "19700101T000000.001Z-zt6") and not own_run(lying)


def test_find_run_refuses_what_is_not_a_run_id(tmp_path: Path) -> None:
    for bad in ("../etc", "x", "19700101T000000.000Z-a-b"):
        with pytest.raises(UsageError, match="not a run id"):
            find_run(tmp_path, bad)
    with pytest.raises(UsageError, match=r"no run 19700101T000000\.000Z-zt6"):
        find_run(tmp_path, "19700101T000000.000Z-zt6")
    kept = made(tmp_path, "zt6", 0.0)
    assert find_run(tmp_path, kept.id).path == kept.path
