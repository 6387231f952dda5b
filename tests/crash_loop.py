"""Crash loop: kill pipeline runs at random moments, run again, and compare with an uninterrupted run.

    python -m tests.crash_loop --kills N --seed S [--landing-dir DIR] [--work-dir DIR] [--as-of YYYY-MM-DD]

First an uninterrupted reference run on a fresh warehouse (the bundled sample by default) gives the
expected tables and export files, and its duration. Then N times: a fresh warehouse, ``cdp run`` started
as a subprocess and killed with SIGKILL at a moment drawn uniformly over the reference duration (its whole
process group, dbt included, as an out-of-memory kill or a power cut would), then ``cdp run`` again to
completion. The recovered warehouse must hold the reference's content in every table (run-specific columns
left out by name: RUN_SPECIFIC_COLUMNS), every source must still reconcile, and the export folder must hold
the reference's files. While the killed run works and all through the recovery run, a watcher reads every
visible export file (temporary names excluded) and records any that is not complete. Prints the counts and
exits 1 on any mismatch or partial file. Not collected by pytest; ``make crash-loop`` runs it, and
tests/test_reliability_pipeline.py runs one kill with the same functions.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from cdp.contract import load_contract
from cdp.ingest.reconcile import reconcile_source

try:  # under pytest, or run as a script
    from conftest import CHANGE_CAPTURE_COLUMNS
except ModuleNotFoundError:  # python -m tests.crash_loop (make crash-loop)
    from tests.conftest import CHANGE_CAPTURE_COLUMNS

REPO_ROOT = Path(__file__).resolve().parent.parent

# Columns whose values belong to the run that wrote them, compared nowhere. Every other column of every
# table is compared.
RUN_SPECIFIC_COLUMNS: dict[str, set[str]] = {
    # in every table: which run and which load wrote a row, and when. Load ids follow the order in
    # which the ingestion step visits the sources, which is not fixed from one process to the next.
    # Change capture between models too: a build rewrites an identified fact's newest events, stamped.
    "*": {"run_id", "load_id", "_load_id", "_loaded_at", *CHANGE_CAPTURE_COLUMNS},
    "audit.load_history": {"started_at", "finished_at"},
    "audit.quarantine": {"quarantined_at"},
    # rows deleted and updated per table: the erasure step that found a person (before dbt on a warehouse
    # that knows who is who, after dbt on a fresh one) purges the tables that exist at that moment, so after
    # a kill that left a half-built warehouse the counts follow another path to the same tables. The raw
    # counts are checked by reconciliation (unreconciled_sources).
    # (scanned_through_load_id is a load id: a killed load leaves a gap in the sequence)
    "audit.privacy_runs": {"processed_at", "rows_deleted", "rows_updated", "scanned_through_load_id"},
    "audit.erasure_log": {"processed_at", "rows_deleted"},
    # the export files themselves are compared below; the log holds absolute paths of one export folder
    "audit.export_log": {"export_id", "file_path", "manifest_path", "logged_at"},
    "intermediate.int_customer_id_assignments": {"assigned_at"},
    "marts.experiment_assignments": {"assigned_run_id"},
    "privacy.suppression_list": {"added_at"},
    # a model version is the as-of date plus a hash of the training run
    "ml.customer_clusters": {"model_version"},
    "ml.personas": {"model_version"},
    "ml.churn_scores": {"model_version"},
    "ml.purchase_propensity_scores": {"model_version"},
    "ml.clv_predictions": {"model_version"},
    "ml.product_recommendations": {"model_version"},
    # metrics include fit_seconds; parameters name the previous run's persona ids (a killed run that trained
    # is a previous run)
    "ml.model_runs": {"model_run_id", "pipeline_run_id", "model_version", "metrics", "parameters",
                      "artifact_path", "started_at", "finished_at", "seconds"},
}
# Which rows of a run log are compared: a killed run that trained a model is a run that happened, so its row
# stays; each model's latest training decision (trained or skipped) is the one behind the scores. A rerun
# that found the model fresh only scored with it (docs/ml.md, retraining cadence): that row adds no model.
COMPARED_ROWS = {
    "ml.model_runs": "where status <> 'scored' "
                     "qualify row_number() over (partition by model_name order by started_at desc) = 1",
}
# Texts holding a run's own moment: a reason quoting the upper bound of timestamps, one day after the load.
_LOAD_BOUND = "regexp_replace(reason, 'after maximum [0-9: +.-]+', 'after maximum <load + 1 day>', 'g')"
NORMALISED_COLUMNS = {("audit.quarantine", "reason"): _LOAD_BOUND, ("audit.field_issues", "reason"): _LOAD_BOUND}
# Manifest keys naming the run that wrote the export.
MANIFEST_RUN_KEYS = ("run_id", "created_at")
SCHEMAS = ("raw", "audit", "privacy", "staging", "intermediate", "marts", "ml", "reference")


def excluded_columns(table: str) -> set[str]:
    return RUN_SPECIFIC_COLUMNS["*"] | RUN_SPECIFIC_COLUMNS.get(table, set())


def warehouse_checksums(warehouse: Path) -> dict[str, tuple[int, str]]:
    """Row count and order-independent content hash of every table and view, run-specific columns left out."""
    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        relations = con.execute(
            "select schema_name, table_name from duckdb_tables() union all "
            "select schema_name, view_name from duckdb_views() where not internal"
        ).fetchall()
        for schema, name in relations:
            if schema not in SCHEMAS:
                continue
            table = f"{schema}.{name}"
            columns = [r[0] for r in con.execute(f'describe "{schema}"."{name}"').fetchall()]
            kept = ", ".join(NORMALISED_COLUMNS.get((table, c), f'"{c}"')
                             for c in columns if c not in excluded_columns(table))
            content = con.execute(f'select {kept} from "{schema}"."{name}" {COMPARED_ROWS.get(table, "")}').fetchall()
            digest = hashlib.sha256(repr(sorted(map(repr, content))).encode()).hexdigest()
            out[table] = (len(content), digest)
    return out


def export_checksums(export_dir: Path) -> dict[str, str]:
    """SHA-256 of every visible export file by its path in the folder; manifests without their run's keys."""
    out = {}
    for path in sorted(p for p in export_dir.rglob("*") if p.is_file() and not _is_temporary(p)):
        data = path.read_bytes()
        if path.name.endswith(".manifest.json"):
            manifest = json.loads(data)
            kept = {k: v for k, v in manifest.items() if k not in MANIFEST_RUN_KEYS}
            data = json.dumps(kept, sort_keys=True).encode()
        out[path.relative_to(export_dir).as_posix()] = hashlib.sha256(data).hexdigest()
    return out


