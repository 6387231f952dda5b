"""Dagster wiring for CDP Warehouse: definitions.py assembles the modules in defs/."""
