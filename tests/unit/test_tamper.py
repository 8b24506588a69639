"""What changed in the firewall's table since twin loaded it, named from two netlink reads."""

from __future__ import annotations

import copy
import struct

from traffic.nftdump import Census, Chain, Rule, Table, _attr
from twin.firewalls.tamper import describe, fingerprint, foreign, table_sha256


def chain(policy: int) -> bytes:
    return _attr(3, b"forward\0") + _attr(5, struct.pack("!I", policy))


def loaded() -> Table:
    return Table(
        flags=b"",
        chains={"forward": chain(0), "ct-invalid": _attr(3, b"ct-invalid\0")},
        rules=[
            Rule("forward", 22, b"ct-vmap", "", 0),
            Rule("forward", 23, b"anti-spoofing-drop", "anti-spoofing", 5),
            Rule("ct-invalid", 24, b"invalid-drop", "ct-invalid", 0),
        ],
        sets={"zone_nets": b"br-web . 192.168.10.0/24"},
    )


def text(chain: str, handle: int) -> str:
    return f"<handle {handle} of {chain}>"


def test_counters_and_handles_do_not_count() -> None:
    a, b = loaded(), loaded()
    b.rules = [Rule(r.chain, r.handle + 100, r.canon, r.comment, r.packets + 7) for r in b.rules]
    assert table_sha256(a) == table_sha256(b) and fingerprint(a) == fingerprint(b)
    assert describe(fingerprint(a), b, text) == "the same rules, read differently"


def test_added_removed_and_changed_are_named() -> None:
    now = loaded()
    now.chains["forward"] = chain(1)
    now.rules = [Rule("forward", 56, b"sport-accept", "", 0), now.rules[0], now.rules[2]]
    now.sets["zone_nets"] += b", br-web . 10.9.9.0/24"
    assert table_sha256(now) != table_sha256(loaded())
    said = describe(fingerprint(loaded()), now, text)
    assert "chain forward changed (policy drop → accept)" in said
    assert "set zone_nets changed" in said
    assert "rule added to chain forward: `<handle 56 of forward>`" in said
    assert "rule removed from chain forward: `anti-spoofing`" in said


def test_reordered_rules_and_missing_record() -> None:
    now = loaded()
    now.rules = [now.rules[1], now.rules[0], now.rules[2]]
    assert describe(fingerprint(loaded()), now, text) == "rules of chain forward reordered"
    assert "kept no fingerprint" in describe(None, now, text)


def test_many_changes_are_counted_past_the_first_few() -> None:
    now = copy.deepcopy(loaded())
    now.rules += [Rule("forward", 100 + i, b"mark %d" % i, "", 0) for i in range(9)]
    said = describe(fingerprint(loaded()), now, text)
    assert said.count("rule added") == 4 and said.endswith("and 5 more changes")


def test_objects_in_twins_table_count_and_none_leave_the_hash_as_it_was() -> None:
    before = table_sha256(loaded())
    now = loaded()
    now.objects["object q1"] = b"quota"
    assert table_sha256(now) != before
    assert describe(fingerprint(loaded()), now, text) == "object q1 added"
    assert table_sha256(loaded()) == before


def test_every_table_twin_did_not_load_is_named_with_what_it_hooks() -> None:
    census = Census(
        generation=7,
        tables=[("inet", "twin"), ("ip", "evil"), ("netdev", "nd"), ("inet", "twin2")],
        chains=[
            Chain("inet", "twin", "forward", "forward", 0, "filter", "drop"),
            Chain("ip", "evil", "pre", "prerouting", -100, "nat", "accept"),
            Chain("ip", "evil", "helper"),
            Chain("netdev", "nd", "ing", "ingress", 0, "filter", "accept", ("eth1",)),
        ],
        rules={("ip", "evil"): 1, ("netdev", "nd"): 3},
        legacy=[("ip", "filter")],
    )
    said = foreign(census, frozenset({("inet", "twin")}))
    assert said == [
        "table ip evil (chain pre: nat hook prerouting priority -100, policy accept; 1 rule)",
        "table netdev nd (chain ing: filter hook ingress device eth1 priority 0, policy accept;"
        " 3 rules)",
        "table inet twin2 (no base chain; 0 rules)",
        "iptables-legacy table filter (x_tables)",
    ]
    assert foreign(Census(tables=[("inet", "twin")]), frozenset()) == [
        "table inet twin (no base chain; 0 rules)"
    ]
