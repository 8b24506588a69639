"""Sweeps: every port of chosen host pairs probed for real, judged, and attributed to the rule
that decided it — kept in port ranges (`twin.verify.swept`), never one object per port.

The probes go out through the prober's sweep engine (`traffic.prober.sweep`: verdicts in
arrays), one target (host pair and protocol, 65,535 ports) per task, in as many processes as
there are cores: each process enters the source namespaces itself, so the kernel's work of each
probe runs on that process's core. The firewall's NFLOG records are read here while the
processes probe, written to the run's log file as they come, and indexed per port.

Judging is the matrix's (two witnesses, `twin.verify.verify`): a port whose log record is
missing or contradicts what came back is probed again on a fresh 5-tuple with three times the
wait; still contradicted, it is inconclusive. One exception, UDP: a closed UDP port answers with
ICMP port-unreachable from the host (`closed`: the flow crossed), but a UDP port may also just
stay silent. Silence with the firewall's record of an *accept* is judged `crossed`: allowed on
the firewall's word alone — the conservative reading for segmentation (it can only make the
twin report a flow reachable, never hide one).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from traffic.judged import CODE, Judged
from traffic.nflog import LogRecord, NflogReaders
from traffic.prober import Probe, Sweep, run_probes, sweep
from twin.deploy.configure import firewall_snapshot
from twin.errors import EnvironmentProblem, UsageError
from twin.firewalls.table import firewall_of
from twin.lab.state import LabState
from twin.plan.plan import Plan
from twin.plan.sweep import SweepTarget
from twin.runtime.base import Runtime
from twin.verify.sweepjudge import Probed, doubts, judge
from twin.verify.swept import SweptRange
from twin.verify.verify import (
    Verification,
    counter_delta,
    forget_connections,
    nflog_readers,
    records_of,
)

Sink = Callable[[list[LogRecord]], None]


@dataclass
class SweepRun:
    ranges: list[SweptRange]
    probes: int
    seconds: float  # probes sent and judged, every process
    reprobed: int = 0
    records: int = 0
    workers: int = 1
    warnings: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[SweptRange]:
        return [r for r in self.ranges if not r.ok and r.verdict != "inconclusive"]

    @property
    def inconclusive(self) -> list[SweptRange]:
        return [r for r in self.ranges if r.verdict == "inconclusive"]


def add_sweep(run: Verification, done: SweepRun) -> None:
    """A sweep's ranges and figures into the run they belong to."""
    run.sweeps, run.sweep_probes, run.sweep_seconds = done.ranges, done.probes, done.seconds
    run.log_records += done.records
    run.reprobed += done.reprobed
    run.warnings += done.warnings


def run_sweep(
    runtime: Runtime,
    state: LabState,
    plan: Plan,
    targets: Sequence[SweepTarget],
    timeout: float,
    *,
    sink: Sink,
    workers: int = 0,
) -> SweepRun:
    """Probe every target, attribute every port from the firewall's log (each record handed to
    `sink` as it comes), judge, and aggregate into ranges."""
    if not firewall_of(plan.firewall_kind).nflog_attribution:
        raise UsageError(
            f"sweeps attribute every port from twin's NFLOG rule names, which a "
            f"{plan.firewall_kind.value} firewall does not log; sweep an nftables twin"
        )
    addr = {h.name: str(h.address) for h in plan.hosts}
    work = [
        Probed(t, Sweep(runtime.netns(state, t.src), addr[t.src], addr[t.dst], t.proto, t.ports))
        for t in targets
    ]
    subnets = plan.lab_subnets
    total = sum(len(w.t.ports) for w in work)
    workers = max(1, min(workers or os.cpu_count() or 1, len(work)))
    names: dict[str, int] = {"": 0}
    keyed = {(w.sweep.src, w.sweep.dst, w.t.proto): w for w in work}
    seen = 0
    per_rule: Counter[str] = Counter()

    def take(records: list[LogRecord]) -> None:
        nonlocal seen
        seen += len(records)
        per_rule.update(r.prefix for r in records)
        sink(records)
        _index(records, keyed, names)

    reader = nflog_readers(runtime, state, plan)  # the hosts' too, when they enforce
    pool = (
        multiprocessing.get_context("fork").Pool(workers, initializer=_worker)
        if workers > 1
        else None
    )
    before = firewall_snapshot(runtime, state, plan)
    forget_connections(runtime, state, plan)  # the matrix's own entries would pass unlogged
    started = time.monotonic()
    try:
        with reader.start():
            for i, judged in _probe(pool, [w.sweep for w in work], subnets, timeout):
                work[i].judged = judged
                take(_drain(reader, 0, 0.0))
            seconds = time.monotonic() - started
            take(_drain(reader, total - seen, 3.0))
            ids = {v: k for k, v in names.items()}
            again = doubts(plan, work, ids)
            if again:  # once more on fresh 5-tuples, with a longer wait
                forget_connections(runtime, state, plan)
                _reprobe(
                    work, again, subnets, min(0.9, timeout * 3), reader=reader, take=take,
                    names=names,
                )  # fmt: skip
    except BaseException:
        if pool is not None:
            pool.terminate()  # SIGTERM: a worker ends at once (its handlers are the default)
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    counted = counter_delta(before, firewall_snapshot(runtime, state, plan))
    ids = {v: k for k, v in names.items()}
    ranges = [r for w in work for r in judge(plan, w, ids)]
    done = SweepRun(ranges, total, seconds, len(again), seen, workers)
    done.warnings = _counted_vs_logged(counted, per_rule)
    return done


