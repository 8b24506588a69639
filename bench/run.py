"""Run the benchmarks and print their figures: `make bench` (or `python bench/run.py NAME…`).

Every `bench/<name>.py` (other than this file and `common.py`) is one benchmark, run in its own
process in name order. Figures are printed, never asserted: tests check behaviour, not speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = argv or sorted(
        p.stem for p in HERE.glob("*.py") if p.stem not in {"run", "common", "floor", "__init__"}
    )
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    failed = []
    for name in names:
        print(f"\n=== bench/{name}.py", flush=True)
        if subprocess.run([sys.executable, str(HERE / f"{name}.py")], env=env).returncode:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks that failed to run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
