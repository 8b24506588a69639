"""twin blast, twin graph and the unreachable intent through the real CLI; the graph in Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from bench.scale import scale_policy
from tests.conftest import REFERENCE, ROOT
from twin.analysis.blast import Blast
from twin.analysis.reach import Reach
from twin.plan.build import build_plan
from twin.policy.model import Policy
from twin.report.graph import zone_svg


def twin(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def pivot_to_finance(data: dict) -> None:
    """app may now open https on finance: web → app → finance breaks web-never-reaches-finance."""
    data["rules"].insert(0, {"name": "app-to-finance", "from": "app", "to": "finance",
                             "services": ["https"], "action": "allow"})  # fmt: skip


def test_blast_on_the_reference_prints_paths_and_holds_its_intent() -> None:
    res = twin("blast", str(REFERENCE))
    assert res.returncode == 0, res.stderr
    assert "crown jewels: db (zone), finance (zone)" in res.stdout
    assert "web → db: web1 → app1 tcp/8080 (web-to-app) → db1 tcp/5432 (app-to-db)" in res.stdout
    assert "management → finance: jump1 → fin1 tcp/22 (mgmt-ssh)" in res.stdout
    assert "✓ intent web-never-reaches-finance" in res.stdout and res.stderr == ""


def test_blast_json_to_stdout_has_zones_hosts_and_intent() -> None:
    res = twin("blast", str(REFERENCE), "--json", "-")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)  # nothing but the JSON on stdout
    web = next(z for z in data["zones"] if z["zone"] == "web")
    assert (web["direct"], web["reached"], web["zones_reached"]) == (2, 4, ["app", "db"])
    assert web["jewels"]["finance"] is None
    assert [h["rule"] for h in web["jewels"]["db"]] == ["web-to-app", "app-to-db"]
    assert web["jewels"]["db"][0] == {
        "src": "web1", "src_zone": "web", "dst": "app1", "dst_zone": "app",
        "proto": "tcp", "port": 8080, "service": "tcp/8080", "rule": "web-to-app",
        "family": 4,
    }  # fmt: skip
    jump1 = next(h for h in data["hosts"] if h["host"] == "jump1")
    assert (jump1["reached"], jump1["jewels"]) == (11, ["db", "finance"])
    assert [i["holds"] for i in data["intent"]] == [True, True] and data["ok"]


def test_blast_from_a_host_writes_json_and_prints_each_host_reached(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "blast.json"
    out.parent.mkdir()  # twin creates no directory beside the file it was told to write
    res = twin("blast", str(REFERENCE), "--from", "web1", "--json", str(out))
    assert res.returncode == 0, res.stderr
    assert "foothold web1: reaches 5 hosts in 2 hops (fixed point)" in res.stdout
    assert "crown jewel finance: unreachable" in res.stdout
    data = json.loads(out.read_text())["foothold"]
    assert [(r["host"], r["hops"]) for r in data["reached"]] == [
        ("web2", 1), ("app1", 1), ("app2", 1), ("db1", 2), ("db2", 2)
    ]  # fmt: skip
    assert data["reached"][3]["rules"] == ["app-to-db", "intrazone-default"]


def test_a_pivot_breaks_the_unreachable_intent_exit_1(make_policy: Callable[..., Path]) -> None:
    policy = make_policy(pivot_to_finance)
    res = twin("blast", str(policy))
    assert res.returncode == 1, res.stderr
    assert "✗ intent web-never-reaches-finance" in res.stdout
    assert "web1 → app1 tcp/8080 (web-to-app) → fin1 tcp/443 (app-to-finance)" in res.stdout
    res = twin("validate", str(policy))
    assert res.returncode == 1
    assert (
        "✗ intent web-never-reaches-finance: web -> finance: unreachable — a path: "
        "web1 → app1 tcp/8080 (web-to-app) → fin1 tcp/443 (app-to-finance)"
    ) in res.stdout
    # the same hop on its own breaks no flow line: only the path does
    assert res.stdout.count("✗") == 2  # web- and dev-never-reaches-finance


def test_an_unreachable_line_with_a_service_restricts_the_last_hop(
    make_policy: Callable[..., Path],
) -> None:
    def edit(data: dict) -> None:
        pivot_to_finance(data)
        data["expect"] = [
            {"name": "no-ssh-into-finance", "from": "web", "to": "finance", "service": "ssh",
             "verdict": "unreachable"},
            {"name": "no-https-into-finance", "from": "web", "to": "finance", "service": "https",
             "verdict": "unreachable"},
        ]  # fmt: skip

    data = json.loads(twin("blast", str(make_policy(edit)), "--json", "-").stdout)
    assert [(i["name"], i["holds"]) for i in data["intent"]] == [
        ("no-ssh-into-finance", True), ("no-https-into-finance", False)
    ]  # fmt: skip


def test_bad_foothold_and_via_are_one_line_exit_2(tmp_path: Path) -> None:
    for args in (("--from", "nowhere"), ("--via", "udp")):
        res = twin("blast", str(REFERENCE), *args)
        assert res.returncode == 2 and res.stdout == ""
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    res = twin("graph", str(REFERENCE), "-o", str(tmp_path))  # a directory: refused before work
    assert res.returncode == 2
    assert res.stderr == f"error: --output {tmp_path}: is a directory; name a file\n"
    res = twin("blast", str(tmp_path / "missing.yml"))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1


def test_graph_marks_the_foothold_jewels_and_attack_path(tmp_path: Path) -> None:
    out = tmp_path / "graph.svg"
    res = twin("graph", str(REFERENCE), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "9 zone-to-zone edges, attack paths from web" in res.stdout
    svg = out.read_text()
    assert svg.count('<g class="attack">') == 2  # web → app, app → db
    assert "tcp/8080 · web-to-app" in svg and "tcp/5432 · app-to-db" in svg
    assert svg.count('class="zone foothold"') == 1 and svg.count('class="zone reached"') == 2
    assert svg.count('class="zone not-reached"') == 3
    assert svg.count('stroke="#d4a017"') == 3  # two crown jewels and the legend
    res = twin("graph", str(REFERENCE), "-o", "-", "--from", "management")
    assert res.stdout.startswith("<svg") and res.stdout.count('<g class="attack">') == 2


def test_a_hundred_zone_graph_stays_a_picture() -> None:
    data = scale_policy(100)
    data["zones"]["z050"]["sensitive"] = True
    blast = Blast(Reach(build_plan(Policy.model_validate(data))))
    drawn = zone_svg(blast)
    assert drawn.zones == 100 and drawn.edges > 5000
    assert len(drawn.svg) < 600_000  # thousands of arrows, but bare ones
    assert drawn.svg.count('class="zone ') == 100 and '<g class="attack">' in drawn.svg


def chromium(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is not installed (make setup)"
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'chromium'}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


MEASURE = """<!DOCTYPE html><html><body>{svg}<pre id="out"></pre><script>
const svg = document.querySelector('svg'), r = svg.getBoundingClientRect();
const texts = [...svg.querySelectorAll('text')];
const box = e => e.getBoundingClientRect();
const nodes = [...svg.querySelectorAll('g.zone > circle')].map(box);
const cut = (a, b) =>
  a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
