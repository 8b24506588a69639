"""The pipeline, in order. The first three stages are pure; the rest change the machine.

load_policy → build_plan → render_lab  |  deploy → configure → verify → report
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from twin.analysis.compare import deployable
from twin.analysis.walkplan import WalkPlan
from twin.deploy.configure import configure, wait_ready
from twin.deploy.health import check_health
from twin.deploy.hostlimits import check_neighbour_table
from twin.deploy.responders import (
    find_responders,
    responder_spec,
    start_responders,
    stop_process,
    stop_responders,
)
from twin.deploy.running import Lab, open_lab
from twin.deploy.teardown import down, down_lost, signals_deferred
from twin.errors import EnvironmentProblem, InputError, NotUp, Problem, TwinError, UsageError
from twin.firewalls.table import unsupported
from twin.lab.directory import TOPOLOGY, LabDir, home, run_dir, write_atomic
from twin.lab.registry import claim, find_entry, release
from twin.lab.runstore import DEFAULT_KEEP
from twin.lab.state import LabState, testing
from twin.plan.build import build_plan
from twin.plan.flows import probe_ports
from twin.plan.plan import Plan
from twin.plan.sweep import SweepTarget
from twin.policy.load import load_policy, parse_policy
from twin.policy.model import Policy
from twin.policy.source import dotted, line_of, read_policy_file, read_yaml
from twin.policy.syntax import LAB_NAME
from twin.render.topology import render_lab
from twin.runtime.base import Runtime
from twin.runtime.dockercli import DaemonHung
from twin.runtime.registry import get_runtime
from twin.verify.paths import check_paths
from twin.verify.provenance import (
    Provenance,
    differences,
    judged,
    mismatch_message,
    read_source,
    running_candidate,
)
from twin.verify.runs import begin_run, drop_run, finish_run, log_records
from twin.verify.sweep import add_sweep, run_sweep
from twin.verify.verify import DEFAULT_TIMEOUT, Verification, verify
from twin.verify.walk import LiveWalk, walk_live

__all__ = [
    "Verification", "down", "down_lost", "load_policy", "open_lab", "prepare", "signals_deferred",
    "test", "up",
]  # fmt: skip

SETTLE = 3.0  # seconds a new twin has to show every link up before `up` calls it wrong


@dataclass(frozen=True)
class Prepared:
    file: str
    policy: Policy
    plan: Plan
    files: dict[str, str]
    source: bytes = b""  # the policy file as read (the lab keeps this copy, not a re-read)


def prepare(
    file: str | Path,
    template_dir: Path | None = None,
    firewall_image: str | None = None,
    lab: str | None = None,
) -> Prepared:
    """load → plan → render, nothing touched. `firewall_image` overrides the policy's image,
    `lab` its name (then the lab keeps the policy as validated, under that name)."""
    raw = read_policy_file(file)
    policy = parse_policy(raw, str(file))
    cannot = unsupported(policy)
    if cannot:
        _, lines = read_yaml(raw, str(file))
        raise InputError(
            [Problem(str(file), line_of(lines, p), dotted(p), msg, hint) for p, msg, hint in cannot]
        )
    if lab is not None and lab != policy.name:
        if not LAB_NAME.fullmatch(lab):
            raise UsageError(f"--lab {lab!r} is not a lab name (1-20 of a-z 0-9, no '-')")
        policy = policy.model_copy(update={"name": lab})
        dump = policy.model_dump(mode="json", by_alias=True, exclude_unset=True)
        raw = (json.dumps(dump, indent=1) + "\n").encode()  # JSON is YAML: `load` reads it
    plan = build_plan(policy)
    if firewall_image:
        plan = dataclasses.replace(plan, image=firewall_image)
    return Prepared(str(file), policy, plan, render_lab(plan, str(file), template_dir), raw)


def write_lab(prep: Prepared, lab_dir: Path, only: str = "", skip: str = "") -> None:
    """Into a real directory (`up` refused a link); a link inside is removed, never followed.
    Every rendered file (or `only` that one, or all but `skip`), then the policy as validated."""
    if not skip:
        lab_dir.mkdir(exist_ok=True)
        for entry in lab_dir.iterdir():
            if entry.is_symlink():
                entry.unlink()
        shutil.rmtree(LabDir(lab_dir).configs, ignore_errors=True)
    made: set[Path] = set()
    for rel, text in prep.files.items():  # a fresh configs/: plain writes (2,000 files at scale)
        if (only and rel != only) or rel == skip:
            continue
        path = lab_dir / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_text(text)
    if not only:
        write_atomic(LabDir(lab_dir).policy, prep.source)


def up(
    file: str | Path,
    runtime_name: str = "auto",
    template_dir: Path | None = None,
    tune_host: bool = False,
    firewall_image: str | None = None,
    *,
    lab: str | None = None,
    stage: Callable[[str], None] = lambda _: None,
) -> LabState:
    """Bring a lab up (named `lab`, default the policy's name). On any failure or interruption,
    everything made so far is removed. `stage` is told each step as it starts (progress)."""
    prep = prepare(file, template_dir, firewall_image, lab)
    runtime = get_runtime(runtime_name)
    tuned = check_neighbour_table(prep.plan, tune_host)
    lab_dir = lab_home(prep.plan.lab)
    claim(prep.plan.lab, lab_dir, runtime.name)
    state = LabState(prep.plan.lab, runtime.name, str(lab_dir), str(Path(file).resolve()))
    if tuned:
        state.host_tuning = tuned
    try:
        stage(f"lab {prep.plan.lab}: building {len(prep.plan.nodes)} nodes on {runtime.name}")
        if runtime.topology_only:  # the other files are written while the runtime builds
            write_lab(prep, lab_dir, only=TOPOLOGY)
            state.save()
            deploy_while(runtime, state, lambda: write_lab(prep, lab_dir, skip=TOPOLOGY))
        else:
            write_lab(prep, lab_dir)
            state.save()
            runtime.deploy(state)
        stage(f"lab {prep.plan.lab}: configuring the nodes and the firewall")
        configure(runtime, state, prep.plan)
        stage(f"lab {prep.plan.lab}: starting the responders")
        start_lab_responders(runtime, state, prep.plan)
        wait_ready(runtime, state, prep.plan)
        stage(f"lab {prep.plan.lab}: checking interfaces, addresses and routes")
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


def lab_home(lab: str) -> Path:
    """Where `up` keeps the lab's files, checked before anything is claimed: a twin home that
    can be written, and no symbolic link (nor anything else) where the lab directory goes."""
    where = home()
    if where.exists():
        if not where.is_dir():
            raise UsageError(f"twin home {where} is not a directory (set TWIN_HOME to one)")
    elif not where.parent.is_dir():
        raise UsageError(
            f"twin home {where}: {where.parent} does not exist (set TWIN_HOME to a directory)"
        )
    else:
        try:
            where.mkdir()  # TWIN_HOME itself, never its parents
        except OSError as exc:
            raise EnvironmentProblem(
                f"twin home {where} cannot be created ({exc.strerror}); "
                "set TWIN_HOME to a writable directory"
            ) from None
    if not os.access(where, os.W_OK | os.X_OK):
        raise EnvironmentProblem(
            f"twin home {where} cannot be written (set TWIN_HOME to a writable directory)"
        )
    lab_dir = where / lab
    if lab_dir.is_symlink():
        raise UsageError(
            f"{lab_dir} is a symbolic link: twin keeps a lab's files in a real directory and "
            "never writes through a link; remove the link (or set TWIN_HOME elsewhere)"
        )
    if lab_dir.exists() and not lab_dir.is_dir():
        raise UsageError(f"{lab_dir} is not a directory; move it away first")
    return lab_dir


def deploy_while(runtime: Runtime, state: LabState, work: Callable[[], None]) -> None:
    """`runtime.deploy(state)` in a thread of its own while `work` runs here. The thread is
    always waited for, with signals held: a Ctrl-C must not leave it building past the clean-up
    (nor land between its start and its bookkeeping)."""
    errors: list[BaseException] = []

    def build() -> None:
        try:
            runtime.deploy(state)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=build, name="twin-deploy")
    try:
        with signals_deferred():  # a signal held here is raised on leaving: inside the try
            thread.start()
        work()
    finally:
        if thread.ident is not None:
            with signals_deferred():
                thread.join()
    if errors:
        raise errors[0]


def check_configured(runtime: Runtime, state: LabState, plan: Plan) -> None:
    """Interfaces, addresses and routes as planned: checked, never assumed (containerlab's
    `exec:` failures do not fail a deploy; a half-applied node must not pass for a twin)."""
    deadline = time.monotonic() + SETTLE
    while True:  # a link's operational state follows its carrier up to ~1 s late (linkwatch)
        health = check_health(runtime, state, plan, responders=False, snapshot=False)
        if health.ok or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if not health.ok:
        raise EnvironmentProblem(f"lab {plan.lab} came up wrong: " + "; ".join(health.problems[:5]))


def start_lab_responders(runtime: Runtime, state: LabState, plan: Plan) -> int:
    ports = probe_ports(plan)
    tcp = sorted({p for proto, p in ports if proto == "tcp"})
    udp = sorted({p for proto, p in ports if proto == "udp"})
    state.responder_ports = {"tcp": tcp, "udp": udp}
    return start_responders(runtime, state, responder_spec(runtime, state, plan, tcp, udp))


def open_to_test(lab: str | None = None, file: str | Path | None = None) -> Lab:
    """The lab and the plan to judge it by: with FILE, the lab's own plan (what it builds and
    enforces) judged by FILE's intent, provided FILE's zones, hosts and rules are what the lab
    enforces now (else UsageError naming what differs); without FILE, the policy the lab
    enforces. FILE is read once: what is judged is what is hashed."""
    if file is None:
        return open_lab(lab)
    raw = read_policy_file(file)
    given = parse_policy(raw, str(file))
    try:
        opened = open_lab(lab or given.name)
    except NotUp as exc:
        if lab is not None:
            raise
        try:  # FILE named otherwise (a candidate, a copy): the only lab up, as rehearse does
            opened = open_lab(None)
        except (NotUp, UsageError):
            raise NotUp(
                f"{exc}; {file} names lab {given.name}: give --lab NAME to judge it on another"
            ) from None
    name = opened.state.lab
    if given.name != name:
        given = given.model_copy(update={"name": name})
    mine = build_plan(given)
    differ = differences(mine, opened.plan)
    if any(differ):
        candidate = running_candidate(opened.state.path)
        renamed = given.name != parse_policy(raw, str(file)).name
        raise UsageError(mismatch_message(str(file), name, differ, candidate, renamed))
    # the lab's layout (zone order, ports, bridges) with FILE's policy: its intent, its names
    judge = dataclasses.replace(opened.plan, policy=given)
    return Lab(opened.state, opened.runtime, judge, str(file), raw)


def provenance(lab: Lab) -> Provenance:
    """The policy file judged (its sha256), the ruleset enforced, a rehearsal candidate."""
    candidate = running_candidate(lab.state.path)
    if lab.policy_file:
        return judged(lab.policy_file, lab.state.ruleset_sha256, candidate, lab.policy_source)
    copy = lab.state.files.policy  # the lab's copy of what it enforces
    origin = candidate or lab.state.policy
    return judged(str(copy), lab.state.ruleset_sha256, candidate, read_source(copy), origin)


def test(
    lab: Lab,
    timeout: float = DEFAULT_TIMEOUT,
    matrix: str = "auto",
    keep: int = DEFAULT_KEEP,
    sweep: Sequence[SweepTarget] = (),
) -> Verification:
    """Health check, every flow, health check again; the run is kept in the run store (the
    lab's oldest runs beyond `keep` removed). An unhealthy twin is never a pass: its problems
    land in `Verification.health` (the CLI exits 3 on them); a twin already broken before the
    run is not probed at all, and one taken away during the run (`twin down` elsewhere, a node
    killed) ends it with one EnvironmentProblem. One run per lab at a time. `sweep`: port
    sweeps probed after the flows (`twin.plan.sweep`), kept in ranges."""
    started = time.time()
    with testing(lab.state):
        if lab.state.status != "up":
            raise EnvironmentProblem(f"lab {lab.state.lab} is {lab.state.status}, not up")
        before = check_health(lab.runtime, lab.state, lab.plan)
        if not before.ok:
            raise EnvironmentProblem(
                f"lab {lab.state.lab} is not healthy, so no verdict would be true: "
                + "; ".join(before.problems)
            )
        snap, source = before.snapshot, provenance(lab)
        files = None  # the run's folder, begun with its log records as soon as they are in
        try:
            try:
                run = verify(
                    lab.runtime, lab.state, lab.plan, timeout, matrix, snapshot=snap,
                    provenance=source,
                )  # fmt: skip
                run.paths = check_paths(lab.plan)  # the `unreachable` lines, on those rules
                files = begin_run(lab.state, lab.plan, run)
                if sweep:
                    add_sweep(
                        run, run_sweep(
                            lab.runtime, lab.state, lab.plan, sweep, timeout,
                            sink=lambda records: log_records(files, records),
                        ),
                    )  # fmt: skip
                after = check_health(
                    lab.runtime, lab.state, lab.plan, snapshot=run.snapshot,
                    since=before.generations,
                )  # fmt: skip
            except (OSError, TwinError) as exc:
                raise vanished(lab) or _as_problem(exc) from None
            gone = vanished(lab)
            if gone:
                raise gone
        except BaseException:
            if files is not None:
                drop_run(files)  # no verdict stands: no run is kept
            raise
    run.health = [f"during the run: {p}" for p in after.problems]
    run.warnings = list(dict.fromkeys([*before.warnings, *after.warnings, *run.warnings]))
    run.started, run.ended = started, time.time()
    run.health_checks = {"before": before.to_json(), "after": after.to_json()}
    finish_run(files, lab.state, lab.plan, run, keep=keep)
    return run


def walk(lab: Lab, walks: WalkPlan, timeout: float = DEFAULT_TIMEOUT) -> LiveWalk:
    """`twin blast --live`: the blast radius walked hop by hop on the running twin (healthy
    first, one run per lab at a time, like `test`); nothing is saved."""
    with testing(lab.state):
        if lab.state.status != "up":
            raise EnvironmentProblem(f"lab {lab.state.lab} is {lab.state.status}, not up")
        health = check_health(lab.runtime, lab.state, lab.plan)
        if not health.ok:
            raise EnvironmentProblem(
                f"lab {lab.state.lab} is not healthy, so no live walk would be true: "
                + "; ".join(health.problems)
            )
        try:
            live = walk_live(lab.runtime, lab.state, lab.plan, walks, timeout)
        except (OSError, TwinError) as exc:
            raise vanished(lab) or _as_problem(exc) from None
        gone = vanished(lab)
        if gone:
            raise gone
    return live


def walk_baseline(
    lab: Lab, baseline: str, walks: Callable[[Plan], WalkPlan], timeout: float = DEFAULT_TIMEOUT
) -> tuple[WalkPlan, LiveWalk]:
    """`twin compare --live`: the baseline deployed beside `lab` (same runtime, its lab name with
    a `b`), walked like `walk` (`walks` makes the walk plan from its plan), always taken down."""
    name = f"{lab.state.lab[:19]}b"
    policy = deployable(lab.plan.policy, baseline).model_copy(update={"name": name})
    body = policy.model_dump(mode="json", by_alias=True, exclude_none=True)
    with tempfile.TemporaryDirectory(prefix="twin-baseline-") as tmp:
        path = Path(tmp) / f"{name}.yml"
        path.write_text(yaml.safe_dump(body, sort_keys=False))
        up(path, lab.state.runtime, lab=name)
        try:
            other = open_lab(name)
            planned = walks(other.plan)
            return planned, walk(other, planned, timeout)
        finally:
            left = down(find_entry(name))
            if left:
                raise EnvironmentProblem(f"baseline lab {name} left behind: {', '.join(left)}")


def vanished(lab: Lab) -> EnvironmentProblem | None:
    """Was the twin taken away (registry entry or directory gone, a node missing or stopped)?
    Then no verdict of the run stands: one line says what went."""
    name = lab.state.lab
    if not (run_dir() / f"{name}.json").exists() or not lab.state.path.is_dir():
        return EnvironmentProblem(
            f"lab {name} was taken down during the run (twin down from elsewhere?); "
            "no verdict stands"
        )
    try:
        nodes = lab.runtime.status(lab.state)
    except DaemonHung as exc:
        return exc  # the Docker daemon stopped answering, not the twin: say so
    except TwinError:
        nodes = {}
    lost = [f"{n} ({nodes.get(n, 'missing')})" for n in lab.plan.nodes if nodes.get(n) != "running"]
    if lost:
        return EnvironmentProblem(
            f"lab {name} lost node {', '.join(lost)} during the run; no verdict stands "
            f"(run `twin down --lab {name}` and `twin up` again)"
        )
    return None


def _as_problem(exc: OSError | TwinError) -> TwinError:
    if isinstance(exc, TwinError):
        return exc
    where = f": {exc.filename}" if exc.filename else ""
    return EnvironmentProblem(f"{exc.strerror or exc}{where} (during the run)")


def _teardown(runtime: Runtime, state: LabState) -> list[str]:
    """Undo a failed `up`: what this process recorded (runtimes remove only the lab's own)."""
    stop_responders(state)
    found = find_responders(state.path)
    for pid in {*state.resources.get("pid", []), *map(str, found)}:  # also one the state
        stop_process(int(pid), state.path)  # never recorded (killed between start and save)
    return runtime.destroy(state)
