"""Identity resolution support in Python: evaluation against ground truth (the resolution itself is SQL in dbt)."""
