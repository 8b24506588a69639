"""A Docker daemon that stops answering (Docker Engine before 20.10.27 deadlocks when containers
leave a network together, moby/moby#42545) must not hang twin: every command ends with exit 3
and one line saying what did not answer and how to recover. The daemon is stood in for by a
`docker` script earlier on PATH; removals go one at a time, one process at a time."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from twin.errors import EnvironmentProblem, UsageError
from twin.runtime import dockercli
from twin.runtime.dockercli import affected, hung_message

DEADLOCKS_AT_RUN = """#!/bin/sh
# an engine that deadlocks at the first `docker run`: until then it answers (the image is
# there, no container is), from then on only `docker version` does
case "$1" in
  version) echo 20.10.24+dfsg1; exit 0;;
  run) touch "$0.hung";;
esac
if [ -e "$0.hung" ]; then exec sleep 3600; fi
"""
ANSWERS_NOTHING = "#!/bin/sh\nexec sleep 3600\n"
RECORDS = """#!/bin/sh
# answers at once, `rm` after a short while; writes when each call starts and ends
echo "start $* $(date +%s%N)" >> "$DOCKER_LOG"
if [ "$1" = rm ]; then sleep 0.05; fi
echo "end $* $(date +%s%N)" >> "$DOCKER_LOG"
"""


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    dockercli.forget()
    yield
    dockercli.forget()


def fake_docker(tmp_path: Path, script: str) -> dict[str, str]:
    """The environment of a twin whose `docker` is `script`, with a 2 s deadline."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(script)
    (bin_dir / "docker").chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        dockercli.TIMEOUT_ENV: "2",
    }


