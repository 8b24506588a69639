"""rehearse: try a candidate policy on the running twin, like a unit test; roll it back.

1. The probe set is the union of both policies' flows, so every probe has a before and after.
2. Before: the whole set under the ruleset loaded now.
3. Swap: the candidate's ruleset in one `nft -f` transaction (the file deletes and recreates
   twin's table itself: at no moment is the firewall open or empty), then `conntrack -F` in the
   firewall's namespace, or established entries would keep passing what the candidate drops.
4. After: the same set again, judged against the candidate and its intent.
5. Every probe whose verdict changed is reported with the intent it breaks and the rules the
   firewall logged; the exact static diff must predict the same verdicts, probe by probe —
   where it does not, the renderer or the kernel disagrees with the model, and that is loud.

Everything goes through `Runtime.exec` and `Runtime.netns`: it works on every runtime. State
lives in `<lab dir>/rehearsal/`: the baseline (policy and ruleset as first brought up), the
candidate, and which one is loaded; `policy.yml` always names the policy the firewall enforces.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.analysis.diff import diff_json, diff_plans, merged_intents, same_topology
from twin.analysis.flowspace import FlowSpace
from twin.analysis.intervals import addr_key, service_key
from twin.deploy.configure import firewall_snapshot, load_firewall
from twin.deploy.health import check_health
from twin.deploy.running import Lab, open_lab
from twin.errors import EnvironmentProblem, Interrupted, Terminated, TwinError, UsageError
from twin.firewalls.table import firewall_of
from twin.lab.directory import LabDir, lab_subdir, write_atomic
from twin.lab.registry import entries
from twin.lab.runstore import DEFAULT_KEEP
from twin.lab.state import testing
from twin.pipeline import provenance, signals_deferred
from twin.plan.agent import enforced_by_hosts
from twin.plan.build import build_plan
from twin.plan.flows import Flow, PlannedFlow, plan_flows
from twin.plan.plan import Plan
from twin.policy.load import parse_policy
from twin.policy.model import Action
from twin.policy.resolve import port_text
from twin.policy.source import read_policy_file
from twin.render.templates import Templates
from twin.verify.evidence import Evidence, log_evidence
from twin.verify.provenance import judged, rehearsal_state
from twin.verify.runs import keep_run
from twin.verify.verdicts import Observed
from twin.verify.verify import Verification, verify

LIVE_ACTION = {Observed.open: Action.allow, Observed.closed: Action.allow,
               Observed.filtered: Action.deny, Observed.rejected: Action.reject}  # fmt: skip


@dataclass
class Rehearsal:
    lab: str
    candidate: str
    plan: Plan  # the candidate's, as loaded now
    before: Verification
    after: Verification
    static: dict[str, Any]  # diff.diff_json of what was loaded → the candidate
    changed: list[dict[str, Any]]
    disagreements: list[dict[str, Any]]
    swap_seconds: float
    seconds: float  # swap + the whole matrix again
    evidence: Evidence

    @property
    def ok(self) -> bool:
        return self.after.ok and not self.disagreements and self.evidence.ok

    @property
    def exit_code(self) -> int:
        """1: the candidate breaks intent or the twin disagrees with the model; 3: the machine
        could not judge (unhealthy, or flows inconclusive before or after); 0: all good."""
        if self.after.health or self.before.health:
            return 3
        if self.after.exit_code == 1 or self.disagreements or not self.evidence.ok:
            return 1
        return max(self.after.exit_code, self.before.exit_code)

    def to_json(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "candidate": self.candidate,
            **self.after.source,
            "ok": self.ok,
            "swap_seconds": round(self.swap_seconds, 4),
            "probe_seconds": round(self.after.seconds, 4),
            "round_trip_seconds": round(self.seconds, 4),
            "probes": len(self.after.results),
            "failures": len(self.after.failures),
            "changed": self.changed,
            "disagreements": self.disagreements,
            "static": self.static,
            "evidence": self.evidence.to_json(),
        }


def rehearse(
    candidate: str | Path, lab: str | None = None, timeout: float = 0.2, keep: int = DEFAULT_KEEP
) -> Rehearsal:
    raw = read_policy_file(candidate)
    new = build_plan(parse_policy(raw, str(candidate)))
    lab_ = _open(lab, new.lab)
    with testing(lab_.state):
        return _rehearse(lab_, new, raw, str(candidate), timeout, keep=keep)


def _rehearse(
    lab_: Lab, new: Plan, raw: bytes, candidate: str, timeout: float, *, keep: int
) -> Rehearsal:
    old = lab_.plan
    renamed = new.lab != old.lab
    if renamed:  # the same twin under another lab name in the file: adopt the running lab's
        new = build_plan(new.policy.model_copy(update={"name": old.lab}))
    _check_swappable(old, new)
    name = lab_.state.lab
    with said_on_interrupt(lab_):
        folder = _remember_baseline(lab_)
        ruleset = render_ruleset(new, candidate)
        keys = list(dict.fromkeys(f.flow for p in (old, new) for f in plan_flows(p)))
        static = diff_plans(old, new)
        _healthy(lab_)
        before = verify(
            lab_.runtime, lab_.state, old, timeout, flows=planned(old, old, keys),
            provenance=provenance(lab_),
        )  # fmt: skip
        write_atomic(folder / "candidate.yml", raw)
        write_atomic(folder / "candidate.nft", ruleset)
    started = time.monotonic()
    with said_on_interrupt(lab_):
        swap = swap_to(lab_, new, ruleset, None if renamed else raw, ("candidate", candidate))
        source = judged(candidate, lab_.state.ruleset_sha256, candidate, raw)
        after = verify(
            lab_.runtime, lab_.state, new, timeout, flows=planned(old, new, keys),
            provenance=source,
        )  # fmt: skip
        seconds = time.monotonic() - started
        changed, disagree = _delta(static.comparison.old, static.comparison.new, before, after, new)
        done = Rehearsal(
            name, candidate, new, before, after,
            diff_json(static, new, "running", candidate), changed, disagree, swap, seconds,
            log_evidence(new, after),
        )  # fmt: skip
        keep_run(lab_.state, new, after, kind="rehearsal", rehearsal=done.to_json(), keep=keep)
    return done


def roll_back(
    lab: str | None = None, timeout: float = 0.2, keep: int = DEFAULT_KEEP
) -> tuple[Lab, Verification]:
    """Load the baseline ruleset back (one transaction, conntrack flushed) and test it."""
    lab_ = open_lab(lab)
    with testing(lab_.state):
        folder = lab_.state.files.rehearsal
        if _active(folder) != "candidate":
            raise UsageError(
                f"lab {lab_.state.lab} runs its baseline already: nothing to roll back"
            )
        raw = read_policy_file(folder / "baseline.yml")
        base = build_plan(parse_policy(raw, str(folder / "baseline.yml")))
        ruleset = (folder / "baseline.nft").read_text()
        with said_on_interrupt(lab_):
            swap_to(lab_, base, ruleset, raw, ("baseline", ""))
            _healthy(lab_)
            source = judged(
                str(folder / "baseline.yml"), lab_.state.ruleset_sha256, "", raw, lab_.state.policy
            )
            run = verify(lab_.runtime, lab_.state, base, timeout, provenance=source)
            keep_run(lab_.state, base, run, kind="rollback", keep=keep)
    return Lab(lab_.state, lab_.runtime, base), run


def swap_to(
    lab: Lab, plan: Plan, ruleset: str, policy: bytes | None, active: tuple[str, str]
) -> float:
    """The firewall and the lab's record of it change in one step: the ruleset (one nft
    transaction), conntrack flushed, then configs/<fw>.nft, policy.yml, the state's ruleset
    hash and rehearsal/state.json, with Ctrl-C and SIGTERM held until all of it is done. If a
    step fails, the firewall is put back to what the record still names, and the error says
    which ruleset is enforced. Returns the seconds the firewall swap took."""
    path = lab.state.path
    fw_file, policy_file = LabDir(path).config(plan.firewall, _suffix(plan)), LabDir(path).policy
    was = (fw_file.read_text(), policy_file.read_bytes(), lab.state.ruleset_sha256)
    with signals_deferred():
        try:
            seconds = swap_ruleset(lab, plan, ruleset)
            _adopt(lab, plan, ruleset, policy)
            _set_active(LabDir(path).rehearsal, *active)
        except (TwinError, OSError) as exc:
            why = str(exc) if isinstance(exc, TwinError) else str(exc.strerror or exc)
            raise _put_back(lab, plan, was, why) from None
    return seconds


def _put_back(lab: Lab, plan: Plan, was: tuple[str, bytes, str], why: str) -> EnvironmentProblem:
    ruleset, policy, sha = was
    name = lab.state.lab
    with contextlib.suppress(OSError):
        write_atomic(lab.state.files.config(plan.firewall, _suffix(plan)), ruleset)
        write_atomic(lab.state.files.policy, policy)
    try:
        snap = firewall_snapshot(lab.runtime, lab.state, plan)
        if snap is None or snap.sha256 != sha:
            load_firewall(lab.runtime, lab.state, plan, ruleset)
            lab.runtime.exec(lab.state, plan.firewall, ["conntrack", "-F"])
        lab.state.ruleset_sha256 = sha
        lab.state.save()
    except (TwinError, OSError):
        return EnvironmentProblem(
            f"the swap failed ({why}) and lab {name}'s previous ruleset could not be loaded "
            f"back: what it enforces is unknown; run `twin down --lab {name}` and `twin up`"
        )
    return EnvironmentProblem(
        f"the swap failed ({why}); lab {name} still enforces the ruleset it records"
    )


@contextmanager
def said_on_interrupt(lab: Lab) -> Iterator[None]:
    """Ctrl-C or SIGTERM in this block: say what the firewall enforces now. The lab's record
    and the firewall change together (`swap_to`), so the record tells."""
    try:
        yield
    except Interrupted:
        raise
    except KeyboardInterrupt as exc:
        raise Interrupted(enforced(lab), isinstance(exc, Terminated)) from None


def enforced(lab: Lab) -> str:
    data = rehearsal_state(lab.state.path)
    name = lab.state.lab
    if data.get("active") == "candidate":
        return (
            f"lab {name} enforces the candidate {data.get('candidate', '')} (its policy and "
            "ruleset are recorded in the lab); `twin rehearse --rollback` restores the baseline"
        )
    return f"lab {name} enforces the baseline, as its policy.yml says"


def render_ruleset(plan: Plan, source: str) -> str:
    return firewall_of(plan.firewall_kind).render(Templates(), plan, source)


def _suffix(plan: Plan) -> str:
    return firewall_of(plan.firewall_kind).suffix


def swap_ruleset(lab: Lab, plan: Plan, ruleset: str) -> float:
    """One atomic nft transaction, then conntrack flushed in the firewall; seconds taken."""
    started = time.monotonic()
    load_firewall(lab.runtime, lab.state, plan, ruleset)
    res = lab.runtime.exec(lab.state, plan.firewall, ["conntrack", "-F"])
    if not res.ok:
        detail = (res.stderr or res.stdout).strip().splitlines()
        why = detail[-1] if detail else f"exit {res.returncode}"
        raise EnvironmentProblem(
            f"conntrack -F failed on node {plan.firewall} ({why}): the new ruleset is loaded, "
            "but established sessions may hide its drops"
        )
    return time.monotonic() - started


def planned(old: Plan, plan: Plan, keys: list[Flow]) -> list[PlannedFlow]:
    """`keys` as `plan` decides them, each with every intent line (exactly) covering it."""
    space = FlowSpace(plan)
    intents = merged_intents(old, plan, space)
    out = []
    for k in keys:
        s, d = plan.by_host[k.src], plan.by_host[k.dst]
        f = PlannedFlow(k, s.zone, d.zone, plan.decide(k.src, k.dst, k.proto, k.port, k.family))
        point = (
            addr_key(s.addr(k.family)),
            addr_key(d.addr(k.family)),
            service_key(k.proto, k.port),
        )
        for i, it in enumerate(intents):
            if (it.src_zone, it.dst_zone) == (s.zone, d.zone) and all(
                any(lo <= v <= hi for lo, hi in side) for v, side in zip(point, it.box, strict=True)
            ):
                f.intents.append((i, it.name, it.verdict))
        out.append(f)
    return out


def _delta(
    old: FlowSpace, new: FlowSpace, before: Verification, after: Verification, plan: Plan
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Probes whose verdict changed; probes where the twin and the static model disagree."""
    changed: list[dict[str, Any]] = []
    disagree: list[dict[str, Any]] = []
    for b, a in zip(before.results, after.results, strict=True):
        if Observed.inconclusive in (b.observed, a.observed):
            continue  # no verdict to compare (the run says so)
        src = addr_key(plan.by_host[a.src].addr(a.family))
        dst = addr_key(plan.by_host[a.dst].addr(a.family))
        seen = (LIVE_ACTION[b.observed], LIVE_ACTION[a.observed])
        flow = {
            "src": a.src,
            "dst": a.dst,
            "src_zone": a.src_zone,
            "dst_zone": a.dst_zone,
            "service": port_text(a.proto, a.port),
        }
        if seen[0] != seen[1]:
            entry = {"before": b.observed, "after": a.observed, "kind": _kind(*seen)}
            entry |= {"rule_before": b.rule, "rule_after": a.rule}
            changed.append(flow | entry | {"breaks": a.violates, "ok": a.ok})
        for when, space, saw, res in (("before", old, seen[0], b), ("after", new, seen[1], a)):
            cls = space.lookup(src, dst, a.proto, a.port)
            if cls is not None and cls.action == saw:
                continue
            model = f"{cls.action.value} by {cls.rule}" if cls else "nothing"
            why = (
                f"{when} the swap the static model says {model}; the twin saw {res.observed} "
                f"(logged rule: {res.rule or 'none'})"
            )
            disagree.append(flow | {"why": why})
    return changed, disagree


