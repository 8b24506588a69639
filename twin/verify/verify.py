"""verify: send every planned flow for real, read the firewall's own account, judge each one.

Two witnesses: the prober (what came back) and the firewall (its NFLOG record of the same
5-tuple names the rule, hence the action, it applied). A probe where they disagree — the
firewall logged a reject but nothing came back, it logged an accept but the probe timed out —
or that left no record is sent again on a fresh 5-tuple with a longer wait; if the witnesses
still disagree the flow is `inconclusive`: the machine could not judge it (exit 3), and it is
never reported as a policy failure. Then a flow passes when (a) what came back matches the
policy's first-match prediction (allowed or blocked, dropped or rejected), (b) the firewall's
log names the rule the policy predicts, and (c) it agrees with every intent line that covers it.
A blocked probe without a log record from the firewall is a failure: something else dropped it,
and the twin would be lying. A flow between two hosts of a flat zone never crosses the firewall:
no record is what the policy predicts (`flat-segment`), and a record would be a failure.
"""

from __future__ import annotations

import platform
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from traffic import conntrack
from traffic.nflog import LogRecord, NflogReaders
from traffic.prober import Outcome, Probe, gc_paused
from twin import __version__
from twin.deploy.configure import firewall_snapshot, send_probes
from twin.errors import EnvironmentProblem
from twin.firewalls.base import Snapshot
from twin.firewalls.table import firewall_of
from twin.lab.state import LabState
from twin.plan.agent import enforcing_nodes, path_of
from twin.plan.flows import PlannedFlow, plan_flows
from twin.plan.plan import Plan
from twin.policy.model import ANTI_SPOOFING, CT_INVALID, Action, Verdict
from twin.policy.resolve import port_text
from twin.runtime.base import Runtime
from twin.verify.bypass import UNPLANNED, bypass_probes, judge_bypass, plan_bypass
from twin.verify.crafted import CraftedResult, judge_crafted, plan_crafted, send
from twin.verify.provenance import Provenance
from twin.verify.swept import SweptRange
from twin.verify.verdicts import PASSED, Observed

DEFAULT_TIMEOUT = 0.2  # seconds per probe; the twin's RTT is ~0.1 ms
EXPECTED_BLOCK = {Action.deny: Observed.filtered, Action.reject: Observed.rejected}
SEEN_IF = {
    Action.allow: PASSED,
    Action.deny: (Observed.filtered,),
    Action.reject: (Observed.rejected,),
}

ECHOES = ("icmp", "icmpv6")  # a probe matched to its log record by echo id and sequence


@dataclass
class Result:
    src: str
    dst: str
    src_zone: str
    dst_zone: str
    proto: str
    port: int
    expected: Verdict  # allow | block: the intent where a line covers the flow, else the policy
    observed: Observed
    ok: bool
    rule: str  # the rule the firewall logged for this flow ("" if none)
    predicted: Verdict  # allow | block: the policy's first match
    predicted_rule: str
    intent: list[str] = field(default_factory=list)  # intent lines covering the flow
    violates: list[str] = field(default_factory=list)  # intent lines it breaks
    reason: str = ""
    detail: str = ""
    rtt_ms: float = 0.0
    family: int = 4  # the address family the flow was probed over

    @property
    def service(self) -> str:
        """`tcp/443`, `icmpv6`; `tcp/443 over IPv6` for an IPv6 flow (icmpv6 says it)."""
        text = port_text(self.proto, self.port)
        return text + " over IPv6" if self.family == 6 and self.proto != "icmpv6" else text

    logged_by: str = ""  # the node whose log record decided: the firewall, or a host's own rules