def _counted_vs_logged(counted: dict[str, int], logged: Counter[str]) -> list[str]:
    """The firewall's counters against its log, rule by rule, over the sweep: a third witness."""
    return [
        f"sweep: rule {rule}: counter says {counted.get(rule, 0)} packets, log has "
        f"{logged.get(rule, 0)} records"
        for rule in sorted(set(counted) | set(logged))
        if rule != "unmatched" and counted.get(rule, 0) != logged.get(rule, 0)
    ]


def _probe(
    pool: multiprocessing.pool.Pool | None, sweeps: list[Sweep], subnets: list[str], timeout: float
) -> Iterator[tuple[int, Judged]]:
    """(index, verdicts) of each sweep as it finishes: TCP and UDP spread over `pool`; ICMP (a
    probe per target) in this process, whose echo ids no other run of it reuses."""
    here = [i for i, s in enumerate(sweeps) if pool is None or s.proto == "icmp"]
    if pool is not None:
        jobs = [(i, s, subnets, timeout) for i, s in enumerate(sweeps) if i not in set(here)]
        yield from pool.imap_unordered(_one, jobs)
    if here:
        yield from zip(
            here, sweep([sweeps[i] for i in here], subnets, timeout=timeout), strict=True
        )


def _worker() -> None:
    """A probing process: ended by its parent only (Ctrl-C reaches the parent, which ends it)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _one(job: tuple[int, Sweep, list[str], float]) -> tuple[int, Judged]:
    i, s, subnets, timeout = job
    return i, sweep([s], subnets, timeout=timeout)[0]


def _drain(reader: NflogReaders, expect: int, limit: float) -> list[LogRecord]:
    try:
        return reader.drain(settle=0.01, expect=expect, limit=limit)
    except OSError as exc:
        raise EnvironmentProblem(f"reading the firewall's log: {exc.strerror or exc}") from None


def _index(
    records: list[LogRecord], keyed: dict[tuple[str, str, str], Probed], names: dict[str, int]
) -> None:
    """Each record's rule (as a small id) and source port at its port's slot."""
    for rec in records:
        w = keyed.get((rec.src, rec.dst, rec.proto))
        if w is None:
            continue
        k = 0 if rec.proto == "icmp" else w.slot(rec.dport)
        if k < 0 or w.rule[k]:
            continue  # not a port of the sweep, or a second record for it (kept: the first)
        rid = names.get(rec.prefix)
        if rid is None:
            rid = names[rec.prefix] = len(names)
        w.rule[k], w.rsport[k] = rid, rec.sport


def _reprobe(
    work: list[Probed],
    doubts: list[tuple[int, int]],
    subnets: list[str],
    timeout: float,
    *,
    reader: NflogReaders,
    take: Callable[[list[LogRecord]], None],
    names: dict[str, int],
) -> None:
    probes = []
    for ti, k in doubts:
        s = work[ti].sweep
        probes.append(Probe(s.netns, s.src, s.dst, s.proto, work[ti].t.ports[k]))
    outcomes = run_probes(probes, subnets, timeout=timeout)
    records = _drain(reader, len(probes), 3.0)
    take(records)
    logged = records_of(probes, outcomes, records)
    for (ti, k), out, rec in zip(doubts, outcomes, logged, strict=True):
        w = work[ti]
        assert w.judged is not None
        w.judged.verdicts[k] = CODE[out.verdict]
        w.judged.sports[k] = out.sport
        if w.t.proto == "icmp":
            w.judged.seqs[k] = out.seq
        rid = names.setdefault(rec.prefix, len(names)) if rec else 0
        w.rule[k], w.rsport[k] = rid, out.sport if rec else 0
