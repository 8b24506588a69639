"""Input read with a bound, errors listed with a cap: one line and exit 2, never a hang.

`twin validate /dev/zero` read without limit (the size check ran after reading the whole
file); a FIFO as the policy file blocked forever; 60,000 bad zones printed 60,000 lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from twin.errors import InputError, UsageError
from twin.files import check_output, read_regular


def twin(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "twin", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def one_line(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    (line,) = res.stderr.splitlines()
    return line


@pytest.mark.parametrize(
    ("make", "says"),
    [
        pytest.param(lambda tmp: Path("/dev/zero"), "is a device, not a regular file", id="zero"),
        pytest.param(lambda tmp: Path("/dev/null"), "is a device, not a regular file", id="null"),
        pytest.param(lambda tmp: tmp, "is a directory", id="directory"),
        pytest.param(
            lambda tmp: (os.mkfifo(tmp / "p.yml"), tmp / "p.yml")[1], "is a FIFO", id="fifo"
        ),
    ],
)
@pytest.mark.parametrize("command", ["validate", "up", "diff", "import"])
def test_policy_input_is_a_regular_file(tmp_path: Path, make, says: str, command: str) -> None:
    path = make(tmp_path)
    args = {
        "diff": ["diff", str(path), str(path)],
        "import": ["import", "panos", str(path)],  # a vendor configuration, read the same way
    }.get(command, [command, str(path)])
    line = one_line(twin(*args, cwd=tmp_path))
    assert line.startswith(f"error: {path}: {says}"), line
    assert not (tmp_path / "home").exists() and not (tmp_path / "run").exists()


def test_size_is_checked_while_reading(tmp_path: Path) -> None:
    small = tmp_path / "p.yml"
    small.write_bytes(b"x" * 100)
    assert read_regular(small, 100) == b"x" * 100
    with pytest.raises(InputError) as exc:
        read_regular(small, 99)
    assert "file is 100 bytes; the limit is 99" in str(exc.value)


def test_sixty_thousand_bad_zones_print_twenty_lines_and_a_count(tmp_path: Path) -> None:
    body = "".join(f"  z{i}: {{subnet: 10.0.0.0/24}}\n" for i in range(60_000))
    (tmp_path / "big.yml").write_text("name: big\nzones:\n" + body)
    res = twin("validate", "big.yml", cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 21
    assert lines[0] == (
        "error: big.yml:3: zones.z0: missing key 'hosts' (hint: add hosts: [web1, web2])"
    )
    assert lines[-1] == "error: and 59,980 more problems (the first 20 are shown)"


# --- output paths -------------------------------------------------------------------------


def test_output_paths_are_checked_and_nothing_is_created(tmp_path: Path) -> None:
    check_output(tmp_path / "new.json", "--json")  # a new file in an existing directory
    assert not (tmp_path / "new.json").exists()
    existing = tmp_path / "old.json"
    existing.write_text("keep")
    check_output(existing, "--json")
    assert existing.read_text() == "keep"  # opened to check, never truncated
    check_output(Path("/dev/null"), "--junit")
    os.mkfifo(tmp_path / "fifo")
    bad = {
        tmp_path / "missing" / "x.xml": f"{tmp_path / 'missing'} does not exist",
        existing / "x.xml": f"{existing} is not a directory",
        tmp_path: "is a directory; name a file",
        tmp_path / "fifo": "nothing reads from it",
    }
    for path, says in bad.items():
        with pytest.raises(UsageError) as exc:
            check_output(path, "--junit")
        assert str(exc.value).startswith(f"--junit {path}: ") and says in str(exc.value)
    assert not (tmp_path / "missing").exists()


def test_render_creates_the_directory_it_is_given_and_no_parent(tmp_path: Path) -> None:
    reference = str(ROOT / "topologies" / "zero-trust-6zone.yml")
    res = twin("render", reference, "-o", str(tmp_path / "missing" / "out"), cwd=tmp_path)
    assert one_line(res).startswith(f"error: -o {tmp_path / 'missing' / 'out'}: ")
    assert not (tmp_path / "missing").exists()
    res = twin("render", reference, "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out" / "topology.clab.yml").is_file()
