"""The Spark comparison's reading of DuckDB's row digests (cdp/spark/compare.py), without Spark."""

import duckdb

from cdp.spark.compare import md5_text


def test_a_row_digest_number_reads_as_the_md5_text_spark_holds():
    # row_digest on DuckDB is md5_number of the text Spark's md5 hashes (dbt_project/macros/surrogate_key.sql)
    texts = ["webshop-W1-2026-09-01 10:00:00", "", "ü-'quoted'-_dbt_utils_surrogate_key_null_"]
    with duckdb.connect() as con:
        for text in texts:
            number, md5 = con.execute("select cast(md5_number(?) as varchar), md5(?)", [text, text]).fetchone()
            assert md5_text(number) == md5, text
    assert md5_text(None) is None
