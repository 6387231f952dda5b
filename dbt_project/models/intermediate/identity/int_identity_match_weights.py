"""Fellegi-Sunter match weights learnt from this run's data (cdp.identity.training)."""

from cdp.identity.training import match_weights_table


def model(dbt, session):
    dbt.config(materialized="table")
    patterns = dbt.ref("int_identity_comparison_patterns").df()
    return match_weights_table(patterns)
