"""The responders: one detached process that answers on every host's service ports (TCP
listeners, UDP echo), so allowed flows complete a real handshake; found and stopped by pid,
never by name."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from twin.errors import EnvironmentProblem, last_line
from twin.lab.directory import LabDir, write_atomic
from twin.lab.state import LabState
from twin.runtime.base import Runtime

if TYPE_CHECKING:  # teardown imports this module: `twin down` builds no plan
    from twin.plan.plan import Plan

TRAFFIC_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the traffic package


def responder_spec(
    runtime: Runtime, state: LabState, plan: Plan, tcp: list[int], udp: list[int]
) -> dict[str, object]:
    return {
        "ready": str(state.files.responder_ready),
        "nodes": [
            {
                "netns": runtime.netns(state, h.name),
                "addresses": [str(a) for a in h.addresses],
                "tcp": tcp,
                "udp": udp,
            }
            for h in plan.hosts
        ],
    }


def start_responders(
    runtime: Runtime, state: LabState, spec: dict[str, object], timeout: float = 10.0
) -> int:
    """Start the responder process (detached: it outlives `twin up`); return its pid."""
    stop_responders(state)
    spec_path = state.files.responder_spec
    write_atomic(spec_path, json.dumps(spec, indent=1))
    ready = Path(str(spec["ready"]))
    ready.unlink(missing_ok=True)
    log_flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(state.files.responder_log, log_flags, 0o644), "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "traffic.responder", str(spec_path)],
            cwd=TRAFFIC_ROOT,
            env={**os.environ, "PYTHONPATH": str(TRAFFIC_ROOT)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    state.responder_pid = proc.pid
    state.add("pid", str(proc.pid))
    state.save()
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if proc.poll() is not None:
            tail = last_line(state.files.responder_log.read_text())
            raise EnvironmentProblem(f"responder exited ({proc.returncode}): {tail}")
        if time.monotonic() > deadline:
            raise EnvironmentProblem(f"responder not ready after {timeout:.0f} s")
        time.sleep(0.005)
    return proc.pid


def _is_responder(pid: int, lab_dir: Path | None = None) -> bool:
    """Is `pid` a twin responder (of that lab)? Never signal a pid that was reused."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    args = cmdline.split(b"\0")  # whole arguments: /a/adv1 must not match /b/a/adv1 or adv10
    mine = b"traffic.responder" in args
    return mine and (lab_dir is None or str(LabDir(lab_dir).responder_spec).encode() in args)


def responder_alive(state: LabState) -> bool:
    return bool(state.responder_pid) and _is_responder(state.responder_pid, state.path)


def find_responders(lab_dir: Path) -> list[int]:
    """Responder processes of a lab whose state file was lost."""
    return [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and _is_responder(int(p.name), lab_dir)
    ]


def stop_process(pid: int, lab_dir: Path | None = None) -> None:
    """SIGTERM a responder (of the lab in `lab_dir`), SIGKILL it if it lingers; anything else
    is left alone (a state file may name any pid)."""
    if not _is_responder(pid, lab_dir):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    for _ in range(200):
        if not _is_responder(pid):
            return
        time.sleep(0.005)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def stop_responders(state: LabState) -> None:
    if state.responder_pid:
        stop_process(state.responder_pid, state.path)
