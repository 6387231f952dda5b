"""Product recommendations: planted structure is found, bought products are never shown, point-in-time loads."""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest

from benchmarks.ml.synthetic_interactions import synthetic_interactions
from ml.errors import NotEnoughData
from ml.recommendation_data import INTERACTION_COLUMNS, interaction_batches, load_interactions
from ml.recommendations import RECOMMENDATION_COLUMNS, ItemToItemRecommender, evaluate, recommend_products
from ml.settings import load_model_config

CUTOFF = date(2026, 9, 15)


def interactions(rows: list[tuple]) -> pd.DataFrame:
    """(customer, product, kind, day offset before CUTOFF[, count]) tuples as an interactions frame."""
    records = [(c, p, k, CUTOFF - timedelta(days=d), *(extra or (1,))) for c, p, k, d, *extra in rows]
    frame = pd.DataFrame(records, columns=INTERACTION_COLUMNS)
    frame["occurred_date"] = pd.to_datetime(frame["occurred_date"])
    return frame


def complements() -> pd.DataFrame:
    """Cameras are bought with lenses, phones with cases; a cable is the best seller on its own."""
    rows = []
    for i in range(30):
        rows += [(f"cam{i:02d}", "camera", "purchase", 20), (f"cam{i:02d}", "lens", "purchase", 10)]
        rows += [(f"pho{i:02d}", "phone", "purchase", 20), (f"pho{i:02d}", "case", "purchase", 10)]
    for i in range(60):
        rows += [(f"cab{i:02d}", "cable", "purchase", 5), (f"cab{i:02d}", f"gadget{i % 12:02d}", "purchase", 5)]
    return interactions(rows)


def small_model(**settings) -> ItemToItemRecommender:
    return ItemToItemRecommender(**{"min_customers": 2, "min_products": 2} | settings)


def test_item_to_item_beats_popularity_on_planted_clusters():
    data = synthetic_interactions(2000, 100, 10, n_clusters=10, seed=3)
    metrics = evaluate(data, "2026-09-01", "2026-09-30", n=10)
    json.dumps(metrics)
    assert metrics["test_customers"] > 500
    assert metrics["item_to_item"]["hit_rate"] > metrics["popular"]["hit_rate"] + 0.2
    assert metrics["paired"]["p_value"] < 0.001
    assert metrics["item_to_item"]["coverage"] > metrics["popular"]["coverage"]


def test_recommends_the_planted_complement_then_fills_with_popular():
    data = pd.concat([complements(), interactions([("probe", "camera", "purchase", 1)])])
    recs = small_model().fit(data).recommend(data, customer_ids=["probe"])
    assert list(recs.columns) == RECOMMENDATION_COLUMNS
    assert recs["product_id"].astype(str).tolist()[:2] == ["lens", "cable"]
    assert recs["source"].astype(str).tolist()[:2] == ["item_to_item", "popular"]
    assert recs["rank"].tolist() == list(range(1, 11))


def test_bought_products_are_never_recommended_but_viewed_ones_can_be():
    data = synthetic_interactions(1000, 60, 12, n_clusters=6, seed=5)
    recs = small_model().fit_recommend(data)
    bought = data.loc[data["interaction_type"] == "purchase", ["customer_id", "product_id"]].astype(str)
    pairs = recs[["customer_id", "product_id"]].astype(str)
    assert pairs.merge(bought.drop_duplicates()).empty
    viewed = data.loc[data["interaction_type"] == "view", ["customer_id", "product_id"]].astype(str)
    assert len(pairs.merge(viewed.drop_duplicates())) > 100

    probe = pd.concat([complements(), interactions([("probe", "camera", "purchase", 1), ("probe", "lens", "view", 1)])])
    recs = small_model().fit(probe).recommend(probe, customer_ids=["probe"])
    assert recs.iloc[0][["product_id", "source"]].astype(str).tolist() == ["lens", "item_to_item"]


def test_cold_customers_get_popular_products_flagged_popular():
    data = complements()
    model = small_model().fit(data)
    recs = model.recommend(data, customer_ids=["never-seen", "cam00"])
    cold = recs[recs["customer_id"] == "never-seen"]
    assert len(cold) == 10 and set(cold["source"]) == {"popular"}
    assert cold["product_id"].iloc[0] == "cable"
    assert cold["score"].iloc[0] == 60
    # cam00 already owns camera and lens: neither comes back, and the list is still full
    warm = recs[recs["customer_id"] == "cam00"]
    assert len(warm) == 10 and not {"camera", "lens"} & set(warm["product_id"].astype(str))


