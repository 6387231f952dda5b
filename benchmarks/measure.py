"""Run a command and print its wall time and peak memory.

    python benchmarks/measure.py -- cdp generate --customers 1000000 --days 90 --out /tmp/landing_1m
    python benchmarks/measure.py -- cdp run

Two memory figures: ``peak_tree_rss_mib``, the largest total resident memory of
the command and all its descendants at once (sampled every 0.1 s from /proc:
what a machine must have free), and ``peak_process_rss_mib``, the largest
single process (exact, from getrusage).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def _tree_rss_kib(root: int) -> int:
    tree, total, stack = _children(), 0, [root]
    while stack:
        pid = stack.pop()
        with contextlib.suppress(OSError, IndexError):  # the process may have just exited
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB
        stack.extend(tree.get(pid, []))
    return total


def measure(command: list[str]) -> dict:
    started = time.perf_counter()
    process = subprocess.Popen(command)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kib(process.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    returncode = process.wait()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    return {
        "command": " ".join(command),
        "exit_code": returncode,
        "wall_seconds": round(seconds, 1),
        "peak_tree_rss_mib": round(peak / 1024, 1),
        "peak_process_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}",
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


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
