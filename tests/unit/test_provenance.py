"""provenance.differences: what `twin test FILE` refuses as a change of the lab, and what it
takes as the same twin written otherwise (the reference policy, edited one way at a time)."""

from __future__ import annotations

import pytest

from tests.conftest import REFERENCE
from twin.plan.build import build_plan
from twin.plan.plan import Plan
from twin.policy.load import parse_policy
from twin.verify.provenance import differences, mismatch_message

TEXT = REFERENCE.read_text()
LAB = build_plan(parse_policy(TEXT.encode(), "ref.yml"))
WEB = "  web:        {subnet: 192.168.10.0/24, hosts: [web1, web2]}\n"
APP = "  app:        {subnet: 192.168.20.0/24, hosts: [app1, app2]}\n"
R1 = "  - name: web-to-app\n    from: web\n    to: app\n    services: [app-api]\n"
R2 = "  - name: app-to-db\n    from: app\n    to: db\n    services: [postgres]\n"
RULES2 = R1 + "    action: allow\n    log: true\n" + R2 + "    action: allow\n    log: true\n"


def plan_of(*edits: tuple[str, str]) -> Plan:
    text = TEXT
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return build_plan(parse_policy(text.encode(), "edited.yml"))


SAME = {
    "comments and description": ("# The reference twin", "# edited\n# The reference twin"),
    "key order and quoting": (
        WEB,
        "  web: {hosts: ['web1', \"web2\"], subnet: '192.168.10.0/24'}\n",
    ),
    "zone order": (WEB + APP, APP + WEB),
    "host order, same addresses": (
        "hosts: [web1, web2]",
        "hosts: [{name: web2, address: 192.168.10.12}, {name: web1, address: 192.168.10.11}]",
    ),
    "services' order": ("dns: [udp/53, tcp/53]", "dns: [tcp/53, udp/53]"),
    "a literal for a named service": (R2, R2.replace("[postgres]", "tcp/5432")),
    "an unused service": ("  ssh: tcp/22\n", "  ssh: tcp/22\n  unused: tcp/9999\n"),
    "an anchor": (R1, R1.replace("[app-api]", "&api [app-api]")),
    "the intent": ("verdict: allow}", "verdict: block}"),
    "crown jewels": ("hosts: [db1, db2], sensitive: true}", "hosts: [db1, db2]}"),
    "a new disabled rule": (
        "rules:\n",
        "rules:\n  - {name: dormant, from: any, to: any, action: allow, disabled: true}\n",
    ),
}


@pytest.mark.parametrize("edit", list(SAME.values()), ids=list(SAME))
def test_the_same_twin_written_otherwise_is_no_difference(edit: tuple[str, str]) -> None:
    assert differences(plan_of(edit), LAB) == ([], [])


CHANGED = {  # id: (edit, topology?, the difference named)
    "action": (
        (R2 + "    action: allow", R2 + "    action: deny"), False,
        "rule app-to-db action allow → deny",
    ),
    "order": ((RULES2, RULES2[len(R1) + 32 :] + RULES2[: len(R1) + 32]), False,
              "the order of the rules"),
    "port": (("postgres: tcp/5432", "postgres: tcp/5433"), False,
             "rule app-to-db services tcp/5432 → tcp/5433"),
    "log": ((R2 + "    action: allow\n    log: true", R2 + "    action: allow"), False,
            "rule app-to-db log on → off"),
    "disabled": ((R2, R2 + "    disabled: true\n"), False, "rule app-to-db disabled"),
    "interzone": (("interzone: deny", "interzone: reject"), False,
                  "interzone default action deny → reject"),
    "host address": (("hosts: [web1, web2]", "hosts: [web1, {name: web2, address: 192.168.10.50}]"),
                     True, "host web2 address 192.168.10.12 → 192.168.10.50"),
    "host order": (("hosts: [web1, web2]", "hosts: [web2, web1]"), True,
                   "host web1 address 192.168.10.11 → 192.168.10.12"),
    "subnet": (("192.168.60.0/24", "192.168.61.0/24"), True,
               "zone finance subnet 192.168.60.0/24 → 192.168.61.0/24"),
    "subnet6": (("192.168.10.0/24,", "[192.168.10.0/24, 'fd00:10::/64'],"), True,
                "zone web subnet6 none → fd00:10::/64"),
    "new zone": ((WEB, WEB + "  lab2: {subnet: 192.168.70.0/24, hosts: [lab1]}\n"), True,
                 "zone lab2 added"),
    "removed host": (("hosts: [dev1, dev2]", "hosts: [dev1]"), True, "host dev2 removed"),
    "moved host": ((APP, APP.replace("app2]", "app2, dev2]")), True,
                   "host dev2 moved from zone dev to app"),
    "segment": (("hosts: [dev1, dev2]}", "hosts: [dev1, dev2], segment: flat}"), True,
                "zone dev segment isolated → flat"),
    "kind": (("kind: nftables", "kind: vyos"), True, "firewall kind nftables → vyos"),
    "enforcement": (("name: fw}", "name: fw, enforcement: host}"), True,
                    "enforcement central → host"),
    "gateway": (("192.168.10.0/24,", "192.168.10.0/24, gateway: 192.168.10.254,"), True,
                "zone web gateway 192.168.10.1 → 192.168.10.254"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CHANGED.values()), ids=list(CHANGED))
