"""The public vendor corpus, imported file by file: `make vendor-corpus`.

Every file under tests/data/vendor-corpus/<vendor>/ (see SOURCES.md there) goes through the same
path as `twin import <vendor> FILE`: parse → build_policy. Each file ends one of four ways:

- imported: a valid twin policy; the line gives the vendor rules read and how many were imported
  exactly, approximated and skipped (a rule counts once, by its worst note);
- refused: the file has nothing to import, said in one line (e.g. no security policy);
- failed: the import stopped on something else (the readers must never abort on a real file);
- crashed: an exception that is not a TwinError (a traceback for the user).

`EXPECTED_FAILURES` names the files the readers do not import yet, with the reason; it only ever
shrinks. The unit test tests/unit/vendors/test_vendor_corpus.py holds every other file to
imported-or-refused.

Usage: python -m tests.vendor_corpus [FILE …]   (no FILE: the whole corpus; exit 1 if any file
outside EXPECTED_FAILURES failed or crashed)
"""

from __future__ import annotations

import resource
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from twin.errors import InputError, TwinError
from twin.vendors.registry import parse
from twin.vendors.translate.build import build_policy

CORPUS = Path(__file__).resolve().parent / "data" / "vendor-corpus"
VENDORS = ("panos", "fortigate", "asa")
# One-line refusals that mean "this file has nothing twin can import" (not a reader failure).
REFUSALS = (
    "no security policy in this file",
    "no security rules in this file",
    "no zones in this file",
    "configuration, not",  # "this is a FortiGate configuration, not PAN-OS"
)

# A reader that never returns on a file (none today) is listed with HANGS: the unit test does
# not run it; `make vendor-corpus` does, under TIMEOUT and MEMORY.
HANGS = "hangs"
MEMORY = 4 << 30  # bytes of address space for `make vendor-corpus` (a runaway reader fails)
TIMEOUT = 30.0  # seconds per file: a reader that loops on a real file is a failure, not a wait
EXPECTED_FAILURES: dict[str, str] = {}  # every reader imports (or refuses) every corpus file


@dataclass
class Outcome:
    file: str  # relative to CORPUS, e.g. "asa/x.cfg"
    status: str  # imported | refused | failed | crashed
    message: str = ""
    rules: int = 0
    exact: int = 0
    approximated: int = 0
    skipped: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("imported", "refused")

    def line(self) -> str:
        if self.status == "imported":
            what = (
                f"rules {self.rules:4d}  exact {self.exact:4d}  approximated "
                f"{self.approximated:4d}  skipped {self.skipped:4d}"
            )
        else:
            what = f"{self.status}: {self.message}"
        mark = "" if self.file not in EXPECTED_FAILURES else "  [expected failure]"
        if self.ok and mark:
            mark = "  [expected failure now passes: remove it from EXPECTED_FAILURES]"
        return f"{self.file:55s} {what}{mark}"


def corpus_files() -> list[Path]:
    return sorted(p for v in VENDORS for p in (CORPUS / v).iterdir() if p.is_file())


def vendor_of(path: Path) -> str:
    vendor = path.parent.name
    if vendor not in VENDORS:
        raise SystemExit(f"{path}: put corpus files under one of {', '.join(VENDORS)}/")
    return vendor


def run_file(path: Path) -> Outcome:
    rel = str(path.relative_to(CORPUS)) if path.is_relative_to(CORPUS) else str(path)
    start = time.perf_counter()
    out = _run(path, rel)
    out.seconds = time.perf_counter() - start
    return out


class _Timeout(Exception):
    pass


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """SIGALRM after `seconds` (main thread only; elsewhere no deadline)."""
    if seconds <= 0 or signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, None):
        yield
        return

    def fire(_sig: int, _frame: object) -> None:
        raise _Timeout

    try:
        signal.signal(signal.SIGALRM, fire)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


def _run(path: Path, rel: str) -> Outcome:
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
        with _deadline(TIMEOUT):
            imported = build_policy(parse(vendor_of(path), text, rel), "corpus")
    except _Timeout:
        return Outcome(rel, "crashed", f"no answer within {TIMEOUT:.0f} s (a loop in the reader?)")
    except MemoryError:
        return Outcome(rel, "crashed", f"more than {MEMORY >> 30} GiB of memory")
    except InputError as exc:
        msg = str(exc.problems[0]) if exc.problems else str(exc)
        one_line = len(exc.problems) == 1 and "\n" not in msg
        refused = one_line and any(r in msg for r in REFUSALS)
        return Outcome(rel, "refused" if refused else "failed", msg.splitlines()[0])
    except TwinError as exc:
        return Outcome(rel, "failed", str(exc).splitlines()[0])
    except Exception as exc:  # noqa: BLE001 - a crash is what this run looks for
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return Outcome(
            rel,
            "crashed",
            f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})",
        )
    rep = imported.report
    o = rep.outcomes()  # one outcome per vendor rule; disabled and never-matching rules decide
    return Outcome(  # nothing on the device nor in the twin: they count as exact
        rel,
        "imported",
        rules=o["read"],
        exact=o["exact"] + o["disabled"] + o["never"],
        approximated=o["approximated"],
        skipped=o["skipped"],
        notes=[str(n) for n in rep.notes],
    )


def main(argv: list[str]) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, resource.getrlimit(resource.RLIMIT_AS)[1]))
    files = [Path(a).resolve() for a in argv] or corpus_files()
    outcomes = []
    for path in files:
        outcome = run_file(path)
        outcomes.append(outcome)
        print(outcome.line(), flush=True)
    by_status = {s: [o for o in outcomes if o.status == s] for s in ("imported", "refused")}
    bad = [o for o in outcomes if not o.ok]
    unexpected = [o for o in bad if o.file not in EXPECTED_FAILURES]
    imp = by_status["imported"]
    print(
        f"\n{len(outcomes)} files: {len(imp)} imported, {len(by_status['refused'])} refused "
        f"in one line, {len([o for o in bad if o.status == 'failed'])} failed, "
        f"{len([o for o in bad if o.status == 'crashed'])} crashed "
        f"({len(bad) - len(unexpected)} of them expected failures)"
    )
    print(
        f"rules read {sum(o.rules for o in imp)}: exact {sum(o.exact for o in imp)}, "
        f"approximated {sum(o.approximated for o in imp)}, skipped {sum(o.skipped for o in imp)}"
        f"; {sum(o.seconds for o in outcomes):.1f} s"
    )
    for vendor in VENDORS:
        mine = [o for o in outcomes if o.file.startswith(vendor + "/")]
        if mine:
            ok = len([o for o in mine if o.ok])
            print(f"  {vendor:10s} {ok}/{len(mine)} imported or refused in one line")
    if unexpected:
        print("unexpected failures: " + ", ".join(o.file for o in unexpected))
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