def temporary_files(export_dir: Path) -> list[str]:
    return sorted(p.relative_to(export_dir).as_posix() for p in export_dir.rglob("*") if _is_temporary(p))


def _is_temporary(path: Path) -> bool:
    # cdp/export/writer.py writes ".<name>.<random>.tmp" and renames it when complete
    return path.name.startswith(".") or path.name.endswith(".tmp")


def differences(expected: dict, actual: dict) -> list[str]:
    """What differs between two checksum maps, one line per table or file."""
    lines = []
    for key in sorted(set(expected) | set(actual)):
        if key not in actual:
            lines.append(f"{key}: missing")
        elif key not in expected:
            lines.append(f"{key}: not in the reference")
        elif expected[key] != actual[key]:
            lines.append(f"{key}: differs ({expected[key]} != {actual[key]})")
    return lines


def incomplete_reason(path: Path) -> str | None:
    """Why a visible export file is not a complete file of its format, or None when it is."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:  # replaced between listing and reading
        return None
    try:
        if path.suffix == ".csv":
            if not data.endswith(b"\r\n"):
                return "does not end with a line break"
            rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
            if any(len(row) != len(rows[0]) for row in rows):
                return "rows with a different number of fields than the header"
        elif path.suffix == ".parquet":
            pq.read_table(io.BytesIO(data))
        elif path.suffix == ".json":
            json.loads(data)
    except Exception as error:  # noqa: BLE001 - any failure to read it back means it is partial
        return f"{type(error).__name__}: {error}"
    return None


class ExportWatcher(threading.Thread):
    """Reads every visible export file, over and over, while a run writes them."""

    def __init__(self, export_dir: Path, interval: float = 0.02):
        super().__init__(daemon=True)
        self.export_dir, self.interval = export_dir, interval
        self.partial: list[str] = []
        self.files_read = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.check_once()
            time.sleep(self.interval)

    def check_once(self) -> None:
        if not self.export_dir.exists():
            return
        for path in [p for p in self.export_dir.rglob("*") if p.is_file() and not _is_temporary(p)]:
            self.files_read += 1
            reason = incomplete_reason(path)
            if reason:
                self.partial.append(f"{path.relative_to(self.export_dir)}: {reason}")

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.check_once()  # what stays visible after the kill


@dataclass
class Paths:
    landing_dir: Path
    warehouse: Path
    export_dir: Path
    as_of: str | None = None
    wait_seconds: float = 120  # for another run holding the same warehouse

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "cdp.cli", "run", "--landing-dir", str(self.landing_dir),
                   "--warehouse", str(self.warehouse), "--export-dir", str(self.export_dir),
                   "--wait", str(self.wait_seconds)]
        return command + (["--as-of", self.as_of] if self.as_of else [])


def _environment() -> dict[str, str]:
    python_path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": python_path, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def run_to_completion(paths: Paths, watcher: ExportWatcher | None = None) -> float:
    """``cdp run`` in a subprocess, its exports watched if a watcher is given; its duration in seconds.
    Raises when it fails."""
    started = time.monotonic()
    if watcher:
        watcher.start()
    try:
        done = subprocess.run(paths.command(), cwd=REPO_ROOT, env=_environment(), capture_output=True, text=True,
                              check=False)
    finally:
        if watcher:
            watcher.stop()
    if done.returncode != 0:
        raise RuntimeError(f"cdp run failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.monotonic() - started


@dataclass
class KillOutcome:
    killed: bool  # False when the run finished before the kill time
    after_seconds: float
    partial_files: list[str] = field(default_factory=list)
    files_read: int = 0
    session_id: int = 0  # the killed run's process group
    finished_after: float | None = None  # seconds, when the run ended before the kill


def run_and_kill(paths: Paths, after_seconds: float, parent_only: bool = False) -> KillOutcome:
    """Start ``cdp run`` and SIGKILL its process group after ``after_seconds``, watching the exports.
    ``parent_only`` kills the ``cdp`` process alone (``kill -9 <pid>``): a dbt it started runs on, orphaned."""
    watcher = ExportWatcher(paths.export_dir)
    watcher.start()
    process = subprocess.Popen(paths.command(), cwd=REPO_ROOT, env=_environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    started = time.monotonic()
    finished_after = None
    try:
        process.wait(timeout=after_seconds)
        killed, finished_after = False, time.monotonic() - started
    except subprocess.TimeoutExpired:
        if parent_only:
            process.kill()
        else:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        killed = True
    finally:
        watcher.stop()
    return KillOutcome(killed, after_seconds, watcher.partial, watcher.files_read, process.pid, finished_after)


def end_session(session_id: int) -> None:
    """Kill what is left of a killed run's process group (an orphaned dbt)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(session_id, signal.SIGKILL)


