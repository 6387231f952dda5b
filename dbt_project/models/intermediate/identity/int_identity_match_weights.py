"""Fellegi-Sunter match weights learnt from this run's data (cdp.identity.training).

Arrays in and out through DuckDB, no pandas: its import alone took a third of this
model's time."""

from cdp.identity.training import match_weights_table


def model(dbt, session):
    dbt.config(materialized="table")
    patterns = dbt.ref("int_identity_comparison_patterns").fetchnumpy()
    session.register("identity_match_weight_arrays", match_weights_table(patterns))
    return session.table("identity_match_weight_arrays")
