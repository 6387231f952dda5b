"""Synthetic landing data for CDP Warehouse.

``generate_landing`` simulates persons with personas and writes what their
source systems (CRM, web shop, POS, ESP, web tracker, privacy portal) would
drop into the landing zone, plus the ground truth under ``_truth/``.

Module map: settings (YAML), world (shared reference tables, catalogue,
campaigns), people (true persons), records + noise (source customer records),
commerce (orders), behaviour (web/app events), esp (e-mail events),
consent (consent and erasure), malformed (broken rows), writers (files),
truth (ground truth), pipeline (the chunked run).
"""

from .pipeline import generate_landing

__all__ = ["generate_landing"]