def test_ties_are_broken_by_product_id_whatever_the_input_order():
    # a hub bought with 15 products by the same customers: 15 equal scores for 10 slots
    rows = [(f"c{i}", "hub", "purchase", 3) for i in range(5)]
    rows += [(f"c{i}", f"item{j:02d}", "purchase", 2) for i in range(5) for j in range(15)]
    data = interactions(rows + [("probe", "hub", "purchase", 1)])
    model = small_model()
    first = model.fit(data).recommend(data, customer_ids=["probe"])
    assert first["product_id"].astype(str).tolist() == [f"item{j:02d}" for j in range(10)]
    assert first["score"].nunique() == 1
    shuffled = data.sample(frac=1, random_state=7)
    again = small_model().fit(shuffled).recommend(shuffled, customer_ids=["probe"])
    pd.testing.assert_frame_equal(first, again)


def test_save_and_load_give_identical_recommendations(tmp_path):
    data = synthetic_interactions(500, 40, 10, n_clusters=4, seed=11)
    model = small_model(neighbours=5).fit(data)
    path = tmp_path / "recommender.npz"
    model.save(path)
    loaded = ItemToItemRecommender.load(path)
    pd.testing.assert_frame_equal(model.recommend(data), loaded.recommend(data))
    assert loaded.params == model.params
    assert loaded.metrics == model.metrics
    json.dumps({"params": loaded.params, "metrics": loaded.metrics})


def test_too_little_data_raises_not_enough_data_with_the_reason():
    views_only = interactions([(f"c{i}", f"p{i % 3}", "view", 1) for i in range(50)])
    with pytest.raises(NotEnoughData, match="no completed purchases"):
        ItemToItemRecommender().fit(views_only)
    few = complements().head(10)
    with pytest.raises(NotEnoughData, match=r"only 5 customers .*min_customers is 20"):
        ItemToItemRecommender().fit(few)
    with pytest.raises(NotEnoughData, match=r"only 17 products .*min_products is 20"):
        ItemToItemRecommender(min_customers=1).fit(complements())
    with pytest.raises(NotEnoughData, match="nothing to test"):
        evaluate(complements(), CUTOFF + timedelta(days=1), CUTOFF + timedelta(days=30))


def warehouse(con: duckdb.DuckDBPyConnection, data: pd.DataFrame) -> None:
    """The three relations the loader reads, filled from an interactions frame (one order per purchase)."""
    con.execute("create schema marts; create schema staging; create schema intermediate")
    con.execute(
        "create table marts.fct_orders (order_id varchar, customer_id varchar, order_status varchar,"
        " is_completed boolean, ordered_date date, ordered_at timestamp)"
    )
    con.execute(
        "create table staging.stg_landing__order_items (order_item_id varchar, order_id varchar,"
        " product_id varchar, quantity bigint)"
    )
    con.execute(
        "create table intermediate.int_events_identified (customer_id varchar, product_id varchar,"
        " event_type varchar, occurred_date date, occurred_at timestamp)"
    )
    add(con, data)


def add(con: duckdb.DuckDBPyConnection, data: pd.DataFrame, prefix: str = "o") -> None:
    rows = data.astype({"customer_id": str, "product_id": str, "interaction_type": str}).reset_index(drop=True)
    rows["order_id"] = prefix + rows.index.astype(str)
    rows["event_type"] = rows["interaction_type"].map({"view": "product_view", "cart": "add_to_cart"})
    con.register("new_rows", rows)
    con.execute(
        "insert into marts.fct_orders select order_id, customer_id, 'completed', true, occurred_date,"
        " occurred_date + interval 13 hour from new_rows where interaction_type = 'purchase'"
    )
    con.execute(
        "insert into staging.stg_landing__order_items select order_id || '-1', order_id, product_id, 1"
        " from new_rows where interaction_type = 'purchase'"
    )
    con.execute(
        "insert into intermediate.int_events_identified select customer_id, product_id, event_type,"
        " occurred_date, occurred_date + interval 23 hour + interval 59 minute"
        " from new_rows, range(interaction_count) as repeats(i) where interaction_type <> 'purchase'"
    )
    con.unregister("new_rows")


