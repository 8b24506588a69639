"""Output that is read later (issue 11): written to a file, a pipe or a CI log, no identifier is
cut (`no-lateral-t…`) or wrapped over lines, and no progress line is mixed in; on a terminal,
a progress line goes to standard error while the work runs."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import REFERENCE, ROOT

LONG = "temporary-exception-web-to-database-postgres-ticket-12345"  # 57 characters


def long_named(data: dict) -> None:
    data["rules"].insert(0, {"name": LONG, "from": "web", "to": "db", "services": ["postgres"],
                             "action": "allow"})  # fmt: skip
    data["expect"].append({"name": "no-lateral-traffic-from-web-to-the-database-zone",
                           "from": "web", "to": "db", "service": "postgres",
                           "verdict": "block"})  # fmt: skip


def test_piped_tables_cut_and_wrap_no_name(make_policy: Callable[..., Path]) -> None:
    candidate = make_policy(long_named)
    res = subprocess.run(
        [sys.executable, "-m", "twin", "diff", str(REFERENCE), str(candidate)],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env={**os.environ, "COLUMNS": "80"},  # an 80-column CI log is no reason to cut
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "…" not in res.stdout
    rows = [line for line in res.stdout.splitlines() if LONG in line]
    assert len(rows) == 3  # two intent lines broken, one class newly allowed: a row each
    assert all("interzone-default (deny) → " + LONG + " (allow)" in row for row in rows)
    assert any(
        row.startswith("│ no-lateral-traffic-from-web-to-the-database-zone │") for row in rows
    )
    assert res.stderr == ""  # no progress line either: standard error is not a terminal


def on_a_terminal(args: list[str]) -> tuple[int, str, str]:
    """Run twin with standard error on a pseudo-terminal (standard output a pipe)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin", *args], stdout=subprocess.PIPE, stderr=slave, cwd=ROOT,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )  # fmt: skip
    os.close(slave)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
        out = proc.stdout.read().decode() if proc.stdout else ""
        proc.wait(timeout=60)
        if proc.stdout:
            proc.stdout.close()
    return proc.returncode, out, seen.decode(errors="replace")


def test_progress_goes_to_a_terminal_on_stderr_and_never_to_stdout(
    make_policy: Callable[..., Path],
) -> None:
    code, out, err = on_a_terminal(["diff", str(REFERENCE), str(make_policy(long_named))])
    assert code == 1
    assert f"comparing {REFERENCE}" in err  # the progress line, on the terminal
    assert "comparing" not in out and LONG in out  # the report: on standard output, whole
