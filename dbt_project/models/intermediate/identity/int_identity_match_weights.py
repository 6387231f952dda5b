"""Fellegi-Sunter match weights learnt from this run's data (cdp.identity.training).

Arrays in and out (cdp.warehouse_frames, DuckDB or Spark), no pandas: its import alone
took a third of this model's time."""

from cdp.identity.training import match_weights_table
from cdp.warehouse_frames import arrays_table, column_arrays


def model(dbt, session):
    dbt.config(materialized="table")
    relation = dbt.ref("int_identity_comparison_patterns")
    patterns = column_arrays(relation, list(relation.columns))
    return arrays_table(session, "identity_match_weight_arrays", match_weights_table(patterns))
