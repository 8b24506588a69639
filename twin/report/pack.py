"""The evidence pack: one folder an auditor can keep, holding a kept run's reports and raw
evidence, sealed by `MANIFEST.sha256` (the format `sha256sum -c` reads), and the check that
re-hashes every file and names what was altered, removed or added.

Contents: the HTML report (links to the log records beside it), the JSON report, JUnit, the
policy file judged, the rendered ruleset, the firewall's log records of the run as received,
the health and crafted-packet results, and `README.txt`: what was tested, when (UTC), with which
twin, and what the evidence does not show.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from twin.files import write_output
from twin.lab.runstore import RunFiles
from twin.report.html import write_html
from twin.report.json import write_json
from twin.report.junit import write_junit
from twin.verify.runs import SavedRun, utc

MANIFEST = "MANIFEST.sha256"
LINE = re.compile(r"\A([0-9a-f]{64}) [ *](.+)\Z")
HTML, JSON, JUNIT, README = "report.html", "results.json", "junit.xml", "README.txt"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Scope:
    """What an evidence run was asked to show."""

    profile: str  # e.g. "PCI DSS v4.0 11.4.5 / 11.4.6 segmentation"
    cde: tuple[str, ...]  # the zones in scope
    others: tuple[str, ...]  # the zones out of scope, swept to and from them
    ports: str  # what each zone pair was swept on
    started: float  # the evidence run, UTC
    ended: float


def write_pack(saved: SavedRun, out: Path, scope: Scope) -> str:
    """Write the pack into `out` (an empty directory); returns the sha256 of its manifest."""
    assert saved.folder is not None
    run = RunFiles(saved.folder)
    copies = {
        RunFiles.NFLOG: run.nflog,
        "health.json": run.health,
        "crafted.json": run.crafted,
        "policy.yml": run.policy,
    }
    copies |= {p.name: p for p in saved.folder.glob(f"{RunFiles.RULESET}.*")}
    for name, source in copies.items():
        if source.is_file() and not source.is_symlink():
            shutil.copyfile(source, out / name)
    write_html(saved, out / HTML, log_href=RunFiles.NFLOG)
    write_json(saved.run, out / JSON)
    write_junit(saved.plan, saved.run, out / JUNIT)
    write_output(out / README, readme(saved, scope, sorted(copies)))
    lines = [f"{sha256_file(out / name)}  {name}" for name in sorted(listing(out))]
    text = "\n".join(lines) + "\n"
    write_output(out / MANIFEST, text)
    return hashlib.sha256(text.encode()).hexdigest()


def readme(saved: SavedRun, scope: Scope, files: list[str]) -> str:
    run, source = saved.run, saved.run.source
    host = run.host
    probes = len(run.results) + run.sweep_probes
    verdict = "PASS" if run.ok else ("FAIL" if run.exit_code == 1 else "NO VERDICT")
    return f"""Segmentation test evidence — {scope.profile}

Result: {verdict} (exit code {run.exit_code}); {probes:,} probes.
Lab (twin): {saved.lab}; run {run.run_id}
Evidence run: {utc(scope.started)} to {utc(scope.ended)} (UTC)
Probes: {utc(run.started)} to {utc(run.ended)} (UTC)
Tool: twin {host.get("twin", "?")} on {host.get("hostname", "?")} ({host.get("kernel", "?")})
Policy file: {source.get("policy_file", "?")}
Policy sha256: {source.get("policy_sha256", "?")}
Ruleset sha256 (as the firewall held it): {source.get("ruleset_sha256") or "none"}

In scope (cardholder-data environment): {", ".join(scope.cde)}
Out of scope, swept to and from every zone in scope: {", ".join(scope.others)}
Ports swept between them: {scope.ports}; one host pair per zone pair unless stated in
{JSON}. Also probed: the policy's own flows between every pair of zones, its intent lines,
and crafted packets (a TCP ACK with no connection, a SYN with a spoofed source address).

What this evidence shows. twin built a twin of the network described by the policy file
(zones, hosts, one firewall), loaded the firewall with the ruleset rendered from that policy,
and sent real packets between the twin's hosts. Each verdict rests on two witnesses: what came
back to the prober (a reply, a reset from the host, a rejection from the firewall, or nothing)
and the firewall's own log record of the same packet, which names the rule that decided it.
A UDP port that stayed silent while the firewall logged that it accepted the packet is
counted as reachable ("crossed"), never as blocked.

What it does not show. It shows how that ruleset treats the flows listed in the reports, on
the twin. It does not show how the production firewall treats them: its configuration,
software, NAT, routing and anything else on the path are outside this test unless they were
translated into the policy file. A pass is evidence about the ruleset, not about the device.

Files: {HTML} (for people; prints to PDF), {JSON}, {JUNIT}, {", ".join(files)} (the
firewall's log records, health checks before and after, crafted packets, the policy file,
the rendered ruleset), this {README}, and {MANIFEST}: the sha256 of every file
(`sha256sum -c {MANIFEST}`, or `twin evidence verify DIR`). Keep the sha256 of {MANIFEST}
itself where the holder of this folder cannot change it (a ticket, an e-mail): a manifest
rewritten together with a file is only caught that way.
"""


def listing(folder: Path) -> list[str]:
    """Every entry below `folder` except the manifest, relative, '/'-separated; a link or a
    special file is listed too (and then fails the check: it is no file of the pack)."""
    out = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        for name in files + [d for d in dirs if (Path(root) / d).is_symlink()]:
            path = (rel / name).as_posix()
            if path != MANIFEST:
                out.append(path)
    return out


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_pack(folder: Path) -> list[str]:
    """What is wrong with the pack, one line per file ([] when every hash holds and nothing
    was added or removed)."""
    manifest = folder / MANIFEST
    try:
        text = manifest.read_text()
    except FileNotFoundError:
        return [f"{MANIFEST}: missing (this folder is no evidence pack, or it was removed)"]
    listed: dict[str, str] = {}
    problems = []
    for n, line in enumerate(text.splitlines(), start=1):
        found = LINE.fullmatch(line)
        if found is None:
            problems.append(f"{MANIFEST}: line {n} is not '<sha256>  <file>'")
            continue
        listed[found.group(2)] = found.group(1)
    for name, want in listed.items():
        path = folder / name
        try:
            info = path.lstat()
        except FileNotFoundError:
            problems.append(f"{name}: removed (listed in {MANIFEST})")
            continue
        if not stat.S_ISREG(info.st_mode) or ".." in Path(name).parts:
            problems.append(f"{name}: not a regular file of the pack")
        elif sha256_file(path) != want:
            problems.append(f"{name}: altered (sha256 differs from {MANIFEST})")
    problems += [
        f"{name}: added (not in {MANIFEST})" for name in listing(folder) if name not in listed
    ]
    return problems