@dataclass
class Verification:
    lab: str
    results: list[Result]
    seconds: float  # probes sent and judged
    warnings: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)  # rule → packets during the run
    reprobed: int = 0  # flows sent a second time, with a longer wait, before being failed
    health: list[str] = field(default_factory=list)  # the twin broke: no verdict stands (exit 3)
    snapshot: Snapshot | None = field(default=None, repr=False)  # the firewall after the run
    crafted: list[CraftedResult] = field(default_factory=list)  # stateful/anti-spoofing checks
    log_file: str = ""  # the firewall's log records of the run (in the run folder)
    log_records: int = 0
    source: dict[str, str] = field(default_factory=dict)  # Provenance.to_json(): what was judged
    started: float = 0.0  # wall clock (epoch seconds), health check before the run …
    ended: float = 0.0  # … to health check after it
    host: dict[str, str] = field(default_factory=dict)  # where it ran: hostname, kernel, twin
    run_id: str = ""  # the run's folder in the run store (`twin runs`)
    health_checks: dict[str, Any] = field(default_factory=dict)  # before/after: Health.to_json()
    sweeps: list[SweptRange] = field(default_factory=list)  # port sweeps, in ranges
    sweep_probes: int = 0
    sweep_seconds: float = 0.0
    # "we forgot v6": IPv6 flows that passed where the policy blocks them, their IPv4 twins
    # blocked as planned (twin.verify.bypass names the finding)
    forgot_v6: list[str] = field(default_factory=list)
    records: list[LogRecord] = field(default_factory=list, repr=False)  # not kept in run.json
    policy_bytes: bytes = field(default=b"", repr=False)  # the policy file judged, as hashed
    # the `unreachable` intent lines, checked exactly on the plan whose flows the run probed:
    # {"name", "text", "holds", "path"} (`twin.verify.paths`)
    paths: list[dict[str, Any]] = field(default_factory=list)

    @property
    def broken_paths(self) -> list[dict[str, Any]]:
        """`unreachable` intent lines a path of allowed flows breaks."""
        return [p for p in self.paths if not p.get("holds")]

    @property
    def failures(self) -> list[Result]:
        """Flows that differ from the policy or the intent, both witnesses agreeing."""
        return [r for r in self.results if not r.ok and r.observed is not Observed.inconclusive]

    @property
    def inconclusive(self) -> list[Result]:
        return [r for r in self.results if r.observed is Observed.inconclusive]

    @property
    def sweep_failures(self) -> list[SweptRange]:
        """Swept port ranges that differ from the policy or the intent."""
        return [r for r in self.sweeps if not r.ok and r.verdict != Observed.inconclusive]

    @property
    def sweep_inconclusive(self) -> list[SweptRange]:
        return [r for r in self.sweeps if r.verdict == Observed.inconclusive]

    @property
    def ok(self) -> bool:
        return (
            not self.failures
            and not self.inconclusive
            and not self.sweep_failures
            and not self.sweep_inconclusive
            and not self.health
            and not self.broken_paths
            and all(c.ok for c in self.crafted)
        )

    @property
    def exit_code(self) -> int:
        """3: the twin or the machine could not judge (unhealthy, or flows inconclusive and no
        real failure); 1: a flow, a swept port or a crafted packet differs from the policy, or
        an `unreachable` intent line is broken; 0: all good."""
        if self.health:
            return 3
        if self.failures or self.sweep_failures or self.broken_paths:
            return 1
        if not all(c.ok for c in self.crafted):
            return 1
        return 3 if self.inconclusive or self.sweep_inconclusive else 0

    def to_json(self) -> list[dict[str, object]]:
        """The results, one object per flow."""
        return [dict(vars(r)) for r in self.results]


