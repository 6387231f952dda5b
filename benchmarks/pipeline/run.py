"""The whole pipeline at scale: per size, generate, a full run, a daily incremental run, and the floor.

    python -m benchmarks.pipeline.run --customers 100000 1000000 --days 365 --out /tmp/bench [--keep]

For each number of customers: generate the landing files (timed, peak memory); run the
pipeline on all of them but the last day's (each run in its own process, its memory
sampled every 0.2 s and attributed to the stages by their wall-clock windows); add the
last day's files and run again (the daily run); then time the floor (floor.py) on the
same files. Prints a table and writes ``<out>/pipeline_benchmark.json``; the working
folder of each size is deleted unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from benchmarks.pipeline.landing import release, stage_landing
from benchmarks.pipeline.sampling import SampledRun, run_sampled
from benchmarks.pipeline.stages import PIPELINE_STAGES, growth, invocation_figures, project, stage_figures
from cdp import settings
from cdp.contract import load_contract

ROOT = Path(__file__).resolve().parents[2]

# What each stage's rows per second counts (its input).
ROW_UNITS = {
    "generate": "landing rows written",
    "ingest": "landing rows read",
    "dbt": "raw rows",
    "identity": "source customer records",
    "privacy": "raw rows",
    "ml": "customers",
    "export": "customers",
    "measurement": "customers",
    "total": "landing rows read",
}


def child_env() -> dict[str, str]:
    """Children import this checkout's packages and send no dbt telemetry."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def _progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _load(run: SampledRun) -> dict:
    return {"min": round(min(run.load), 2), "max": round(max(run.load), 2),
            "mean": round(sum(run.load) / len(run.load), 2)} if run.load else {}


def generate(customers: int, days: int, seed: int, out: Path) -> dict:
    command = [str(Path(sys.executable).with_name("cdp")), "generate", "--customers", str(customers),
               "--days", str(days), "--seed", str(seed), "--out", str(out), "--no-progress"]
    run = run_sampled(command, env=child_env())
    if run.exit_code != 0:
        raise SystemExit(f"generate failed ({run.exit_code}): {' '.join(command)}")
    summary = json.loads((out / "_truth" / "summary.json").read_text())
    rows = sum(summary["rows_by_source"].values())
    return {
        "seconds": round(run.wall_seconds, 2), "peak_mib": round(run.peak_kib / 1024, 1), "rows": rows,
        "rows_per_second": round(rows / run.wall_seconds), "rows_by_source": summary["rows_by_source"],
        "files": sum(summary["files_by_source"].values()),
        "bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and "_truth" not in p.parts),
        "load_average": _load(run),
    }


def pipeline_run(landing: Path, warehouse: Path, exports: Path, facts_path: Path) -> dict:
    """One pipeline run in its own process: its facts, and its stages' time and memory."""
    command = [sys.executable, "-m", "benchmarks.pipeline.pipeline_run", "--landing", str(landing),
               "--warehouse", str(warehouse), "--exports", str(exports), "--out", str(facts_path)]
    run = run_sampled(command, env=child_env())
    if run.exit_code != 0 or not facts_path.exists():
        raise SystemExit(f"pipeline run failed ({run.exit_code}): {' '.join(command)}")
    facts = json.loads(facts_path.read_text())
    customers = facts["table_rows"].get("marts.dim_customers")
    rows = {
        "ingest": facts["loads"].get("rows_in"), "dbt": facts["raw_rows"], "privacy": facts["raw_rows"],
        "identity": facts["identity"].get("source_record_count"),
        "ml": customers, "export": customers, "measurement": customers, "total": facts["loads"].get("rows_in"),
    }
    stages = stage_figures(facts["step_windows"], facts["dbt_invocations"], run.memory, run.wall_seconds, rows)
    return {
        "started_at": run.started_at,
        "stages": stages,
        "dbt_invocations": invocation_figures(facts["step_windows"], facts["dbt_invocations"], run.memory),
        "load_average": _load(run),
        "memory_trace": memory_trace(run),
        "facts": facts,
    }


