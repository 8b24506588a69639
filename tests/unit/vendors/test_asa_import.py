"""Cisco ASA / FTD import on hand-written fixtures (tests/data/vendors/asa): one per construct.

Each flow below is what the device decides, worked out from ASA's documented order: same
security level (unless same-security-traffic), inbound ACL then global ACL then implicit deny,
or the implicit permit from a higher to a lower level when neither ACL exists; outbound ACL on
top; intra-subnet traffic never crosses the firewall.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import assert_golden
from twin.errors import InputError
from twin.plan.build import build_plan
from twin.plan.plan import Plan
from twin.policy.model import Action
from twin.vendors.device import DeviceConfig
from twin.vendors.registry import parse
from twin.vendors.report import Direction, Kind, Outcome
from twin.vendors.translate.build import Imported, build_policy

from .helpers import decide

DATA = Path(__file__).resolve().parents[2] / "data" / "vendors" / "asa"
GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "vendors" / "asa"
FIXTURES = sorted(p.stem for p in DATA.glob("*.cfg") if p.stem != "no-interfaces")
A, D = Action.allow, Action.deny


def asa(name: str) -> Imported:
    path = DATA / f"{name}.cfg"
    return build_policy(parse("asa", path.read_text(), f"asa/{name}.cfg"), "asa")


def verdict(plan: Plan, src: tuple[str, str], dst: tuple[str, str], svc: str) -> Action:
    proto, _, port = svc.partition("/")
    return decide(plan, src[0], dst[0], src[1], dst[1], proto, int(port or 0))[0]


def outcomes(imp: Imported) -> dict[str, tuple[Outcome, Direction | None]]:
    return {r.name: (r.outcome, r.direction) for r in imp.report.rules}


def dump(dev: DeviceConfig) -> str:
    """The parsed result, one line per item: what the ASA reader itself decided."""
    out = [f"vendor {dev.vendor}; hostname {dev.hostname}; has_policy {dev.has_policy}"]
    for z in dev.zones.values():
        addrs = [str(a) for i in z.interfaces for a in dev.interfaces[i].addresses]
        out.append(f"zone {z.name} line {z.line}: {' '.join(z.interfaces)} {' '.join(addrs)}")
    for a in dev.addresses.values():
        what = a.members if a.members is not None else tuple(map(str, a.networks))
        out.append(f"address {a.name}: {list(what)} {list(a.ipv6)} {a.unsupported}".rstrip())
    for v in dev.services.values():
        out.append(f"service {v.name}: {[str(r) for r in v.ranges]}")
    for r in dev.rules:
        flags = [f for f in ("log", "disabled") if getattr(r, f)]
        out.append(
            f"rule {r.name} line {r.line}: {r.action.value} {r.from_}->{r.to} src {r.source} "
            f"dst {r.destination} svc {r.services} {' '.join(flags)}".rstrip()
        )
        for extra in (r.unsupported, r.ipv6_only, *(x.message for x in r.approximated)):
            if extra:
                out.append(f"    {extra}")
    out.extend(f"note {n}" for n in dev.notes)
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("name", FIXTURES)
def test_golden_parsed_result(name: str, update_golden: bool) -> None:
    path = DATA / f"{name}.cfg"
    dev = parse("asa", path.read_text(), f"asa/{name}.cfg")
    assert_golden(GOLDEN / f"{name}.parsed", dump(dev), update_golden)


def test_security_levels_without_acls() -> None:
    imp = asa("levels")
    assert list(imp.policy.zones) == ["inside", "dmz", "partners", "outside"]
    plan = build_plan(imp.policy)
    inside, dmz = ("inside", "10.1.1.20"), ("dmz", "10.1.2.20")
    partners, outside = ("partners", "10.1.3.20"), ("outside", "198.51.100.20")
    assert verdict(plan, inside, outside, "tcp/443") is A  # 100 → 0 (inside defaults to 100)
    assert verdict(plan, inside, dmz, "udp/53") is A  # 100 → 50
    assert verdict(plan, dmz, outside, "tcp/22") is A  # 50 → 0
    assert verdict(plan, outside, dmz, "tcp/80") is D  # 0 → 50 without an ACL
    assert verdict(plan, dmz, inside, "icmp") is D  # 50 → 100
    assert verdict(plan, dmz, partners, "tcp/80") is D  # same level, no same-security-traffic
    assert verdict(plan, inside, ("inside", "10.1.1.30"), "tcp/80") is A  # never crosses the ASA
    assumed = " ".join(n.message for n in imp.report.of(Kind.assumed))
    assert "management-only" in assumed and "shut down" in assumed


def test_same_security_traffic_permit_inter_interface() -> None:
    plan = build_plan(asa("same-security").policy)
    app, db, out = ("app", "10.2.1.5"), ("db", "10.2.2.5"), ("outside", "203.0.113.5")
    assert verdict(plan, app, db, "tcp/5432") is A
    assert verdict(plan, db, app, "tcp/8080") is A
    assert verdict(plan, app, out, "tcp/443") is A
    assert verdict(plan, out, db, "tcp/5432") is D


def test_objects_groups_names_and_inline_services() -> None:
    imp = asa("objects")
    plan = build_plan(imp.policy)
    out = ("outside", "198.51.100.7")
    dmz = ("dmz", "10.3.1.99")
    assert verdict(plan, out, ("dmz", "10.3.1.10"), "tcp/8005") is A  # name alias in a group
    assert verdict(plan, out, ("dmz", "10.3.1.30"), "tcp/443") is A  # nested object
    assert verdict(plan, out, ("dmz", "10.3.1.11"), "tcp/22") is D  # deny ip any any
    assert verdict(plan, out, ("dmz", "10.3.1.20"), "tcp/587") is A  # service-object group
    assert verdict(plan, out, ("dmz", "10.3.1.44"), "tcp/443") is A  # object service + range
    assert verdict(plan, out, ("dmz", "10.3.1.30"), "udp/5432") is A  # protocol group + port
    assert verdict(plan, out, ("dmz", "10.3.1.53"), "udp/53") is A  # tcp-udp port group
    assert verdict(plan, out, ("dmz", "10.3.1.50"), "tcp/22") is A  # fqdn left out, host kept
    assert verdict(plan, out, ("inside", "10.3.0.5"), "tcp/80") is D
    assert verdict(plan, dmz, out, "udp/123") is D  # source is dmz-all, 10.3.1.99 is not in it
    assert verdict(plan, ("dmz", "10.3.1.40"), out, "udp/123") is A  # nested service group
    assert verdict(plan, ("dmz", "10.3.1.11"), ("inside", "10.3.0.9"), "tcp/22") is A  # neq
    assert verdict(plan, ("dmz", "10.3.1.11"), ("inside", "10.3.0.9"), "tcp/23") is A  # range
    assert verdict(plan, dmz, ("inside", "10.3.0.9"), "tcp/2000") is D  # implicit deny
    got = outcomes(imp)
    assert got["outside_in#5"][0] is Outcome.disabled  # inactive
    assert got["outside_in#7"] == (Outcome.approximated, Direction.block_more)  # fqdn member
    rules = {r.name: r for r in imp.policy.rules}
    assert rules["outside_in_1"].log and rules["outside_in_1"].destination == ["web-farm"]
    assert imp.policy.addresses["dmz-all"] == ["web-farm", "pool"]


def test_global_acl_comes_after_the_interface_acl_and_ends_the_implicit_permit() -> None:
    plan = build_plan(asa("global").policy)
    inside, dmz, out = ("inside", "10.4.0.5"), ("dmz", "10.4.1.5"), ("outside", "198.51.100.5")
    assert verdict(plan, dmz, inside, "tcp/23") is D  # interface ACL first
    assert verdict(plan, dmz, inside, "tcp/389") is A
    assert verdict(plan, dmz, out, "icmp") is A  # then the global ACL
    assert verdict(plan, out, dmz, "tcp/443") is A
    assert verdict(plan, inside, out, "tcp/80") is D  # no implicit permit with a global ACL
    assert verdict(plan, inside, dmz, "tcp/443") is A


def test_outbound_acl_is_a_conjunction() -> None:
    plan = build_plan(asa("outbound").policy)
    low, high = ("inside", "10.5.0.10"), ("inside", "10.5.0.100")
    dmz, out = ("dmz", "10.5.1.5"), ("outside", "198.51.100.5")
    assert verdict(plan, low, out, "tcp/443") is A  # in permits, out permits
    assert verdict(plan, low, out, "tcp/22") is D  # out denies the /26 first
    assert verdict(plan, high, out, "tcp/22") is A  # not in the /26: out's next entry
    assert verdict(plan, high, out, "udp/53") is D  # out's implicit deny
    assert verdict(plan, low, out, "tcp/25") is D  # in denies first
    assert verdict(plan, ("inside", "10.5.0.200"), out, "tcp/443") is D  # in's implicit deny
    assert verdict(plan, dmz, out, "tcp/80") is A  # implicit permit 50 → 0, then out
    assert verdict(plan, dmz, out, "tcp/8080") is D
    assert verdict(plan, low, dmz, "udp/53") is A  # dmz has no outbound ACL


def test_nat_83_acls_use_real_addresses() -> None:
    imp = asa("nat")
    plan = build_plan(imp.policy)
    out = ("outside", "203.0.113.50")
    assert verdict(plan, out, ("inside", "10.6.0.10"), "tcp/80") is A
    assert verdict(plan, out, ("inside", "10.6.0.10"), "tcp/443") is D  # mapped address named
    assert any("mapped address of static NAT" in n.message for n in imp.report.of(Kind.assumed))


def test_nat_before_83_acls_use_mapped_addresses_rewritten_to_the_server() -> None:
    imp = asa("nat-pre83")
    plan = build_plan(imp.policy)
    out = ("outside", "203.0.113.50")
    assert verdict(plan, out, ("inside", "10.7.0.10"), "tcp/80") is A  # static 1:1
    assert verdict(plan, out, ("inside", "10.7.0.20"), "tcp/8443") is A  # port static
    assert verdict(plan, out, ("inside", "10.7.0.20"), "tcp/443") is D
    # no static for .30: routed untranslated (nat-control is off by default), the ACE matches
    assert verdict(plan, out, ("inside", "10.7.0.30"), "tcp/22") is A
    assert len(imp.report.of(Kind.rewritten)) >= 2


def test_ftd_advanced_entries_trust_ifc_and_rule_ids() -> None:
    imp = asa("ftd")
    assert imp.report.vendor == "Cisco FTD"
    plan = build_plan(imp.policy)
    inside, dmz, out = ("inside", "10.8.0.5"), ("dmz", "10.8.1.5"), ("outside", "203.0.113.5")
    assert verdict(plan, out, dmz, "tcp/80") is A  # ifc outside … ifc dmz
    assert verdict(plan, out, inside, "tcp/80") is D  # ifc dmz only
    assert verdict(plan, inside, out, "udp/53") is A  # trust
    assert verdict(plan, dmz, out, "tcp/443") is D  # default action rule
    assert verdict(plan, inside, dmz, "tcp/80") is D
    got = outcomes(imp)
    assert got["CSM_FW_ACL_#1@inside"] == (Outcome.skipped, Direction.block_more)  # ipinip


def test_approximations_and_skips_with_their_direction() -> None:
    got = outcomes(asa("approx"))
    assert got["outside_in#1"] == (Outcome.approximated, Direction.allow_more)  # source port
    assert got["outside_in#2"] == (Outcome.skipped, Direction.allow_more)  # deny: not widened
    assert got["outside_in#3"] == (Outcome.approximated, Direction.allow_more)  # icmp echo
    assert got["outside_in#4"] == (Outcome.skipped, Direction.allow_more)
    assert got["outside_in#5"] == (Outcome.approximated, Direction.allow_more)  # time-range
    assert got["outside_in#6"] == (Outcome.skipped, Direction.allow_more)
    assert got["outside_in#7"] == (Outcome.skipped, Direction.block_more)  # gre
    assert got["outside_in#9"] == (Outcome.skipped, Direction.untested)  # any6
    assert got["outside_in#10"] == (Outcome.skipped, Direction.untested)  # icmp6
    assert got["outside_in#11"] == (Outcome.skipped, Direction.block_more)  # user identity
    assert got["outside_in#12"] == (Outcome.skipped, Direction.block_more)  # to the box
    assert got["outside_in#13"] == (Outcome.skipped, Direction.block_more)  # unknown port name
    assert got["outside_in#14"] == (Outcome.skipped, Direction.block_more)  # unknown object
    assert got["outside_in#15"] == (Outcome.exact, None)


def test_unindented_template_lines_stay_in_their_block() -> None:
    imp = asa("unindented")
    assert str(imp.policy.zones["inside"].subnet) == "10.10.0.0/24"
    plan = build_plan(imp.policy)
    out = ("outside", "198.51.100.7")
    assert verdict(plan, out, ("inside", "10.10.0.10"), "tcp/80") is A
    assert verdict(plan, out, ("inside", "10.10.0.11"), "tcp/80") is D


def test_a_file_without_nameif_is_refused_in_one_line() -> None:
    path = DATA / "no-interfaces.cfg"
    with pytest.raises(InputError) as exc:
        parse("asa", path.read_text(), str(path))
    assert len(exc.value.problems) == 1
    assert "no security policy in this file" in str(exc.value)


def test_cli_imports_asa_and_refuses_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "objects.yml"
    ok = subprocess.run(
        [sys.executable, "-m", "twin", "import", "asa", str(DATA / "objects.cfg"), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert "Cisco ASA rules read" in ok.stdout and out.exists()
    bad = subprocess.run(
        [sys.executable, "-m", "twin", "import", "asa", str(DATA / "no-interfaces.cfg")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