@gc_paused  # ~10 objects per probe, no cycles: collections only cost (seconds at 100 zones)
def verify(
    runtime: Runtime,
    state: LabState,
    plan: Plan,
    timeout: float = DEFAULT_TIMEOUT,
    matrix: str = "auto",
    *,
    flows: list[PlannedFlow] | None = None,
    snapshot: Snapshot | bool | None = True,
    stateful: bool = True,
    provenance: Provenance | None = None,
) -> Verification:
    """Probe every planned flow (or `flows`). A probe whose firewall record contradicts what
    came back, or is missing, is sent once more (fresh 5-tuple, three times the wait); still
    contradicted, the flow is inconclusive. The caller keeps the run (`twin.verify.runs`):
    its results, and the firewall's log records in `Verification.records`."""
    flows = plan_flows(plan, matrix) if flows is None else flows
    netns = {h.name: runtime.netns(state, h.name) for h in plan.hosts}
    addr = {(h.name, f): str(h.addr(f)) for h in plan.hosts for f in h.families}
    probes = [
        Probe(netns[fl.src], addr[(fl.src, fl.family)], addr[(fl.dst, fl.family)], fl.proto,
              fl.port)
        for fl in (f.flow for f in flows)
    ]  # fmt: skip
    subnets = plan.lab_subnets
    fw = firewall_of(plan.firewall_kind)
    # crafted packets are judged by the rule their NFLOG record names; so is the second witness
    crafted = plan_crafted(plan, flows, netns) if stateful and fw.nflog_attribution else []
    before = (
        firewall_snapshot(runtime, state, plan)
        if snapshot is True
        else (snapshot if isinstance(snapshot, Snapshot) else None)
    )
    # every node that enforces the policy logs to its own NFLOG group: the firewall, and with
    # enforcement on the hosts each host (a reader per namespace, one thread for all)
    paths = [path_of(plan, f.flow.src, f.flow.dst) for f in flows]
    reader = nflog_readers(runtime, state, plan)
    witness = firewall_actions(plan) if fw.nflog_attribution else None
    wall = time.time()
    bypass = plan_bypass(plan, flows) if stateful else []
    forget_connections(runtime, state, plan)  # every probe meets the rules, none a ct entry
    with reader.start(), bypass_probes(bypass, netns) as sent:
        # the bypass check's few probes ride with the matrix (no wait of their own)
        extra = [p for _, p in sent]
        started = time.monotonic()
        outcomes = send_probes(probes + extra, subnets, timeout)
        seconds = time.monotonic() - started
        outcomes, extra_out = outcomes[: len(probes)], outcomes[len(probes) :]
        unplanned = sum(1 for p, _ in sent if p.kind == UNPLANNED)  # link-local: no record
        records = _drain(reader, expected_records(flows, paths) + unplanned)
        logged = records_of(probes, outcomes, records, paths, witness)
        checked = judge_bypass(sent, extra_out, records_of(extra, extra_out, records))
        again = [
            i for i, f in enumerate(flows) if _doubt(f, outcomes[i], logged[i], witness)
        ]  # fmt: skip
        if again:  # once more on fresh 5-tuples, with a longer wait
            resent = [probes[i] for i in again]
            forget_connections(runtime, state, plan)  # the first try's own entries too
            second = send_probes(resent, subnets, min(0.9, timeout * 3))
            records += _drain(reader, expected_records([flows[i] for i in again],
                                                       [paths[i] for i in again]))  # fmt: skip
            decided = records_of(resent, second, records, [paths[i] for i in again], witness)
            for i, out, rec in zip(again, second, decided, strict=True):
                outcomes[i], logged[i] = out, rec
        # after the matrix, so its timing and counters stay the matrix's own
        checked = _crafted(crafted, reader, records) + checked
    run_after = firewall_snapshot(runtime, state, plan)
    counters = counter_delta(before, run_after)
    results = _judge_all(flows, outcomes, logged, witness)
    run = Verification(plan.lab, results, seconds, counters=counters, reprobed=len(again))
    run.crafted = checked
    run.forgot_v6 = we_forgot_v6(results)
    run.snapshot = run_after
    if before is None:
        run.warnings.append(
            "twin's nftables table is missing from the firewall: it enforces nothing "
            "(run `twin down` and `twin up` to restore it)"
        )
    else:
        run.warnings.extend(_counter_warnings(counters, records))
    run.records, run.log_records = records, len(records)
    if provenance is not None:
        run.source, run.policy_bytes = provenance.to_json(), provenance.source
    run.started, run.ended, run.host = wall, time.time(), machine()
    return run


def nflog_readers(runtime: Runtime, state: LabState, plan: Plan) -> NflogReaders:
    """A reader of the NFLOG group of every node that enforces the policy (the firewall, and
    with enforcement on the hosts each host), each record naming its node."""
    where = {n: runtime.netns(state, n) for n in enforcing_nodes(plan)}
    try:
        return NflogReaders(where, plan.nflog_group)
    except OSError as exc:
        whose = "the firewall's" if list(where) == [plan.firewall] else "the enforcing nodes'"
        raise EnvironmentProblem(f"cannot read {whose} NFLOG group: {exc}") from None


