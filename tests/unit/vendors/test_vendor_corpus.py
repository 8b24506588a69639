"""The public corpus (tests/data/vendor-corpus): every file imports, or is refused in one line.

Files the readers do not import yet are listed, with the reason, in
tests/vendor_corpus.py:EXPECTED_FAILURES (xfail here); the list only shrinks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vendor_corpus import CORPUS, EXPECTED_FAILURES, HANGS, VENDORS, corpus_files, run_file

FILES = corpus_files()


def test_corpus_has_twenty_files_per_vendor_each_listed_in_sources() -> None:
    sources = (CORPUS / "SOURCES.md").read_text()
    for vendor in VENDORS:
        mine = [p for p in FILES if p.parent.name == vendor]
        assert len(mine) >= 20, vendor
        for p in mine:
            assert f"| `{p.name}` |" in sources, f"{vendor}/{p.name} is not in SOURCES.md"


def test_expected_failures_name_corpus_files() -> None:
    names = {f"{p.parent.name}/{p.name}" for p in FILES}
    assert set(EXPECTED_FAILURES) <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_file_imports_or_is_refused_in_one_line(path: Path) -> None:
    if EXPECTED_FAILURES.get(f"{path.parent.name}/{path.name}") == HANGS:
        pytest.xfail(HANGS)  # not run: `make vendor-corpus` runs it under a deadline
    outcome = run_file(path)
    if outcome.file in EXPECTED_FAILURES and not outcome.ok:
        pytest.xfail(f"{EXPECTED_FAILURES[outcome.file]}: {outcome.message}")
    assert outcome.ok, f"{outcome.status}: {outcome.message}"
    if outcome.status == "refused":
        assert "\n" not in outcome.message
    else:
        assert outcome.rules == outcome.exact + outcome.approximated + outcome.skipped
