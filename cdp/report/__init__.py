"""The static HTML report: one self-contained page per run with charts of every stage of the warehouse.

``write_report(con, report_dir, as_of_date, run_id)`` writes it; ``browser.render`` opens it in headless
Chromium to check it draws without errors (docs/report.md)."""

from cdp.report.writer import write_report

__all__ = ["write_report"]
