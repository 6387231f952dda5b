"""The static HTML report: one self-contained page per run with charts of every stage of the warehouse.

``write_report(warehouse, report_dir, as_of_date, run_id)`` writes it, ``read_report`` reads its sections without
rendering them; ``browser.render`` opens it in headless Chromium to check it draws without errors (docs/report.md)."""

from cdp.report.writer import read_report, write_report

__all__ = ["read_report", "write_report"]
