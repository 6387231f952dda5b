"""Run a command and print its wall time and peak memory (of the command and its children).

    python benchmarks/measure.py -- cdp generate --customers 1000000 --days 90 --out /tmp/landing_1m
    python benchmarks/measure.py -- cdp run

Peak memory is the largest resident set of any process the command started
(getrusage RUSAGE_CHILDREN), which is what a machine must have free.
"""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import time


def measure(command: list[str]) -> dict:
    started = time.perf_counter()
    completed = subprocess.run(command)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "command": " ".join(command),
        "exit_code": completed.returncode,
        "wall_seconds": round(seconds, 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "machine": f"{platform.machine()}, {_cores()} cores, Python {platform.python_version()}",
    }


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit(__doc__)
    result = measure(args)
    print(json.dumps(result, indent=2))
    sys.exit(result["exit_code"])


if __name__ == "__main__":
    main()