@dataclass
class IterationResult:
    kill: KillOutcome
    mismatches: list[str]
    leftover_temporary_files: list[str]
    recovery_failures: list[str] = field(default_factory=list)  # runs after the kill that failed

    @property
    def survived(self) -> bool:
        return self.kill.killed and not self.mismatches and not self.kill.partial_files


def kill_and_recover(paths: Paths, after_seconds: float, reference: Paths, parent_only: bool = False,
                     attempts: int = 1) -> IterationResult:
    """One crash: kill a run on a fresh warehouse, run again (up to ``attempts`` times until one succeeds),
    compare with the reference run's results."""
    kill = run_and_kill(paths, after_seconds, parent_only)
    failures = []
    try:
        for _ in range(attempts):
            watcher = ExportWatcher(paths.export_dir)
            try:
                run_to_completion(paths, watcher)
                break
            except RuntimeError as error:
                failures.append(str(error).strip().splitlines()[-1][:300])
            finally:
                kill.partial_files += watcher.partial
                kill.files_read += watcher.files_read
        else:
            return IterationResult(kill, ["no run after the kill succeeded"], [], failures)
    finally:
        if parent_only and kill.killed:
            end_session(kill.session_id)
    mismatches = differences(warehouse_checksums(reference.warehouse), warehouse_checksums(paths.warehouse))
    mismatches += [f"export {line}" for line in
                   differences(export_checksums(reference.export_dir), export_checksums(paths.export_dir))]
    mismatches += unreconciled_sources(paths.warehouse)
    return IterationResult(kill, mismatches, temporary_files(paths.export_dir), failures)


