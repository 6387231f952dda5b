"""Splink 5 reference run for the identity benchmark (runs in its own venv).

    .venv-splink/bin/python benchmarks/identity/splink_reference.py \
        --landing DIR --mode dedupe|link --out clusters.csv

Splink 5 needs pandas < 3 and our main venv has pandas 3, so this script lives
outside the ``cdp`` package and is run as a subprocess from
``benchmarks/identity/run.py`` with ``.venv-splink/bin/python``
(``make bench-splink-setup`` creates that venv). It imports nothing from ``cdp``.

It reads the landing ``customers`` files (CSV, JSONL, Parquet; everything as
strings, empty = null; of several versions of one source record the one from the
last file wins), builds ``unique_id = source_system || ':' || source_customer_id``
and runs a standard Fellegi-Sunter model with the DuckDB backend:

* comparisons: first_name and last_name (Splink's NameComparison: exact and
  Jaro-Winkler 0.92/0.88/0.7, term-frequency adjusted), birth_date
  (DateOfBirthComparison on YYYYMMDD: exact, Levenshtein 1, within 1 month,
  1 year, 10 years), postcode (Damerau-Levenshtein 1/2, term-frequency adjusted),
  city (Jaro-Winkler 0.9/0.8, term-frequency adjusted), street (Jaro-Winkler
  0.9/0.7), and email / phone exact where the landing has them;
* blocking for prediction: names (and names swapped), last_name, birth_date,
  postcode, email, phone;
* training: probability two random records match from deterministic rules
  (first_name+last_name+birth_date, email) at recall 0.7, u by random sampling
  (1e7 pairs, seed), m by EM on blocks of birth_date and of postcode (and of
  email where present);
* prediction at match probability 0.9 and connected-components clustering at
  the same threshold (``cluster_pairwise_predictions_at_threshold``).

``link`` mode uses link_type ``link_only`` with one input table per
source_system (FEBRL4: febrl4a vs febrl4b); ``dedupe`` mode uses ``dedupe_only``
over all records. Writes ``source_system, source_customer_id, cluster_id`` and
prints one JSON line (training / predict / cluster / total seconds, pairs).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import duckdb
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

THRESHOLD = 0.9
BASE_COLUMNS = ["first_name", "last_name", "birth_date", "street", "city", "postcode", "state"]
OPTIONAL_COLUMNS = ["email", "phone"]


def _load(con: duckdb.DuckDBPyConnection, landing: Path) -> list[str]:
    """Create table ``customers`` (all varchar, cleaned, one row per unique_id); return the optional columns present."""
    folder = landing / "customers"
    sources = []
    if list(folder.glob("*.csv")):
        sources.append(
            f"select * from read_csv('{folder}/*.csv', all_varchar = true, union_by_name = true, "
            f"filename = true, ignore_errors = true, null_padding = true)"
        )
    if list(folder.glob("*.jsonl")):
        sources.append(
            f"select * from read_json('{folder}/*.jsonl', format = 'newline_delimited', union_by_name = true, "
            f"filename = true, ignore_errors = true)"
        )
    if list(folder.glob("*.parquet")):
        sources.append(f"select * from read_parquet('{folder}/*.parquet', union_by_name = true, filename = true)")
    if not sources:
        raise SystemExit(f"no customers files under {folder}")
    raw = []
    for i, sql in enumerate(sources):
        con.execute(f"create temp table raw_{i} as {sql}")
        raw.append(f"raw_{i}")
    present = set.union(*[{r[0] for r in con.execute(f"describe {t}").fetchall()} for t in raw])
    optional = [c for c in OPTIONAL_COLUMNS if c in present]
    wanted = ["source_system", "source_customer_id", *BASE_COLUMNS, *optional]

    def col(table: str, name: str) -> str:
        cols = {r[0] for r in con.execute(f"describe {table}").fetchall()}
        return f"cast({name} as varchar)" if name in cols else "cast(null as varchar)"

    union = " union all ".join(
        f"select {', '.join(f'{col(t, c)} as {c}' for c in wanted)}, cast(filename as varchar) as _file from {t}"
        for t in raw
    )

    def clean(expr: str) -> str:
        return f"nullif(trim(lower({expr})), '')"

    cleaned = {c: clean(c) for c in wanted}
    cleaned["source_system"] = "trim(source_system)"
    cleaned["source_customer_id"] = "trim(source_customer_id)"
    # Dates to YYYYMMDD digits (ISO '1983-04-23' and FEBRL '19830423' alike).
    cleaned["birth_date"] = "nullif(regexp_replace(coalesce(birth_date, ''), '[^0-9]', '', 'g'), '')"
    if "phone" in optional:
        cleaned["phone"] = "nullif(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g'), '')"
    con.execute(
        f"""
        create table customers as
        select source_system || ':' || source_customer_id as unique_id, * exclude (_rn)
        from (
            select {', '.join(f'{expr} as {c}' for c, expr in cleaned.items())},
                   row_number() over (
                       partition by trim(source_system), trim(source_customer_id) order by _file desc
                   ) as _rn
            from ({union})
            where nullif(trim(source_system), '') is not null and nullif(trim(source_customer_id), '') is not null
        )
        where _rn = 1
        """
    )
    return optional


def _settings(link_type: str, optional: list[str]) -> SettingsCreator:
    comparisons = [
        cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
        cl.NameComparison("last_name").configure(term_frequency_adjustments=True),
        cl.DateOfBirthComparison("birth_date", input_is_string=True, datetime_format="%Y%m%d",
                                 invalid_dates_as_null=False),
        cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True),
        cl.JaroWinklerAtThresholds("city", [0.9, 0.8]).configure(term_frequency_adjustments=True),
        cl.JaroWinklerAtThresholds("street", [0.9, 0.7]),
    ]
    blocking = [
        block_on("first_name", "last_name"),
        "l.first_name = r.last_name and l.last_name = r.first_name",
        block_on("last_name"),
        block_on("birth_date"),
        block_on("postcode"),
    ]
    for column in optional:
        comparisons.append(cl.ExactMatch(column).configure(term_frequency_adjustments=True))
        blocking.append(block_on(column))
    return SettingsCreator(
        unique_id_column_name="unique_id",
        link_type=link_type,
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def run(landing: Path, mode: str, out: Path) -> dict:
    logging.getLogger("splink").setLevel(logging.WARNING)
    started = time.perf_counter()
    con = duckdb.connect()
    optional = _load(con, landing)
    records = con.execute("select count(*) from customers").fetchall()[0][0]
    db_api = DuckDBAPI(connection=con)
    if mode == "link":
        systems = [r[0] for r in con.execute("select distinct source_system from customers order by 1").fetchall()]
        if len(systems) < 2:
            raise SystemExit(f"link mode needs two or more source systems, found {systems}")
        inputs = []
        for i, system in enumerate(systems):
            con.execute(f"create table input_{i} as select * from customers where source_system = ?", [system])
            inputs.append(db_api.register(f"input_{i}", dataset_display_name=system))
        linker = Linker(inputs, _settings("link_only", optional), log_level=logging.WARNING)
    else:
        linker = Linker(db_api.register("customers"), _settings("dedupe_only", optional), log_level=logging.WARNING)
    load_seconds = time.perf_counter() - started

    started = time.perf_counter()
    deterministic = [block_on("first_name", "last_name", "birth_date")]
    if "email" in optional:
        deterministic.append(block_on("email"))
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=42)
    em_rules = [block_on("birth_date"), block_on("postcode")]
    if "email" in optional:
        em_rules.append(block_on("email"))
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(rule, estimate_without_term_frequencies=True)
    training_seconds = time.perf_counter() - started

    started = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=THRESHOLD)
    pairs = predictions.as_duckdbpyrelation().count("*").fetchall()[0][0]
    predict_seconds = time.perf_counter() - started

    started = time.perf_counter()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=THRESHOLD
    )
    rel = clusters.as_duckdbpyrelation()
    con.register("splink_clusters", rel)
    out.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"""
        copy (
            select c.source_system, c.source_customer_id, coalesce(k.cluster_id, c.unique_id) as cluster_id
            from customers c
            left join splink_clusters k on k.unique_id = c.unique_id
            order by 1, 2
        ) to '{out}' (header, delimiter ',')
        """
    )
    cluster_seconds = time.perf_counter() - started
    return {
        "records": records,
        "mode": mode,
        "threshold_match_probability": THRESHOLD,
        "load_seconds": round(load_seconds, 2),
        "training_seconds": round(training_seconds, 2),
        "predict_seconds": round(predict_seconds, 2),
        "cluster_seconds": round(cluster_seconds, 2),
        "total_seconds": round(load_seconds + training_seconds + predict_seconds + cluster_seconds, 2),
        "pairs_predicted": pairs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--mode", choices=("dedupe", "link"), required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(run(args.landing, args.mode, args.out)))


if __name__ == "__main__":
    main()
