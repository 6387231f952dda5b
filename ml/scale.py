"""How much of the warehouse crosses into Python: models train on a sample drawn in the warehouse and score
in batches (docs/ml.md, "Where the models run").

The fits are single-machine (scikit-learn, NumPy) and need their rows in memory; scoring is per customer.
So a model's YAML bounds both: ``training_sample.max_customers`` (a larger labelled population is sampled
in SQL, so only the sample is pulled) and ``scoring.batch_rows`` (customers scored per batch, so memory is
bounded by the batch, not by the number of customers). The sample is the customers with the lowest
``md5(customer_id || '|' || cutoff)``: the same customers on DuckDB and Spark, the same from run to run for
one cutoff, and a different draw for another cutoff.

Scores do not depend on the batch size, except in the last bits of floats: NumPy's and BLAS's vector loops
round a row's arithmetic by where it falls in the array (tests/test_ml_batches.py: 37-customer batches agree
with one batch to 1e-15 relative; ids, tiers, deciles, ranks and clusters exactly). A population of one
batch is scored exactly as before batching.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

SAMPLE_KEY = "training_sample"
SCORING_KEY = "scoring"
DEFAULT_BATCH_ROWS = 100_000


@dataclass(frozen=True)
class Scale:
    """A model's bounds on what it pulls: at most ``max_training_customers`` per training population
    (None: every customer) and ``batch_rows`` customers per scoring batch."""

    max_training_customers: int | None
    batch_rows: int = DEFAULT_BATCH_ROWS

    @classmethod
    def from_config(cls, model_name: str, config: Mapping[str, Any]) -> Scale:
        """The ``training_sample`` and ``scoring`` blocks of ``ml/config/<model_name>.yml`` (both optional)."""
        where = f"ml/config/{model_name}.yml"
        sample = config.get(SAMPLE_KEY) or {}
        scoring = config.get(SCORING_KEY) or {}
        cap = sample.get("max_customers")
        if cap is not None and not _whole(cap):
            raise ValueError(f"{where}: {SAMPLE_KEY}.max_customers must be a whole number, 1 or more; got {cap!r}")
        batch_rows = scoring.get("batch_rows", DEFAULT_BATCH_ROWS)
        if not _whole(batch_rows):
            raise ValueError(f"{where}: {SCORING_KEY}.batch_rows must be a whole number, 1 or more; got {batch_rows!r}")
        return cls(cap, batch_rows)

    def record(self, population: int, used: int) -> dict[str, Any]:
        """What the run record keeps of one training population: how many there were and how many were used."""
        return {"max_customers": self.max_training_customers, "customers": int(population), "used": int(used),
                "sampled": bool(used < population)}


def sample_clause(max_customers: int, id_column: str = "customer_id", cutoff_sql: str = "cutoff_date") -> str:
    """A ``qualify`` keeping the ``max_customers`` rows with the lowest md5 of id and cutoff (ids unique per
    row): portable SQL, so DuckDB and Spark keep the same customers."""
    key = f"md5(concat(cast({id_column} as string), '|', cast({cutoff_sql} as string)))"
    return f"qualify row_number() over (order by {key}, {id_column}) <= {int(max_customers)}"


def date_literal(day: date) -> str:
    """A date as an SQL literal both engines read (for the sample key, where a placeholder would have to
    come last)."""
    return f"date '{day.isoformat()}'"


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