def _kind(before: Action, after: Action) -> str:
    if after == Action.allow:
        return "newly-allowed"
    return "newly-blocked" if before == Action.allow else "block-changed"


def _open(lab: str | None, candidate_name: str) -> Lab:
    if lab is None and any(e.lab == candidate_name for e in entries()):
        lab = candidate_name
    return open_lab(lab)


def _check_swappable(old: Plan, new: Plan) -> None:
    if not firewall_of(new.firewall_kind).rehearsal:
        raise UsageError(f"rehearse swaps nftables rulesets; this firewall is {new.firewall_kind}")
    if enforced_by_hosts(old) or enforced_by_hosts(new):
        raise UsageError(
            "rehearse swaps the central firewall's ruleset; with enforcement on the hosts "
            "(enforcement: host|both) bring the candidate up with `twin up` instead"
        )
    differ = same_topology(old.policy, new.policy)
    if differ:
        raise UsageError(
            f"the candidate changes {', '.join(differ)}: a rehearsal swaps rules only; "
            "bring a twin of the new topology up with `twin up`"
        )


def _healthy(lab: Lab) -> None:
    health = check_health(lab.runtime, lab.state, lab.plan)
    if not health.ok:
        raise EnvironmentProblem(
            f"lab {lab.state.lab} is not healthy, so no verdict would be true: "
            + "; ".join(health.problems)
        )


