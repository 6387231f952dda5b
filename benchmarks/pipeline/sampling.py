"""Run a command while sampling its process tree's memory with timestamps.

benchmarks/measure.py keeps only the peak; a per-stage peak needs each sample's time,
so that samples can be attributed to the stage windows the pipeline reports afterwards.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field

from benchmarks.measure import _tree_rss_kib

SAMPLE_SECONDS = 0.2
LOAD_SAMPLE_SECONDS = 5.0


@dataclass
class SampledRun:
    command: list[str]
    exit_code: int
    started_at: float  # Unix time
    ended_at: float
    memory: list[tuple[float, int]] = field(default_factory=list)  # (Unix time, tree RSS in KiB)
    load: list[float] = field(default_factory=list)  # 1-minute load average, every LOAD_SAMPLE_SECONDS

    @property
    def wall_seconds(self) -> float:
        return self.ended_at - self.started_at

    @property
    def peak_kib(self) -> int:
        return max((kib for _, kib in self.memory), default=0)


def run_sampled(command: list[str], env: dict[str, str] | None = None) -> SampledRun:
    """Run ``command`` to the end; sample the RSS of it and all its descendants every 0.2 s."""
    started = time.time()
    process = subprocess.Popen(command, env=env)
    run = SampledRun(command, exit_code=-1, started_at=started, ended_at=started)
    done = threading.Event()

    def sample() -> None:
        next_load = 0.0
        while not done.is_set():
            now = time.time()
            run.memory.append((now, _tree_rss_kib(process.pid)))
            if now >= next_load:
                run.load.append(os.getloadavg()[0])
                next_load = now + LOAD_SAMPLE_SECONDS
            done.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    run.exit_code = process.wait()
    run.ended_at = time.time()
    done.set()
    sampler.join()
    return run
