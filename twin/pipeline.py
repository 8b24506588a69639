"""The pipeline, in order. The first three stages are pure; the rest change the machine.

load_policy → build_plan → render_lab  |  deploy → configure → verify → report
"""

from __future__ import annotations

import dataclasses
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from signal import SIGINT, SIGTERM

from twin.configure import (
    configure,
    find_responders,
    responder_spec,
    start_responders,
    stop_process,
    stop_responders,
    wait_ready,
)
from twin.errors import EnvironmentProblem, TwinError, UsageError
from twin.health import check_health
from twin.hostlimits import check_neighbour_table
from twin.lab import Entry, LabState, claim, find_entry, home, load_state, release, write_atomic
from twin.load import load_policy, parse_policy, read_policy_file
from twin.model import LAB_NAME, Policy
from twin.plan import Plan, build_plan
from twin.probes import probe_ports
from twin.provenance import (
    Provenance,
    differences,
    file_sha256,
    mismatch_message,
    running_candidate,
)
from twin.render import render_lab
from twin.runtime import RUNTIMES, Runtime, get_runtime, register
from twin.verify import DEFAULT_TIMEOUT, Verification, verify

__all__ = ["Verification", "down", "load_policy", "open_lab", "prepare", "test", "up"]

PURE_STAGES = (load_policy, build_plan, render_lab)


@dataclass(frozen=True)
class Prepared:
    file: str
    policy: Policy
    plan: Plan
    files: dict[str, str]
    source: bytes = b""  # the policy file as read (the lab keeps this copy, not a re-read)


def prepare(
    file: str | Path, template_dir: Path | None = None, firewall_image: str | None = None
) -> Prepared:
    """load → plan → render, nothing touched. `firewall_image` overrides the policy's."""
    raw = read_policy_file(file)
    policy = parse_policy(raw, str(file))
    plan = build_plan(policy)
    if firewall_image:
        plan = dataclasses.replace(plan, image=firewall_image)
    return Prepared(str(file), policy, plan, render_lab(plan, str(file), template_dir), raw)


def write_lab(prep: Prepared, lab_dir: Path) -> None:
    if lab_dir.exists():
        shutil.rmtree(lab_dir / "configs", ignore_errors=True)
    for rel, text in prep.files.items():
        write_atomic(lab_dir / rel, text)
    write_atomic(lab_dir / "policy.yml", prep.source)


def up(
    file: str | Path,
    runtime_name: str = "auto",
    template_dir: Path | None = None,
    tune_host: bool = False,
    firewall_image: str | None = None,
) -> LabState:
    """Bring a lab up. On any failure or interruption, everything made so far is removed."""
    prep = prepare(file, template_dir, firewall_image)
    runtime = get_runtime(runtime_name)
    tuned = check_neighbour_table(prep.plan, tune_host)
    lab_dir = home() / prep.plan.lab
    claim(prep.plan.lab, lab_dir, runtime.name)
    state = LabState(prep.plan.lab, runtime.name, str(lab_dir), str(Path(file).resolve()))
    if tuned:
        state.extra["host_tuning"] = tuned
    try:
        write_lab(prep, lab_dir)
        state.save()
        runtime.deploy(state)
        configure(runtime, state, prep.plan)
        start_lab_responders(runtime, state, prep.plan)
        wait_ready(runtime, state, prep.plan)
        check_configured(runtime, state, prep.plan)
        state.status = "up"
        state.save()
    except BaseException:
        with signals_deferred():
            left = _teardown(runtime, state)
            if not left:
                shutil.rmtree(lab_dir, ignore_errors=True)
                release(prep.plan.lab)
        raise
    return state


def check_configured(runtime: Runtime, state: LabState, plan: Plan) -> None:
    """Interfaces, addresses and routes as planned: checked, never assumed (containerlab's
    `exec:` failures do not fail a deploy; a half-applied node must not pass for a twin)."""
    health = check_health(runtime, state, plan, responders=False, snapshot=False)
    if not health.ok:
        raise EnvironmentProblem(f"lab {plan.lab} came up wrong: " + "; ".join(health.problems[:5]))


def start_lab_responders(runtime: Runtime, state: LabState, plan: Plan) -> int:
    ports = probe_ports(plan)
    tcp = sorted({p for proto, p in ports if proto == "tcp"})
    udp = sorted({p for proto, p in ports if proto == "udp"})
    state.extra["responder_ports"] = {"tcp": tcp, "udp": udp}
    return start_responders(runtime, state, responder_spec(runtime, state, plan, tcp, udp))


@dataclass(frozen=True)
class Lab:
    """A lab that is up: its state, its runtime, and its plan rebuilt from the deployed copy."""

    state: LabState
    runtime: Runtime
    plan: Plan
    policy_file: str = ""  # the file whose intent `test` judges ("": the lab's own copy)