def _remember_baseline(lab: Lab) -> Path:
    folder = lab_subdir(lab.state.path, LabDir.REHEARSAL)
    if _active(folder) != "candidate":
        write_atomic(folder / "baseline.yml", lab.state.files.policy.read_bytes())
        fw = lab.state.files.config(lab.plan.firewall, _suffix(lab.plan))
        write_atomic(folder / "baseline.nft", fw.read_bytes())
    return folder


def _adopt(lab: Lab, plan: Plan, ruleset: str, policy: bytes | None = None) -> None:
    """The lab directory names what the firewall enforces now (`twin test` judges by it)."""
    write_atomic(lab.state.files.config(plan.firewall, _suffix(plan)), ruleset)
    if policy is not None:
        write_atomic(lab.state.files.policy, policy)
    else:
        write_atomic(lab.state.files.policy, policy_text(plan))


def policy_text(plan: Plan) -> str:
    """The plan's policy as a file `twin` loads back to the same policy. Defaults are written
    out: an intent line whose `service: any` was left out as a default did not load
    (`missing key 'service'`), and the lab could be neither tested nor rolled back."""
    dump = plan.policy.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json.dumps(dump, indent=1) + "\n"


def _active(folder: Path) -> str:
    return str(rehearsal_state(folder.parent).get("active", "baseline"))


def _set_active(folder: Path, active: str, candidate: str) -> None:
    body = {"active": active, "candidate": candidate, "time": time.time()}
    write_atomic(folder / LabDir.REHEARSAL_STATE, json.dumps(body, indent=1))