def memory_trace(run: SampledRun) -> list[tuple[float, float]]:
    """The run's memory, one sample a second: (seconds since start, MiB)."""
    trace, next_second = [], 0.0
    for t, kib in run.memory:
        if t - run.started_at >= next_second:
            trace.append((round(t - run.started_at, 1), round(kib / 1024, 1)))
            next_second += 1.0
    return trace


def floor(landing: Path, out: Path) -> dict:
    command = [sys.executable, "-m", "benchmarks.pipeline.floor", "--landing", str(landing), "--out", str(out)]
    run = run_sampled(command, env=child_env())
    if run.exit_code != 0:
        raise SystemExit(f"floor failed ({run.exit_code}): {' '.join(command)}")
    figures = json.loads(out.read_text())
    return {**figures, "rows_per_second": round(figures["rows"] / figures["seconds"]),
            "peak_mib": round(run.peak_kib / 1024, 1), "load_average": _load(run)}


def bench_size(customers: int, days: int, seed: int, work: Path) -> dict:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    generated, landing = work / "generated", work / "landing"
    warehouse, exports = work / "warehouse" / "cdp.duckdb", work / "exports"
    _progress(f"{customers:,} customers: generating {days} days")
    result = {"customers": customers, "days": days, "generate": generate(customers, days, seed, generated)}
    last_day, held = stage_landing(generated, landing, list(load_contract().sources))
    result["held_back"] = {"date": last_day.isoformat(), "files": len(held)}
    _progress(f"{customers:,} customers: full run without {last_day} ({len(held)} files held back)")
    result["full"] = pipeline_run(landing, warehouse, exports, work / "full_run.json")
    release(generated, landing, held)
    _progress(f"{customers:,} customers: daily run with {last_day}'s files")
    result["daily"] = pipeline_run(landing, warehouse, exports, work / "daily_run.json")
    _progress(f"{customers:,} customers: floor")
    result["floor"] = floor(landing, work / "floor.json")
    full_seconds = result["full"]["stages"]["total"]["seconds"]
    result["full"]["floor_multiple"] = round(full_seconds / result["floor"]["seconds"], 1)
    result["disk_bytes"] = {"landing": result["generate"]["bytes"], "warehouse": warehouse.stat().st_size}
    return result


def machine() -> dict:
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return {
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(int(meminfo["MemTotal"].split()[0]) / 1024**2, 1),
        "platform": f"{platform.machine()}, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        # the dbt settings the environment overrides (dbt_project/profiles.yml gives the defaults)
        "dbt_threads": os.environ.get("CDP_DBT_THREADS", "profile default"),
        "duckdb_memory_limit": settings.duckdb_memory_limit(),
    }


def format_table(result: dict) -> str:
    """One size's figures as a text table: full run and daily run side by side."""
    full, daily = result["full"]["stages"], result["daily"]["stages"]
    gen = result["generate"]
    lines = [
        f"{result['customers']:,} customers x {result['days']} days: {gen['rows']:,} landing rows in "
        f"{gen['files']:,} files ({gen['bytes'] / 1e9:.2f} GB); daily run adds {result['held_back']['date']}",
        f"{'stage':<12}{'full s':>9}{'peak MiB':>10}{'rows/s':>11}  {'daily s':>9}{'peak MiB':>10}  rows are",
        f"{'generate':<12}{gen['seconds']:>9.1f}{gen['peak_mib']:>10.0f}{gen['rows_per_second']:>11,}"
        f"  {'':>9}{'':>10}  {ROW_UNITS['generate']}",
    ]
    for stage in [*PIPELINE_STAGES, "total"]:
        f, d = full.get(stage), daily.get(stage, {})
        if f is None:
            continue
        lines.append(
            f"{stage:<12}{f['seconds']:>9.1f}{_num(f['peak_mib']):>10}{_num(f['rows_per_second'], ','):>11}"
            f"  {_num(d.get('seconds'), '.1f'):>9}{_num(d.get('peak_mib')):>10}  {ROW_UNITS.get(stage, '')}"
        )
    fl = result["floor"]
    lines.append(f"floor: {fl['seconds']:.1f} s ({fl['rows']:,} rows, peak {fl['peak_mib']:.0f} MiB); "
                 f"full run = {result['full']['floor_multiple']} x floor; load average during the full run "
                 f"{result['full']['load_average']}")
    return "\n".join(lines)