def unreconciled_sources(warehouse: Path) -> list[str]:
    """Sources whose load history, raw table, quarantine and erasures do not add up."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        checks = [reconcile_source(con, source) for source in load_contract().sources]
    return [f"raw.{check.source}: {check.explanation}" for check in checks if not check.passed]


def landing_with_bad_input(landing_dir: Path, copy: Path) -> Path:
    """A copy of the landing folder plus the bad-input suite's files (the test module is imported only here:
    it needs pytest and hypothesis, which a plain crash loop does not)."""
    sys.path.insert(0, str(Path(__file__).parent))  # the test module imports conftest, as pytest allows
    from tests.test_bad_input import CASES

    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(landing_dir, copy)
    # an unreadable file is retried by every run, adding a 'failed' load-history row each time, so a killed
    # run plus its recovery hold one row more than the reference by design (docs/reliability.md)
    cases = [case for case in CASES if case.status != "failed"]
    for case in cases:
        source, name = case.path.split("/", 1)
        target = copy / source / f"zz_bad_{name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(case.content.encode("utf-8") if isinstance(case.content, str) else case.content)
    print(f"landing: {landing_dir} plus {len(cases)} bad files, in {copy}", flush=True)
    return copy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--landing-dir", type=Path, default=REPO_ROOT / "seeds" / "sample")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="default: a new temporary folder, removed after unless something mismatched")
    parser.add_argument("--as-of", default=None)
    parser.add_argument("--with-bad-input", action="store_true",
                        help="add every bad file of tests/test_bad_input.py's cases to a copy of the landing folder")
    parser.add_argument("--kill-parent-only", action="store_true",
                        help="kill the cdp process alone, not its dbt (kill -9 <pid>); a failed run after it is "
                             "retried up to twice")
    args = parser.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="cdp-crash-loop-"))
    rng = random.Random(args.seed)
    if args.with_bad_input:
        args.landing_dir = landing_with_bad_input(args.landing_dir, work / "landing")

    def paths(name: str) -> Paths:
        folder = work / name
        shutil.rmtree(folder, ignore_errors=True)
        return Paths(args.landing_dir.resolve(), folder / "warehouse" / "cdp.duckdb", folder / "exports", args.as_of)

    reference = paths("reference")
    duration = run_to_completion(reference)
    print(f"reference run: {duration:.1f}s, {len(warehouse_checksums(reference.warehouse))} tables, "
          f"{len(export_checksums(reference.export_dir))} export files", flush=True)
    results = []
    for i in range(args.kills):
        after = rng.uniform(0, duration)
        result = kill_and_recover(paths(f"kill_{i}"), after, reference, args.kill_parent_only,
                                  attempts=3 if args.kill_parent_only else 1)
        results.append(result)
        if result.kill.finished_after:  # the machine got faster: draw later kills over a whole run of now
            duration = min(duration, result.kill.finished_after)
        state = "killed" if result.kill.killed else "finished before the kill"
        verdict = "survived" if result.survived else "MISMATCH" if result.mismatches or result.kill.partial_files \
            else "not interrupted"
        print(f"kill {i + 1}/{args.kills} at {after:.1f}s ({state}): {verdict}; export files read while the runs wrote "
              f"{result.kill.files_read}, partial {len(result.kill.partial_files)}, temporary files left "
              f"{len(result.leftover_temporary_files)}", flush=True)
        for line in result.recovery_failures + result.kill.partial_files[:10] + result.mismatches[:20]:
            print(f"    {line}", flush=True)
        if result.survived or not result.kill.killed:
            shutil.rmtree(work / f"kill_{i}", ignore_errors=True)
        else:
            print(f"    kept for inspection: {work / f'kill_{i}'}", flush=True)
    killed = sum(r.kill.killed for r in results)
    survived = sum(r.survived for r in results)
    mismatched = sum(bool(r.mismatches or r.kill.partial_files) for r in results)
    print(f"kills {killed} (of {args.kills} attempted), survived {survived}, mismatches {mismatched}, "
          f"runs with temporary files left {sum(bool(r.leftover_temporary_files) for r in results)}, "
          f"failed runs after a kill {sum(len(r.recovery_failures) for r in results)}")
    if args.work_dir is None and not mismatched:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
