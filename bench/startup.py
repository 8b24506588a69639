"""Start-up of the commands people type most: `twin --help`, `twin status`, `twin down`.

Each runs as a user runs it (a fresh `python -m twin`, nothing up, bytecode cached after a
first run), beside the floor `python -c pass` in the same conditions; median of RUNS runs, wall
and CPU time. Target (issue 11): under 0.25 s wall on an idle machine. On a loaded one, read
the ratio to the floor.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from bench.common import REFERENCE, figure, sized

RUNS = sized(9, 1)
TARGETED = {"twin --help", "twin status", "twin down"}
COMMANDS: dict[str, list[str]] = {
    "python -c pass (floor)": ["-c", "pass"],
    "python -c 'import typer' (the CLI framework alone)": ["-c", "import typer"],
    "twin --help": ["-m", "twin", "--help"],
    "twin --version": ["-m", "twin", "--version"],
    "twin status (no lab up)": ["-m", "twin", "status"],
    "twin down (no lab up)": ["-m", "twin", "down"],
    "twin validate (six-zone reference: policy model, plan)": ["-m", "twin", "validate"],
}


def timed(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, *argv], env=env, cwd=cwd, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="twin-bench-startup-") as tmp:
        env = {**os.environ, "TWIN_HOME": f"{tmp}/home", "TWIN_RUN_DIR": f"{tmp}/run"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's twin has its bytecode cached
        env["PYTHONPYCACHEPREFIX"] = f"{tmp}/pycache"  # … kept out of the source tree here
        results: dict[str, tuple[float, float]] = {}
        COMMANDS["twin validate (six-zone reference: policy model, plan)"].append(str(REFERENCE))
        for name, argv in COMMANDS.items():  # from an empty directory: twin is PYTHONPATH's
            timed(argv, env, tmp)  # the first run writes the bytecode
            runs = [timed(argv, env, tmp) for _ in range(RUNS)]
            results[name] = (
                statistics.median(w for w, _ in runs),
                statistics.median(c for _, c in runs),
            )
        floor_wall, floor_cpu = results["python -c pass (floor)"]
        print(f"  median of {RUNS} runs; wall, then CPU (user + system)")
        for name, (wall, cpu) in results.items():
            if name.startswith("python -c pass"):
                figure(name, wall)
                continue
            target = "< 0.25 s" if name.split(" (")[0] in TARGETED else ""
            figure(name, wall, floor=floor_wall, target=target)
            print(
                f"    {wall / floor_wall:.1f}x the floor; CPU {cpu:.3f} s "
                f"({cpu / floor_cpu:.1f}x the floor's {floor_cpu:.3f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
