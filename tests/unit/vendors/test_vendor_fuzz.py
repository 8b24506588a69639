"""Damaged vendor files (lines dropped, repeated, cut, bytes changed): the import either
succeeds or refuses with a one-line InputError — never another exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.errors import InputError
from twin.vendors.registry import parse
from twin.vendors.translate.build import build_policy

DATA = Path(__file__).resolve().parents[2] / "data" / "vendors"
FILES = {
    "fortigate": ["fortigate-backup.conf", "fortigate-multivdom.conf"],
    "panos": ["panos-running.xml", "panos-set.txt", "panos-braces.txt", "panorama.xml"],
    "asa": [f"asa/{n}.cfg" for n in ("objects", "approx", "outbound", "nat-pre83", "ftd")],
}
CASES = [(v, (DATA / f).read_text()) for v, names in FILES.items() for f in names]


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, str]:
    vendor, text = draw(st.sampled_from(CASES))
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(i, min(len(lines), i + 8)))
        op = draw(st.sampled_from(["drop", "repeat", "cut", "char"]))
        if op == "drop":
            del lines[i:j]
        elif op == "repeat":
            lines[j:j] = lines[i:j]
        elif op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, max(len(lines[i]) - 1, 0)))]
        else:
            ch = draw(st.sampled_from(list('"{}[];<>/\\- xq0\t#')))
            k = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:k] + ch + lines[i][k:]
    return vendor, "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=damaged())
def test_damaged_files_import_or_are_refused_in_one_line(case: tuple[str, str]) -> None:
    vendor, text = case
    try:
        build_policy(parse(vendor, text, "damaged"), "fuzz")
    except InputError as exc:
        assert exc.problems
        for p in exc.problems:
            assert "\n" not in str(p).strip()
