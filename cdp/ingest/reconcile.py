"""Reconciliation: the audit counts and the tables agree, so nothing was lost.

Raw rows an erasure deleted (counted per table in ``audit.privacy_runs``) are accounted
for: rows loaded = rows in raw + rows erased."""

from __future__ import annotations

from dataclasses import dataclass

from cdp.warehouse import Warehouse, as_warehouse


@dataclass
class Reconciliation:
    source: str
    files: int
    rows_in: int
    rows_loaded: int
    rows_rejected: int
    raw_rows: int
    rows_erased: int
    quarantined_rows: int
    rows_in_whole_file_rejects: int
    unbalanced_files: int

    @property
    def passed(self) -> bool:
        return (
            self.unbalanced_files == 0
            and self.rows_in == self.rows_loaded + self.rows_rejected
            and self.raw_rows + self.rows_erased == self.rows_loaded
            and self.quarantined_rows + self.rows_in_whole_file_rejects == self.rows_rejected
        )

    @property
    def explanation(self) -> str:
        if self.passed:
            erased = f" ({self.rows_erased} since erased)" if self.rows_erased else ""
            return (
                f"{self.rows_in} rows in = {self.rows_loaded} loaded{erased} + {self.rows_rejected} rejected "
                f"over {self.files} files; raw and quarantine tables agree"
            )
        return (
            f"MISMATCH: rows in {self.rows_in}, loaded {self.rows_loaded} (raw table has {self.raw_rows}, "
            f"{self.rows_erased} erased), "
            f"rejected {self.rows_rejected} (quarantine has {self.quarantined_rows} + "
            f"{self.rows_in_whole_file_rejects} in whole-file rejects), unbalanced files {self.unbalanced_files}"
        )

    def as_metadata(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


def reconcile_source(con, source: str) -> Reconciliation:
    """Compare audit.load_history with what raw.<source> and audit.quarantine actually hold
    (``con``: a Warehouse on any engine, or a DuckDB connection)."""
    warehouse = as_warehouse(con)
    history = warehouse.rows(
        """
        select
            count(*),
            coalesce(sum(rows_in), 0),
            coalesce(sum(rows_loaded), 0),
            coalesce(sum(rows_rejected), 0),
            coalesce(sum(rows_in) filter (where status = 'rejected'), 0),
            count(*) filter (where rows_in <> rows_loaded + rows_rejected)
        from audit.load_history
        where source = ? and status <> 'failed'
        """,
        [source],
    )[0]
    raw_rows = warehouse.scalar(f"select count(*) from raw.{source}")
    erased = _rows_erased(warehouse, f"raw.{source}")
    quarantined = warehouse.scalar("select count(*) from audit.quarantine where source = ?", [source])
    files, rows_in, loaded, rejected, whole_file, unbalanced = (int(v) for v in history)
    return Reconciliation(
        source, files, rows_in, loaded, rejected, raw_rows, int(erased), quarantined, whole_file, unbalanced
    )


def _rows_erased(warehouse: Warehouse, table: str) -> int:
    """Rows of ``table`` erasures deleted: audit.privacy_runs keeps them per table as a JSON object."""
    if not warehouse.has_table("audit.privacy_runs"):
        return 0
    # the engines name the JSON function and quote a key with a dot differently
    if warehouse.engine == "duckdb":
        extract, path = "json_extract_string", f'$."{table}"'
    else:
        extract, path = "get_json_object", f"$['{table}']"
    return int(warehouse.scalar(
        f"select coalesce(sum(cast({extract}(rows_deleted, ?) as bigint)), 0) from audit.privacy_runs",
        [path]) or 0)
