"""CDP Warehouse core: landing contract, data generator, ingestion, exports and the command line."""