def test_each_change_of_the_lab_is_named(case: tuple[tuple[str, str], bool, str]) -> None:
    edit, topology, named = case
    edits = [edit, ("hosts: [dev1, dev2]", "hosts: [dev1]")] if " moved " in named else [edit]
    topo, rules = differences(plan_of(*edits), LAB)
    assert named in (topo if topology else rules), (topo, rules)
    line = mismatch_message("edited.yml", "zt6", (topo, rules), "", False)
    assert "\n" not in line and named in line
    assert "`twin down --lab zt6` then `twin up edited.yml`" in line
    # a rehearsal swaps rules only: offered only when the topology is the lab's
    assert ("`twin rehearse edited.yml --lab zt6`" in line) is not topology


def test_a_rehearsal_candidate_running_is_said() -> None:
    line = mismatch_message("base.yml", "zt6", ([], ["the order of the rules"]), "c.yml", True)
    assert "lab runs the rehearsal candidate c.yml" in line
    assert "`twin rehearse --rollback --lab zt6`" in line
    assert "`twin up base.yml --lab zt6`" in line  # the file names another lab


def test_unreachable_lines_are_checked_on_the_plan_judged() -> None:
    """`twin test` judges the `unreachable` lines too (exit 1 when a path breaks one)."""
    from twin.verify.paths import check_paths
    from twin.verify.verify import Verification

    assert [p["holds"] for p in check_paths(LAB)] == [True, True]
    broken = plan_of(("from: dev, to: finance, verdict: unreachable",
                      "from: management, to: db, verdict: unreachable"))  # fmt: skip
    paths = check_paths(broken)
    assert paths[1] == {
        "name": "dev-never-reaches-finance", "text": "management -> db: unreachable",
        "holds": False, "path": "jump1 → db1 tcp/22 (mgmt-ssh)",
    }  # fmt: skip
    run = Verification("zt6", [], 0.0, paths=paths)
    assert not run.ok and run.exit_code == 1 and run.broken_paths == [paths[1]]
    none = ("verdict: unreachable}", "verdict: block, service: any}")
    assert check_paths(plan_of(none, none)) == []  # no line: no graph built


def test_a_file_named_otherwise_is_judged_on_the_only_lab_up(monkeypatch, tmp_path) -> None:
    """FILE's `name:` is no lab up (a candidate, a copy): the only lab up, as rehearse does;
    with several up, exit 3 saying to give --lab."""
    from types import SimpleNamespace

    from twin import pipeline
    from twin.deploy.running import Lab
    from twin.errors import NotUp

    labs = {"tf1": Lab(SimpleNamespace(lab="tf1", path=tmp_path), None, LAB)}  # type: ignore[arg-type]

    def open_lab(name: str | None = None) -> Lab:
        if name is None and len(labs) == 1:
            return next(iter(labs.values()))
        if name not in labs:
            raise NotUp(f"lab {name!r} is not up")
        return labs[name]

    monkeypatch.setattr(pipeline, "open_lab", open_lab)
    copy = tmp_path / "copy.yml"
    copy.write_text(TEXT.replace("name: zt6", "name: other", 1))
    judged = pipeline.open_to_test(None, copy)
    assert judged.state.lab == "tf1" and judged.plan.policy.name == "tf1"
    assert judged.plan.zones == LAB.zones and judged.policy_source == copy.read_bytes()
    labs["tf2"] = labs["tf1"]
    with pytest.raises(NotUp, match=r"copy\.yml names lab other: give --lab NAME"):
        pipeline.open_to_test(None, copy)