def forget_connections(runtime: Runtime, state: LabState, plan: Plan) -> None:
    """Empty the conntrack table of the firewall and of every node that enforces the policy
    (`traffic.conntrack`): a UDP or ICMP flow accepted by an earlier run (or the first try) is
    remembered for 30 s, and a probe drawing its 5-tuple again would pass with no log record."""
    nodes = dict.fromkeys((plan.firewall, *enforcing_nodes(plan)))
    try:
        conntrack.flush([runtime.netns(state, n) for n in nodes])
    except OSError as exc:
        raise EnvironmentProblem(f"cannot empty the conntrack tables: {exc}") from None


def _crafted(crafted: list[Any], reader: NflogReaders, records: list[LogRecord]) -> list[Any]:
    """Send the crafted packets and judge them by their log records (added to `records`)."""
    if not crafted:
        return []
    send(crafted)
    logs = _drain(reader, len(crafted))
    records += logs
    return judge_crafted(crafted, logs)


def we_forgot_v6(results: list[Result]) -> list[str]:
    """IPv6 flows that passed where the policy blocks them whose IPv4 twin (same hosts, same
    port; icmp for icmpv6) was blocked as planned: a firewall that filters IPv4 only."""
    v4 = {(r.src, r.dst, r.proto, r.port): r for r in results if r.family == 4}
    out = []
    for r in results:
        if r.family != 6 or r.ok or r.observed not in PASSED or r.predicted is not Verdict.block:
            continue
        twin4 = v4.get((r.src, r.dst, "icmp" if r.proto == "icmpv6" else r.proto, r.port))
        if twin4 is not None and twin4.ok and twin4.observed not in PASSED:
            out.append(f"{r.src} → {r.dst} {port_text(r.proto, r.port)}")
    return out


def machine() -> dict[str, str]:
    """Where a run ran: the host's name, its kernel, twin's version."""
    return {
        "hostname": socket.gethostname(),
        "kernel": f"{platform.system()} {platform.release()}",
        "twin": __version__,
    }


def _judge_all(
    flows: list[PlannedFlow],
    outcomes: list[Outcome],
    logged: list[LogRecord | None],
    witness: dict[str, Action] | None,
) -> list[Result]:
    results = []
    for flow, out, rec in zip(flows, outcomes, logged, strict=True):
        rule = rec.prefix if rec else ""
        said = witness.get(rule) if witness is not None and rec else None
        if said is not None and out.verdict not in SEEN_IF[said]:  # after the second try
            results.append(inconclusive(flow, out.verdict, rule, said, out.detail))
        else:
            results.append(judge(flow, out.verdict, rule, out.detail, out.rtt_ms))
        results[-1].logged_by = rec.node if rec else ""
    return results


def firewall_actions(plan: Plan) -> dict[str, Action]:
    """What the firewall did, by the rule name its log record carries."""
    return {r.name: r.action for r in plan.rules} | {
        ANTI_SPOOFING: Action.deny,
        CT_INVALID: Action.deny,
    }


def _doubt(
    f: PlannedFlow, out: Outcome, rec: LogRecord | None, witness: dict[str, Action] | None
) -> bool:
    """Send it again? When the firewall's record contradicts the prober or is missing; without
    a log to read (VyOS), when the prober contradicts the policy. A flow inside a flat zone
    never reaches the firewall: no record is its expected account."""
    said = witness.get(rec.prefix) if witness is not None and rec is not None else None
    if said is not None:
        return out.verdict not in SEEN_IF[said]
    if witness is not None and rec is None and not f.rule.flat:
        return True
    return Observed(out.verdict).verdict != f.predicted


def records_of(
    probes: list[Probe],
    outcomes: list[Outcome],
    records: list[LogRecord],
    paths: list[tuple[str, ...]] | None = None,
    witness: dict[str, Action] | None = None,
) -> list[LogRecord | None]:
    """Each probe's deciding NFLOG record, matched by node and 5-tuple (ICMP: echo id and
    sequence). Along the flow's path (its source host, the firewall, its destination host:
    those that enforce), the first record of a rule that blocks decided; when every node
    passed it, the last one's. A node on the path that logged nothing leaves no record: the
    flow is doubted and sent again. Without `paths`, one reader's records: by 5-tuple alone."""
    by_key: dict[tuple[str, str, str, str, int, int], LogRecord] = {}
    for rec in records:
        node = rec.node if paths is not None else ""
        by_key.setdefault((node, rec.src, rec.dst, rec.proto, rec.sport, rec.dport), rec)
    out: list[LogRecord | None] = []
    for p, o, path in zip(probes, outcomes, paths or [("",)] * len(probes), strict=True):
        key = (p.src, p.dst, p.proto, o.sport, o.seq if p.proto in ECHOES else p.port)
        found: LogRecord | None = None
        for node in path:
            found = by_key.get((node, *key))
            if found is None or witness is None or witness.get(found.prefix) != Action.allow:
                break
        out.append(found)
    return out