def test_loader_is_point_in_time_and_reads_only_completed_identified_activity(con):
    data = synthetic_interactions(400, 40, 10, n_clusters=4, days=60, start_date="2026-07-18", seed=2)
    data = data[data["occurred_date"] <= pd.Timestamp(CUTOFF)]
    warehouse(con, data)
    con.execute(
        "insert into marts.fct_orders values ('x1', 'c000', 'cancelled', false, ?, ?),"
        " ('x2', null, 'completed', true, ?, ?)",
        [CUTOFF, CUTOFF, CUTOFF, CUTOFF],
    )
    con.execute(
        "insert into staging.stg_landing__order_items values"
        " ('x1-1', 'x1', 'p039', 1), ('x2-1', 'x2', 'p039', 1)"
    )
    con.execute(
        "insert into intermediate.int_events_identified values (null, 'p039', 'product_view', ?, ?)", [CUTOFF] * 2
    )
    before = load_interactions(con, CUTOFF, lookback_days=365)
    assert list(before.columns) == INTERACTION_COLUMNS
    assert before["occurred_date"].max() == pd.Timestamp(CUTOFF)
    assert before["interaction_count"].sum() == data["interaction_count"].sum()
    assert load_interactions(con, CUTOFF, lookback_days=1)["occurred_date"].min() == pd.Timestamp(CUTOFF)
    settings = load_model_config("recommendations")
    run_before = recommend_products(con, CUTOFF, settings)

    later = data.copy()
    later["occurred_date"] = later["occurred_date"] + pd.Timedelta(days=60)
    add(con, later, prefix="late")
    after = load_interactions(con, CUTOFF, lookback_days=365)
    pd.testing.assert_frame_equal(
        before.astype({"customer_id": str, "product_id": str, "interaction_type": str})
        .sort_values(INTERACTION_COLUMNS[:4]).reset_index(drop=True),
        after.astype({"customer_id": str, "product_id": str, "interaction_type": str})
        .sort_values(INTERACTION_COLUMNS[:4]).reset_index(drop=True),
    )
    run_after = recommend_products(con, CUTOFF, settings)
    pd.testing.assert_frame_equal(run_before.recommendations, run_after.recommendations)
    for name in ("item_to_item", "popular"):
        assert run_before.metrics["holdout"][name] == run_after.metrics["holdout"][name]
    json.dumps({"params": run_after.params, "metrics": run_after.metrics})
    assert run_after.params["as_of"] == CUTOFF.isoformat()
    assert run_after.metrics["holdout"]["test_customers"] > 0


def test_interaction_batches_give_each_selected_customer_once_with_exactly_their_interactions(con):
    data = complements()
    warehouse(con, data)
    con.execute("create table picked as select distinct customer_id from marts.fct_orders where customer_id <> 'cab00'")
    con.execute("insert into picked values ('nobody')")  # known, without interactions
    whole = load_interactions(con, CUTOFF, lookback_days=30).astype(
        {"customer_id": str, "product_id": str, "interaction_type": str})

    batches = list(interaction_batches(con, CUTOFF, 30, "select customer_id from picked", batch_rows=7))

    picked = sorted(row[0] for row in con.execute("select customer_id from picked").fetchall())
    assert [len(ids) for ids, _ in batches] == [7] * (len(picked) // 7) + [len(picked) % 7]
    assert [customer for ids, _ in batches for customer in ids] == picked  # in id order, each once
    for ids, batch in batches:
        assert list(batch.columns) == INTERACTION_COLUMNS
        mine = whole[whole["customer_id"].isin(ids)]
        pd.testing.assert_frame_equal(
            batch.astype({"customer_id": str, "product_id": str, "interaction_type": str})
            .sort_values(INTERACTION_COLUMNS[:4]).reset_index(drop=True),
            mine.sort_values(INTERACTION_COLUMNS[:4]).reset_index(drop=True),
        )
    assert "cab00" not in set(pd.concat([batch for _, batch in batches])["customer_id"].astype(str))
    # the scratch tables are gone, also when the caller stops early
    next(iter(interaction_batches(con, CUTOFF, 30, "select customer_id from picked", batch_rows=7)))
    assert not con.execute("select count(*) from duckdb_tables() where temporary").fetchone()[0]
