"""Attribute a pipeline run's time and memory to its stages (pure functions, no I/O).

A run reports each Dagster step's wall-clock window (from its event log) and the
run_results.json of every dbt invocation in it; the harness samples the process
tree's memory with timestamps. A stage's time is the sum of its steps' windows, its
peak memory the largest sample inside them. Identity resolution runs inside the main
dbt build: its time is the identity-tagged models' execution time there, its windows
those models' compile-to-execute spans, and the dbt stage is the build minus identity.
"""

from __future__ import annotations

import math
from datetime import datetime

Window = tuple[float, float]  # (start, end) in Unix seconds

# The stages, in run order; "overhead" is what the run spends outside every step
# (interpreter start-up, loading the definitions, Dagster's bookkeeping, the summary).
PIPELINE_STAGES = ("ingest", "dbt", "identity", "privacy", "ml", "export", "measurement", "overhead")

STEP_STAGES = {
    "raw_landing_files": "ingest",
    "cdp_dbt_models": "dbt",
    "cdp_measurement_models": "measurement",
    "marts__experiment_readouts": "measurement",
    "reports__html_report": "measurement",
}
# privacy: erasure before dbt, erasure after dbt, the file's rewrite at the end
STEP_PREFIX_STAGES = {"train_": "ml", "exports__": "export", "privacy__": "privacy"}
MAIN_DBT_STEP = "cdp_dbt_models"
IDENTITY_TAG = "identity"


def stage_of(step_key: str) -> str:
    """The stage a Dagster step belongs to; steps added later land in "other" rather than vanish."""
    if step_key in STEP_STAGES:
        return STEP_STAGES[step_key]
    for prefix, stage in STEP_PREFIX_STAGES.items():
        if step_key.startswith(prefix):
            return stage
    return "other"


def _inside(t: float, windows: list[Window]) -> bool:
    return any(start <= t <= end for start, end in windows)


def peak_kib(samples: list[tuple[float, int]], windows: list[Window], excluding: list[Window] = ()) -> int | None:
    """The largest memory sample taken inside ``windows`` and outside ``excluding``; None when no
    sample fell there (a step shorter than the sampling interval)."""
    inside = [kib for t, kib in samples if _inside(t, windows) and not _inside(t, excluding)]
    return max(inside) if inside else None


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def node_window(result: dict) -> Window | None:
    """From a run_results entry's compile start to its execute end (None for a node that never ran)."""
    timing = [t for t in result.get("timing", []) if t.get("started_at") and t.get("completed_at")]
    if not timing:
        return None
    return min(_epoch(t["started_at"]) for t in timing), max(_epoch(t["completed_at"]) for t in timing)


def invocation_started_at(run_results: dict) -> float:
    return _epoch(run_results["metadata"]["invocation_started_at"])


def summarize_dbt_invocation(run_results: dict, node_tags: dict[str, list[str]], slowest: int = 10) -> dict:
    """What the report needs from one dbt invocation: when it started, its identity time and windows,
    its slowest nodes and any that did not succeed."""
    identity_seconds, identity_windows, nodes, not_passed = 0.0, [], [], []
    for result in run_results["results"]:
        unique_id = result["unique_id"]
        seconds = float(result.get("execution_time") or 0.0)
        nodes.append((unique_id, seconds, node_window(result)))
        if result["status"] not in ("success", "pass"):
            not_passed.append({"node": unique_id, "status": result["status"], "message": result.get("message")})
        if IDENTITY_TAG in node_tags.get(unique_id, []):
            identity_seconds += seconds
            if (window := node_window(result)) is not None:
                identity_windows.append(window)
    nodes.sort(key=lambda node: -node[1])
    return {
        "started_at": invocation_started_at(run_results),
        "ended_at": _epoch(run_results["metadata"]["generated_at"]),
        "elapsed_seconds": round(float(run_results["elapsed_time"]), 2),
        "nodes": len(nodes),
        "identity_seconds": round(identity_seconds, 2),
        "identity_windows": identity_windows,
        "slowest_nodes": [{"node": uid, "seconds": round(s, 2), "window": w} for uid, s, w in nodes[:slowest]],
        "not_passed": not_passed,
    }


def step_of(t: float, step_windows: dict[str, Window]) -> str | None:
    """The step whose window holds time ``t`` (a dbt invocation belongs to the step that started it)."""
    for step, (start, end) in step_windows.items():
        if start <= t <= end:
            return step
    return None


