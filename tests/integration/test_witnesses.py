"""The two witnesses (the prober, the firewall's NFLOG record) on a correct firewall: they
agree however the runs follow each other, and when the machine really loses answers the flows
are sent again and come out `inconclusive` (exit 3), never failed."""

from __future__ import annotations

import json
import os
import random
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.integration.test_netns_twin import FORWARD_HOOK
from traffic import prober
from twin import pipeline
from twin.cli import app
from twin.deploy.configure import load_firewall
from twin.plan.flows import plan_flows

pytestmark = pytest.mark.integration


class SameSpread(prober._Spread):
    """Every prober run draws the same source ports, in the same order."""

    def __init__(self, rnd: random.Random) -> None:
        super().__init__(random.Random(7))


def test_a_run_drawing_the_last_runs_source_ports_is_judged_by_the_rules(
    make_policy, lab_up, monkeypatch
) -> None:
    """A UDP flow the firewall accepted stays in its conntrack table for 30 s: a probe of the
    next run on the same 5-tuple used to pass as `established` with no log record (sent again;
    with the same port drawn again, inconclusive). Each run now starts with the enforcing
    nodes' conntrack tables empty, so every probe meets the rules and is logged."""
    lab = lab_up(make_policy())
    monkeypatch.setattr(prober, "_Spread", SameSpread)
    first = pipeline.test(lab)
    second = pipeline.test(lab)
    for run in (first, second):
        assert run.exit_code == 0, [r.reason for r in run.inconclusive[:3]]
        assert run.reprobed == 0
    udp = [r for r in second.results if r.proto == "udp" and r.observed == "open"]
    assert udp and all(r.rule for r in udp)  # each one logged by the rule that allowed it


@contextmanager
def responder_paused(lab: pipeline.Lab) -> Iterator[None]:
    """SIGSTOP the lab's responder (UDP echo goes unanswered; the kernel still completes TCP
    handshakes and answers ICMP echo), SIGCONT it afterwards."""
    os.kill(lab.state.responder_pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(lab.state.responder_pid, signal.SIGCONT)


def test_answers_the_machine_lost_are_sent_again_then_inconclusive_and_exit_3(
    make_policy, lab_up, monkeypatch, tmp_path
) -> None:
    """The responder is paused while the probes fly (after the health check, resumed before
    the one after): every allowed UDP flow is logged as accepted by the firewall and seen as
    `filtered` by the prober, twice. Re-probed, then `inconclusive` in the terminal, JSON,
    JUnit and HTML, exit 3 — never a failure. A real hole opened at the same time is still
    exit 1, named at once."""
    lab = lab_up(make_policy())
    real_verify = pipeline.verify

    def paused_verify(*args: Any, **kwargs: Any) -> Any:
        with responder_paused(lab):
            return real_verify(*args, **kwargs)

    monkeypatch.setattr(pipeline, "verify", paused_verify)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    res = runner.invoke(
        app, ["test", "--lab", lab.state.lab, "--json", "r.json", "--junit", "j.xml"]
    )
    assert res.exit_code == 3, res.output[-3000:]
    assert "INCONCLUSIVE" in res.output and "FAILED" not in res.output
    report = json.loads((tmp_path / "r.json").read_text())
    udp = {
        (f.flow.src, f.flow.dst, f.flow.port)
        for f in plan_flows(lab.plan)
        if f.flow.proto == "udp" and f.predicted == "allow"
    }
    unsure = [r for r in report["results"] if r["observed"] == "inconclusive"]
    assert udp and {(r["src"], r["dst"], r["port"]) for r in unsure} == udp
    assert report["failures"] == 0 and report["inconclusive"] == len(udp)
    assert report["reprobed"] >= len(udp) and report["exit_code"] == 3
    assert all("prober saw filtered" in r["reason"] for r in unsure)
    assert all("firewall logged allow" in r["reason"] for r in unsure)
    assert 'type="inconclusive"' in (tmp_path / "j.xml").read_text()
    html = runner.invoke(app, ["report", "--lab", lab.state.lab, "--html", "h.html"])
    assert html.exit_code == 3, html.output
    assert "inconclusive" in (tmp_path / "h.html").read_text()

    # a real failure beside them: the firewall opened by a ruleset twin loads as its own
    path = lab.state.path / "configs" / "fw.nft"
    opened = path.read_text().replace(FORWARD_HOOK, FORWARD_HOOK + "\n\t\taccept", 1)
    load_firewall(lab.runtime, lab.state, lab.plan, opened)
    res = runner.invoke(app, ["test", "--lab", lab.state.lab, "--json", "r.json", "-q"])
    assert res.exit_code == 1, res.output[-3000:]
    report = json.loads((tmp_path / "r.json").read_text())
    web_db = [
        r for r in report["results"] if (r["src"], r["dst"], r["port"]) == ("web1", "db1", 5432)
    ]
    assert web_db[0]["observed"] == "open" and "web-never-db" in web_db[0]["violates"]