def expected_records(flows: list[PlannedFlow], paths: list[tuple[str, ...]]) -> int:
    """Records a run should bring: one per enforcing node a flow crosses (a blocked flow goes
    no further than the node that stops it, its source when the hosts enforce)."""
    return sum(len(p) if f.predicted == "allow" else 1 for f, p in zip(flows, paths, strict=True))


def _drain(reader: NflogReaders, expect: int) -> list[LogRecord]:
    try:
        return reader.drain(settle=0.01, expect=expect)
    except OSError as exc:
        raise EnvironmentProblem(f"reading the firewall's log: {exc.strerror or exc}") from None


def inconclusive(f: PlannedFlow, seen: str, rule: str, said: Action, detail: str) -> Result:
    """The prober and the firewall's log disagreed on two 5-tuples: no verdict for this flow."""
    fl = f.flow
    why = f"firewall logged {said.value} ({rule}), prober saw {seen}: twice, on fresh 5-tuples"
    return Result(
        src=fl.src, dst=fl.dst, src_zone=f.src_zone, dst_zone=f.dst_zone, proto=fl.proto,
        port=fl.port, expected=f.intents[0][2] if f.intents else f.predicted,
        observed=Observed.inconclusive, ok=False, rule=rule, predicted=f.predicted,
        predicted_rule=f.rule.name, intent=[n for _, n, _ in f.intents], reason=why,
        detail=f"prober: {seen}" + (f" ({detail})" if detail else ""), family=fl.family,
    )  # fmt: skip


def judge(f: PlannedFlow, seen_as: str, logged: str, detail: str = "", rtt: float = 0.0) -> Result:
    observed = Observed(seen_as)
    seen = observed.verdict
    rule = f.rule
    problems: list[str] = []
    if seen != f.predicted:
        problems.append(f"policy {f.predicted}s it ({rule.name}) but the flow was {observed}")
    elif seen is Verdict.block and observed != EXPECTED_BLOCK[rule.action]:
        problems.append(f"{rule.name} should {rule.action.value} it, but it was {observed}")
    if logged and logged != rule.name:
        problems.append(f"firewall logged rule {logged}, policy says {rule.name}")
    if seen is Verdict.block and not logged:
        problems.append("blocked, but the firewall logged no rule for it")
    violates = [name for _, name, verdict in f.intents if verdict != seen]
    for _, name, verdict in f.intents:
        if name in violates:
            problems.append(f"violates intent {name} (expects {verdict.value})")
    expected = f.intents[0][2] if f.intents else f.predicted
    fl = f.flow
    return Result(
        src=fl.src, dst=fl.dst, src_zone=f.src_zone, dst_zone=f.dst_zone, proto=fl.proto,
        port=fl.port, expected=expected, observed=observed, ok=not problems, rule=logged,
        predicted=f.predicted, predicted_rule=rule.name, intent=[n for _, n, _ in f.intents],
        violates=violates, reason="; ".join(problems), detail=detail, rtt_ms=round(rtt, 3),
        family=fl.family,
    )  # fmt: skip


def counter_delta(before: Snapshot | None, after: Snapshot | None) -> dict[str, int]:
    if before is None or after is None:
        return {}
    b, a = before.counters, after.counters
    return {k: v - b.get(k, 0) for k, v in a.items() if v - b.get(k, 0)}


def _counter_warnings(counters: dict[str, int], records: list[LogRecord]) -> list[str]:
    logged = Counter(r.prefix for r in records)
    out = []
    for rule in sorted(set(counters) | set(logged)):
        if rule != "unmatched" and counters.get(rule, 0) != logged.get(rule, 0):
            out.append(
                f"rule {rule}: counter says {counters.get(rule, 0)} packets, "
                f"log has {logged.get(rule, 0)} records"
            )
    return out