def invocation_figures(
    step_windows: dict[str, Window], invocations: list[dict], samples: list[tuple[float, int]]
) -> list[dict]:
    """Where each dbt invocation sits in its step: the step's seconds before it (the erasure itself, or
    Dagster and dbt start-up), its own seconds and peak memory, the step's seconds after it (the
    warehouse compaction after the erasure's rebuild, or Dagster reading dbt's events), and the
    peak memory while each of its slowest nodes ran."""
    out = []
    for invocation in invocations:
        step_start, step_end = step_windows[invocation["step"]]
        start, end = invocation["started_at"], invocation["ended_at"]
        peak = peak_kib(samples, [(start, end)])
        out.append({
            "step": invocation["step"], "before_seconds": round(start - step_start, 2),
            "seconds": round(end - start, 2), "after_seconds": round(step_end - end, 2),
            "peak_mib": _mib(peak),
            "peak_mib_before": _mib(peak_kib(samples, [(step_start, start)])),
            "peak_mib_after": _mib(peak_kib(samples, [(end, step_end)])),
            "slowest_nodes": [
                {"node": node["node"], "seconds": node["seconds"],
                 "peak_mib": _mib(peak_kib(samples, [tuple(node["window"])])) if node.get("window") else None}
                for node in invocation.get("slowest_nodes", [])
            ],
        })
    return out


def _mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


def stage_figures(
    step_windows: dict[str, Window],
    dbt_invocations: list[dict],
    samples: list[tuple[float, int]],
    total_seconds: float,
    stage_rows: dict[str, int | None],
) -> dict[str, dict]:
    """Wall time, peak memory, input rows and rows per second of every stage, and of the whole run."""
    windows: dict[str, list[Window]] = {}
    seconds: dict[str, float] = {}
    for step, (start, end) in step_windows.items():
        stage = stage_of(step)
        windows.setdefault(stage, []).append((start, end))
        seconds[stage] = seconds.get(stage, 0.0) + (end - start)
    main_build = [i for i in dbt_invocations if i.get("step") == MAIN_DBT_STEP]
    identity_windows = [tuple(w) for i in main_build for w in i["identity_windows"]]
    if main_build:
        seconds["identity"] = sum(i["identity_seconds"] for i in main_build)
        seconds["dbt"] = seconds.get("dbt", 0.0) - seconds["identity"]
        windows["identity"] = identity_windows
    every_step = [w for stage_windows in windows.values() for w in stage_windows]
    seconds["overhead"] = total_seconds - sum(end - start for start, end in step_windows.values())

    figures = {}
    for stage in [*PIPELINE_STAGES, *sorted(set(seconds) - set(PIPELINE_STAGES))]:
        if stage not in seconds:
            continue
        if stage == "overhead":
            peak = peak_kib(samples, [(-math.inf, math.inf)], excluding=every_step)
        else:
            peak = peak_kib(samples, windows[stage], excluding=identity_windows if stage == "dbt" else [])
        figures[stage] = _figure(seconds[stage], peak, stage_rows.get(stage))
    figures["total"] = _figure(total_seconds, max((kib for _, kib in samples), default=None), stage_rows.get("total"))
    return figures


def _figure(seconds: float, peak: int | None, rows: int | None) -> dict:
    return {
        "seconds": round(seconds, 2),
        "peak_mib": _mib(peak),
        "rows": rows,
        "rows_per_second": round(rows / seconds) if rows and seconds > 0 else None,
    }


def growth(small: dict[str, dict], large: dict[str, dict], size_ratio: float) -> dict[str, dict]:
    """How each stage's time grows between two sizes: the ratio, and the exponent k in time ~ size^k
    (1 is linear)."""
    out = {}
    for stage, figure in large.items():
        before, after = small.get(stage, {}).get("seconds"), figure["seconds"]
        if before and after:
            out[stage] = {"ratio": round(after / before, 2), "exponent": round(_exponent(before, after, size_ratio), 2)}
    return out


def project(small: dict[str, dict], large: dict[str, dict], size_small: int, size_large: int,
            target: int) -> dict[str, float]:
    """Each stage's seconds at ``target`` customers from two measured sizes: a fixed cost plus a cost
    per customer (the line through both sizes), or the power law through them where that is larger
    (a stage growing faster than linearly), so the projection errs on the slow side. Memory is not
    projected: DuckDB holds blocks up to its memory limit, so its peak follows the limit, not the data."""
    out = {}
    for stage, figure in large.items():
        before, after = small.get(stage, {}).get("seconds"), figure["seconds"]
        if before and after:
            line = _on_line(before, after, size_small, size_large, target)
            power = after * (target / size_large) ** _exponent(before, after, size_large / size_small)
            out[stage] = round(max(line, power), 1)
    return out


def _on_line(y_small: float, y_large: float, x_small: float, x_large: float, x: float) -> float:
    return y_large + (y_large - y_small) / (x_large - x_small) * (x - x_large)


def _exponent(before: float, after: float, size_ratio: float) -> float:
    return math.log(after / before) / math.log(size_ratio)