def _num(value, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def _with_generate(size: dict) -> dict[str, dict]:
    return {"generate": size["generate"], **size["full"]["stages"]}


def compare_sizes(report: dict, days: int, project_to: int) -> None:
    """Growth from the smallest to the largest size of ``days`` days, and the projection to
    ``project_to`` customers from the two largest (stages.project)."""
    sizes = [s for s in report["sizes"] if s["days"] == days]
    report.pop("growth", None)
    report.pop("projection", None)
    if len(sizes) < 2:
        return
    first, last = sizes[0], sizes[-1]
    ratio = last["customers"] / first["customers"]
    report["growth"] = {
        "from": first["customers"], "to": last["customers"],
        "full": growth(_with_generate(first), _with_generate(last), ratio),
        "daily": growth(first["daily"]["stages"], last["daily"]["stages"], ratio),
        "floor": growth({"floor": first["floor"]}, {"floor": last["floor"]}, ratio)["floor"],
    }
    small, large = sizes[-2:]
    if project_to > large["customers"]:
        between = (small["customers"], large["customers"], project_to)
        report["projection"] = {
            "customers": project_to, "from": between[:2],
            "full": project(_with_generate(small), _with_generate(large), *between),
            "daily": project(small["daily"]["stages"], large["daily"]["stages"], *between),
            "floor": project({"floor": small["floor"]}, {"floor": large["floor"]}, *between)["floor"],
        }


def format_comparison(report: dict) -> str:
    lines = []
    if "growth" in report:
        g = report["growth"]
        lines.append(f"growth {g['from']:,} -> {g['to']:,} customers (time ratio, exponent; 1 = linear): " + ", ".join(
            f"{stage} {v['ratio']}x ({v['exponent']})" for stage, v in g["full"].items()))
    if "projection" in report:
        p = report["projection"]
        full, daily = p["full"], p["daily"]
        lines.append(f"projected to {p['customers']:,} customers from {p['from'][0]:,} and {p['from'][1]:,}: "
                     f"full run {full['total'] / 60:.0f} min, generate {full['generate'] / 60:.0f} min, "
                     f"daily run {daily['total'] / 60:.0f} min, floor {p['floor']:.0f} s")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="*", default=[100_000, 1_000_000],
                        help="sizes to run (none: only recompute the comparison of the sizes in --out)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, required=True,
                        help="working folder; its pipeline_benchmark.json keeps the sizes of earlier runs too")
    parser.add_argument("--keep", action="store_true", help="keep each size's landing files and warehouse")
    parser.add_argument("--project-to", type=int, default=1_000_000,
                        help="customers to project the two largest sizes to, when they are fewer")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "pipeline_benchmark.json"
    # Sizes run one at a time (a million customers takes most of an hour) add up in one file.
    report = json.loads(results_path.read_text()) if results_path.exists() else {"sizes": []}
    for customers in sorted(args.customers):
        report["machine"] = machine()
        work = args.out / f"customers_{customers}"
        result = bench_size(customers, args.days, args.seed, work)
        result["command"] = " ".join(["python -m benchmarks.pipeline.run", *sys.argv[1:]])
        result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        sizes = [s for s in report["sizes"] if (s["customers"], s["days"]) != (customers, args.days)]
        report["sizes"] = sorted([*sizes, result], key=lambda s: (s["days"], s["customers"]))
        compare_sizes(report, args.days, args.project_to)
        results_path.write_text(json.dumps(report, indent=2, default=str))
        print(format_table(result), flush=True)
        if not args.keep:
            shutil.rmtree(work)
    if not args.customers:
        compare_sizes(report, args.days, args.project_to)
        results_path.write_text(json.dumps(report, indent=2, default=str))
        for size in report["sizes"]:
            print(format_table(size))
    print(format_comparison(report))
    print(f"figures: {results_path}")


if __name__ == "__main__":
    main()
