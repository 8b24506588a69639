"""Evidence commands: `twin evidence pci` (a segmentation test into a sealed pack) and
`twin evidence verify` (re-check a pack's every hash)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from twin import evidence
from twin.cli.common import err, handle_errors, out, progress
from twin.cli.options import RUNTIMES, Policy, Runtime, choose
from twin.errors import UsageError
from twin.report.console import summary_line
from twin.report.pack import MANIFEST, check_pack

app = typer.Typer(
    name="evidence",
    help="Test evidence an auditor keeps: a segmentation sweep sealed in a pack, and its check.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command(
    "pci", short_help="Sweep the zones around the CDE on every port; write a sealed evidence pack."
)
@handle_errors
def pci(
    file: Policy,
    cde: Annotated[
        list[str],
        typer.Option(
            "--cde",
            metavar="ZONE",
            help="Zones of the cardholder-data environment (repeat or comma-separate).",
        ),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            "--out",  # the spelling (`twin evidence pci FILE --cde Z --out DIR`)
            metavar="DIR",
            help="New or empty folder for the pack (default twin-evidence-<lab>-<UTC>).",
        ),
    ] = None,
    runtime: Runtime = "auto",
    ports: Annotated[
        str,
        typer.Option(
            "--ports", metavar="all|top1000|LIST", help="all, top1000, or 22,80,8000-8100."
        ),
    ] = "all",
    matrix: Annotated[
        str,
        typer.Option(
            "--matrix",
            metavar="zones|full",
            help="zones: one host pair per zone pair; full: every host pair.",
        ),
    ] = "zones",
) -> None:
    """Sweep every out-of-scope zone to every CDE zone and back (TCP and UDP 1-65535, ICMP) and
    write the evidence pack: HTML, JSON and JUnit reports, the policy, the ruleset, the
    firewall's log records, health and crafted-packet results, a statement of scope, and
    MANIFEST.sha256. Brings the twin up if it is not (and down after). Exit 0 when every
    probe matches the policy and the intent, 1 when one differs, 3 when one could not be
    judged; the pack is written in every case."""
    choose("--matrix", matrix, ("zones", "full"))
    choose("--runtime", runtime, RUNTIMES)
    zones = [z.strip() for part in cde for z in part.split(",") if z.strip()]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = out_dir or Path(f"twin-evidence-{file.stem}-{stamp}")
    with progress(f"evidence for {file}: sweeping every port around {', '.join(zones)}"):
        done = evidence.pci(file, zones, folder, runtime=runtime, ports=ports, matrix=matrix)
    run = done.saved.run
    out.print(summary_line(run), style="green" if run.ok else "bold red")
    out.print(
        f"evidence pack: {folder}/ (run {run.run_id}); {MANIFEST} sha256 {done.manifest_sha256}"
        f" — keep this hash where the pack's holder cannot change it"
    )
    out.print(
        f"evidence run {done.seconds:.1f} s"
        + (" (twin brought up and taken down)" if done.brought_up else " (twin was up)")
    )
    if done.left:
        err.print(f"error: lab {done.saved.lab}: could not remove {', '.join(done.left)}")
        raise typer.Exit(3)
    raise typer.Exit(run.exit_code)


@app.command(
    "verify",
    short_help="Re-check every hash of an evidence pack: 0 intact, 1 naming what changed.",
)
@handle_errors
def verify(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="An evidence pack's folder.")],
) -> None:
    """Re-check every hash of an evidence pack: exit 0 when it is intact, 1 naming each file
    altered, removed or added."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a directory (give an evidence pack's folder)")
    problems = check_pack(folder)
    for p in problems:
        err.print(f"{folder}/{p}", markup=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    listed = len((folder / MANIFEST).read_text().splitlines())
    out.print(f"{folder}: intact — {listed} files match {MANIFEST}")
