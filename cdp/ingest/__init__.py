"""Ingestion: landing files -> ``raw`` tables, with quarantine and load history."""

from cdp.ingest.load import FileResult, IngestReport, ingest_landing, prepare_warehouse

__all__ = ["FileResult", "IngestReport", "ingest_landing", "prepare_warehouse"]