def open_lab(lab: str | None = None, file: str | Path | None = None) -> Lab:
    if file is not None:
        lab = load_policy(file).name
    entry = find_entry(lab)
    state = load_state(Path(entry.dir))
    runtime = get_runtime(state.runtime)
    plan = build_plan(load_policy(state.path / "policy.yml"))
    return Lab(state, runtime, plan)


def open_to_test(lab: str | None = None, file: str | Path | None = None) -> Lab:
    """The lab and the plan to judge it by: FILE's, intent included, when its zones, hosts and
    rules are what the lab enforces now (else UsageError naming what differs); without FILE,
    the policy the lab enforces."""
    if file is None:
        return open_lab(lab)
    given = load_policy(file)
    opened = open_lab(lab or given.name)
    differ = differences(given, opened.plan.policy)
    if differ:
        candidate = running_candidate(opened.state.path)
        raise UsageError(mismatch_message(str(file), opened.state.lab, differ, candidate))
    if given.name != opened.state.lab:
        given = given.model_copy(update={"name": opened.state.lab})
    return Lab(opened.state, opened.runtime, build_plan(given), str(file))


def provenance(lab: Lab) -> Provenance:
    """The policy file judged (its sha256), the ruleset enforced, a rehearsal candidate."""
    candidate = running_candidate(lab.state.path)
    if lab.policy_file:
        file, sha = lab.policy_file, file_sha256(lab.policy_file)
    else:
        file, sha = candidate or lab.state.policy, file_sha256(lab.state.path / "policy.yml")
    return Provenance(file, sha, lab.state.ruleset_sha256, candidate)


def test(lab: Lab, timeout: float = DEFAULT_TIMEOUT, matrix: str = "auto") -> Verification:
    """Health check, every flow, health check again. An unhealthy twin is never a pass: its
    problems land in `Verification.health` (the CLI exits 3 on them); a twin already broken
    before the run is not probed at all."""
    if lab.state.status != "up":
        raise EnvironmentProblem(f"lab {lab.state.lab} is {lab.state.status}, not up")
    before = check_health(lab.runtime, lab.state, lab.plan)
    if not before.ok:
        raise EnvironmentProblem(
            f"lab {lab.state.lab} is not healthy, so no verdict would be true: "
            + "; ".join(before.problems)
        )
    snap, source = before.snapshot, provenance(lab)
    run = verify(
        lab.runtime, lab.state, lab.plan, timeout, matrix, snapshot=snap, provenance=source
    )
    after = check_health(lab.runtime, lab.state, lab.plan, snapshot=run.snapshot)
    run.health = [f"during the run: {p}" for p in after.problems]
    run.warnings = list(dict.fromkeys([*before.warnings, *after.warnings, *run.warnings]))
    return run


def down(entry: Entry) -> list[str]:
    """Remove a lab completely; returns what is left (empty when all went)."""
    try:
        state = load_state(Path(entry.dir))
    except TwinError:  # lost in a crash before it was written, or corrupt: find by name
        state = LabState(entry.lab, entry.runtime, entry.dir, "", status="lost")
        state.resources = get_runtime(entry.runtime).discover(entry.lab)
        state.add("pid", *(str(p) for p in find_responders(Path(entry.dir))))
    runtime = get_runtime(state.runtime)
    with signals_deferred():
        left = _teardown(runtime, state)
        if not left:
            release(entry.lab)
            if state.path.is_absolute() and state.path.name == entry.lab:
                shutil.rmtree(state.path, ignore_errors=True)
    return left


def down_lost(lab: str) -> list[str]:
    """A lab whose registry entry and state file are both unreadable: what every runtime finds
    by its name is removed, then its responders, then its directory under TWIN_HOME."""
    if not LAB_NAME.fullmatch(lab):
        return [f"registry entry {lab}.json (not a lab name; remove it by hand)"]
    lab_dir = home() / lab
    left: list[str] = []
    register()
    with signals_deferred():
        for name, make in RUNTIMES.items():
            runtime = make()
            if runtime.unavailable() is not None:
                continue
            found = runtime.discover(lab)
            if any(found.values()):
                state = LabState(lab, name, str(lab_dir), "", status="lost", resources=found)
                left += runtime.destroy(state)
        for pid in find_responders(lab_dir):
            stop_process(pid)
        if not left:
            release(lab)
            if (lab_dir / "topology.clab.yml").exists() or (lab_dir / "state.json").exists():
                shutil.rmtree(lab_dir, ignore_errors=True)
    return left


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Clean-up must finish: hold Ctrl-C and SIGTERM until it has (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = {s: signal.signal(s, lambda n, _f: caught.append(n)) for s in (SIGINT, SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if caught:
            signal.raise_signal(caught[0])


def _teardown(runtime: Runtime, state: LabState) -> list[str]:
    stop_responders(state)
    found = find_responders(state.path) if state.path.is_absolute() else []
    for pid in {*state.resources.get("pid", []), *map(str, found)}:  # also one the state
        stop_process(int(pid))  # never recorded (killed between its start and the save)
    return runtime.destroy(state)
