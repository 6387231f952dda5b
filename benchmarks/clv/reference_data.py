"""CDNOW reference data (shared/specs/reference-data.md) as a landing directory.

The files ship inside the ``lifetimes`` wheel. Installing that package breaks on current pandas and
setuptools, so the wheel is downloaded from PyPI (no dependencies, nothing installed) into a cache and
the files are read from the archive (benchmarks/reference_wheels.py), as for FEBRL.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from benchmarks.reference_wheels import read_text

WHEEL = "lifetimes==0.11.3"
SOURCE_SYSTEM = "cdnow"
ORDER_HEADER = [
    "source_system", "order_id", "source_customer_id", "ordered_at", "status", "currency", "total_amount", "channel",
]

# Fader, Hardie & Lee (2005) and Fader & Hardie (2013) on the 2,357-customer sample, time unit = week.
CALIBRATION_END = "1997-09-30"
HOLDOUT_END = "1998-06-30"
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_BGNBD_LOG_LIKELIHOOD = -9582.4
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}



def _read(name: str) -> str:
    return read_text(WHEEL, "[Ll]ifetimes-*.whl", f"lifetimes/datasets/{name}")


def cdnow_sample() -> pd.DataFrame:
    """The 1/10 cohort's purchase lines: customer_id (the sample id, 1..2357), master_id, date, cds, dollars."""
    frame = pd.read_csv(
        io.StringIO(_read("CDNOW_sample.txt")), sep=r"\s+", header=None,
        names=["master_id", "customer_id", "date", "cds", "dollars"], dtype={"master_id": str, "customer_id": str},
    )
    frame["customer_id"] = frame["customer_id"].str.lstrip("0")
    frame["date"] = pd.to_datetime(frame["date"].astype(str), format="%Y%m%d")
    return frame


def hardie_summary() -> pd.DataFrame:
    """Bruce Hardie's published calibration summary of the sample (ID, x, t_x, T in weeks, zbar in dollars)."""
    frame = pd.read_csv(io.StringIO(_read("cdnow_customers_summary_with_transactions.csv")))
    frame["ID"] = frame["ID"].astype(str)
    return frame.set_index("ID")


def write_cdnow_landing(out_dir: Path) -> Path:
    """Write the sample as landing ``orders`` (one completed USD web order per purchase line, at noon UTC)
    and ``customers`` (one record per CDNOW customer, the id and nothing else: no personal data exists).

    Orders reach a customer_id only through a customer source record (int_orders_identified joins on
    source_system + source_customer_id), hence the bare customer records.
    """
    sample = cdnow_sample()
    (out_dir / "customers").mkdir(parents=True, exist_ok=True)
    (out_dir / "orders").mkdir(parents=True, exist_ok=True)
    with open(out_dir / "customers" / f"{SOURCE_SYSTEM}_customers.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["source_system", "source_customer_id"])
        writer.writerows([SOURCE_SYSTEM, cid] for cid in sample["customer_id"].unique())
    with open(out_dir / "orders" / f"{SOURCE_SYSTEM}_orders.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(ORDER_HEADER)
        for line, row in enumerate(sample.itertuples(index=False), start=1):
            writer.writerow([
                SOURCE_SYSTEM, f"{row.customer_id}-{line}", row.customer_id,
                f"{row.date:%Y-%m-%d}T12:00:00Z", "completed", "USD", f"{row.dollars:.2f}", "web",
            ])
    return out_dir
