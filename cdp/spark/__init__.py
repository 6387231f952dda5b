"""Apache Spark as the warehouse engine (docs/spark.md): the session the dbt `spark` target
describes, the hand-over of the tables Python writes from DuckDB, and dbt with Python models
run in the local session."""