def twin(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # the timeout is the test's guard: twin must end well before it
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def one_line(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 3, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    return lines[0]


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the docker runtime needs root")


def test_up_status_down_on_a_daemon_that_stopped_answering(make_policy, tmp_path) -> None:
    need_root()
    policy = make_policy()
    lab = policy.stem
    env = fake_docker(tmp_path, DEADLOCKS_AT_RUN)
    line = one_line(twin(env, "up", str(policy), "--runtime", "docker", cwd=tmp_path))
    assert "the Docker daemon did not answer `docker run` within 2 s" in line
    assert "Docker Engine 20.10.24+dfsg1 deadlocks" in line and "moby/moby#42545" in line
    assert "restart the daemon (`systemctl restart docker`" in line
    assert line.endswith(f"then run `twin down --lab {lab}`")
    # up kept its registry entry: status and down find the lab, and end the same way
    line = one_line(twin(env, "status", cwd=tmp_path))
    assert "did not answer `docker inspect` within 2 s" in line and "moby/moby#42545" in line
    line = one_line(twin(env, "status", "--lab", lab, cwd=tmp_path))
    assert "did not answer `docker inspect` within 2 s" in line
    line = one_line(twin(env, "down", "--lab", lab, cwd=tmp_path))
    assert "did not answer `docker ps` within 2 s" in line
    assert line.endswith(f"then run `twin down --lab {lab}`")
    # the daemon answers again: down removes what up left (no container was created)
    real = {**env, "PATH": os.environ["PATH"]}
    if dockercli.docker(["version"], timeout=20).ok:
        res = twin(real, "down", "--lab", lab, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert not (tmp_path / "run" / f"{lab}.json").exists()


def test_a_daemon_that_answers_nothing(make_policy, tmp_path) -> None:
    need_root()
    policy = make_policy()
    env = fake_docker(tmp_path, ANSWERS_NOTHING)
    for runtime in ("docker", "auto"):
        line = one_line(twin(env, "up", str(policy), "--runtime", runtime, cwd=tmp_path))
        assert "the Docker daemon did not answer `docker version` within 2 s" in line
    line = one_line(twin(env, "down", "--all", cwd=tmp_path))
    assert "did not answer `docker version` within 2 s" in line


def test_the_message_names_the_bug_for_the_versions_that_have_it() -> None:
    assert affected("20.10.24+dfsg1") and affected("20.10.26") and affected("19.03.15")
    assert not affected("20.10.27") and not affected("23.0.1") and not affected("28.2.2")
    assert not affected("") and not affected("dev")
    assert "deadlocks" in hung_message("rm", 60, "20.10.24+dfsg1", "a")
    fixed = hung_message("rm", 60, "24.0.7", "a")
    assert "(Docker Engine 24.0.7)" in fixed and "42545" not in fixed
    unknown = hung_message("rm", 60, "")
    assert "before 20.10.27 may have deadlocked" in unknown and "twin status" in unknown


def test_after_one_call_missed_its_deadline_the_next_fails_at_once(tmp_path, monkeypatch):
    env = fake_docker(tmp_path, ANSWERS_NOTHING)
    monkeypatch.setenv("PATH", env["PATH"])
    monkeypatch.setenv(dockercli.TIMEOUT_ENV, "0.5")
    with pytest.raises(dockercli.DaemonHung, match=r"`docker ps` within 0\.5 s"):
        dockercli.docker(["ps", "--all"])
    started = time.monotonic()
    with (
        pytest.raises(dockercli.DaemonHung, match=r"`docker ps` within 0\.5 s") as caught,
        dockercli.about("lab1"),
    ):
        dockercli.docker(["rm", "x"])
    assert time.monotonic() - started < 0.5
    assert str(caught.value).endswith("`twin down --lab lab1`")


def test_a_bad_timeout_setting_is_bad_input(monkeypatch) -> None:
    monkeypatch.setenv(dockercli.TIMEOUT_ENV, "soon")
    with pytest.raises(UsageError, match=r"TWIN_DOCKER_TIMEOUT='soon' is not a number"):
        dockercli.default_timeout()


def test_removals_one_at_a_time_also_across_processes(tmp_path) -> None:
    """Two twin processes removing five containers each: no two `docker rm` overlap."""
    env = fake_docker(tmp_path, RECORDS)
    env["DOCKER_LOG"] = str(tmp_path / "calls.log")
    code = (
        "import sys; from pathlib import Path; from twin.runtime import dockercli; "
        "dockercli.REMOVE_LOCK = Path(sys.argv[1]); "
        "from twin.runtime.docker import remove_containers; "
        "remove_containers([f'{sys.argv[2]}{i}' for i in range(5)])"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "rm.lock"), who], env=env, cwd=tmp_path
        )
        for who in ("a", "b")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    spans: dict[str, list[int]] = {}
    for line in (tmp_path / "calls.log").read_text().splitlines():
        _, verb, *args = line.split()
        if verb == "rm":
            spans.setdefault(args[-2], []).append(int(args[-1]))
    assert sorted(spans) == [f"{w}{i}" for w in "ab" for i in range(5)]  # one call per name
    ordered = sorted(spans.values())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ordered))


def test_a_removal_waits_for_another_processes_turn(tmp_path, monkeypatch) -> None:
    lock = tmp_path / "rm.lock"
    monkeypatch.setattr(dockercli, "REMOVE_LOCK", lock)
    monkeypatch.setenv(dockercli.TIMEOUT_ENV, "0.5")
    holder = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:  # a holder that makes no progress: the waiter gives up, saying why
        with (
            pytest.raises(EnvironmentProblem, match=r"removed no container for 0\.5 s"),
            dockercli.removal_turn(),
        ):
            pass

        # a holder that makes progress, then is done: the waiter gets its turn
        def work() -> None:
            for _ in range(8):
                time.sleep(0.1)
                os.utime(holder)
            os.close(holder)

        thread = threading.Thread(target=work)
        thread.start()
        with dockercli.removal_turn() as progress:
            progress()
        thread.join()
    finally:
        with contextlib.suppress(OSError):  # closed by the thread
            os.close(holder)