const bad = [];
for (const t of texts) {{
  const b = box(t);
  if (b.left < r.left || b.right > r.right || b.top < r.top || b.bottom > r.bottom)
    bad.push('outside: ' + t.textContent);
}}
const labels = texts.filter((t, i) => i > 1 && t.closest('g.zone, g.legend') === null)
  .map(t => [t.textContent, box(t)]);
labels.forEach(([n, a], i) => labels.slice(i + 1).forEach(([m, b]) => {{
  if (cut(a, b)) bad.push(n + ' / ' + m);
}}));
labels.forEach(([n, a]) => nodes.forEach(c => {{ if (cut(a, c)) bad.push(n + ' on a zone'); }}));
const out = document.getElementById('out');
out.textContent = 'LABELS ' + labels.length + ' BAD ' + JSON.stringify(bad);
</script></body></html>"""


def test_chromium_lays_out_the_six_zone_graph_without_overlaps(tmp_path: Path) -> None:
    """The browser's own text metrics: every label inside the picture, no label on another
    label or on a zone; and the standalone file parses as SVG."""
    out = tmp_path / "graph.svg"
    assert twin("graph", str(REFERENCE), "-o", str(out)).returncode == 0
    dom = chromium("--dump-dom", out.resolve().as_uri(), tmp_path=tmp_path)
    assert dom.returncode == 0 and "zone-graph" in dom.stdout and "parsererror" not in dom.stdout
    page = tmp_path / "measure.html"
    page.write_text(MEASURE.format(svg=out.read_text()))
    dom = chromium("--dump-dom", page.resolve().as_uri(), tmp_path=tmp_path)
    assert dom.returncode == 0, dom.stderr[-500:]
    assert "LABELS 9 BAD []" in dom.stdout, dom.stdout[-800:]
    shot = tmp_path / "graph.png"
    res = chromium(f"--screenshot={shot}", "--window-size=900,720", out.resolve().as_uri(),
                   tmp_path=tmp_path)  # fmt: skip
    assert res.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_policy_file_fields_reach_the_analysis(tmp_path: Path) -> None:
    """`sensitive: true` on a host outside a sensitive zone makes that host a crown jewel."""
    data = yaml.safe_load(REFERENCE.read_text())
    data["zones"]["db"].pop("sensitive")
    data["zones"]["web"]["hosts"] = ["web1", {"name": "web2", "sensitive": True}]
    path = tmp_path / "p.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = json.loads(twin("blast", str(path), "--json", "-").stdout)
    assert [(j["name"], j["kind"], j["hosts"]) for j in out["crown_jewels"]] == [
        ("finance", "zone", ["fin1", "fin2"]), ("web2", "host", ["web2"])
    ]  # fmt: skip
    dev = next(z for z in out["zones"] if z["zone"] == "dev")
    assert dev["jewels"]["web2"] is None
    web = next(z for z in out["zones"] if z["zone"] == "web")
    assert web["jewels"]["web2"] == []  # inside: web2 is one of web's own hosts


def test_the_readme_picture_is_what_twin_graph_draws_today(tmp_path: Path) -> None:
    out = tmp_path / "graph.svg"
    assert twin("graph", str(REFERENCE), "-o", str(out)).returncode == 0
    docs = ROOT / "docs" / "zt6-graph.svg"
    assert out.read_text() == docs.read_text(), (
        "redraw it: twin graph topologies/zero-trust-6zone.yml -o docs/zt6-graph.svg"
    )


def test_diff_exits_1_when_a_change_opens_a_path_even_if_the_line_is_deleted(
    make_policy: Callable[..., Path],
) -> None:
    def drop_line(data: dict) -> None:
        pivot_to_finance(data)
        data["expect"] = [e for e in data["expect"] if e.get("name") != "web-never-reaches-finance"]

    base = make_policy()
    for edit in (pivot_to_finance, drop_line):
        res = twin("diff", str(base), str(make_policy(edit)), "--json", "-")
        assert res.returncode == 1, res.stderr
        data = json.loads(res.stdout)
        opened = {p["intent"]: p["path"] for p in data["paths_opened"]}
        assert opened["web-never-reaches-finance"] == (
            "web1 → app1 tcp/8080 (web-to-app) → fin1 tcp/443 (app-to-finance)"
        )
        assert data["intent_violations"] == []  # no single flow class breaks a flow line
    res = twin("diff", str(base), str(make_policy(pivot_to_finance)))
    assert (
        "intent web-never-reaches-finance (web -> finance: unreachable) is broken by a new path"
        in (res.stdout)
    )
    assert "the change VIOLATES intent: dev-never-reaches-finance, web-never-reaches-finance" in (
        res.stdout
    )


def test_diff_of_a_policy_already_broken_by_a_path_does_not_blame_the_change(
    make_policy: Callable[..., Path],
) -> None:
    broken = make_policy(pivot_to_finance)

    def also_dev_to_db(data: dict) -> None:
        pivot_to_finance(data)
        data["rules"].insert(0, {"name": "dev-to-db", "from": "dev", "to": "db",
                                 "services": ["postgres"], "action": "allow"})  # fmt: skip
        data["expect"] = [e for e in data["expect"] if e.get("name") != "dev-cannot-touch-db"]

    res = twin("diff", str(broken), str(make_policy(also_dev_to_db)), "--json", "-")
    data = json.loads(res.stdout)
    assert res.returncode == 1  # dev-cannot-touch-db (an old flow line) is broken by the change
    assert data["paths_opened"] == []
    assert {v["intent"] for v in data["already_violated"]} == {
        "web-never-reaches-finance", "dev-never-reaches-finance"
    }  # fmt: skip
