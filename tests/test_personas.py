"""Personas: k chosen by silhouette, stable ids across retrains, names from what sets clusters apart, errors."""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from ml.errors import NotEnoughData
from ml.personas import PersonaModel, fit_personas
from ml.settings import load_model_config

FEATURES = [
    "recency_days", "frequency", "monetary", "average_order_value", "tenure_days", "orders_90d", "spend_90d",
    "sessions_30d", "product_views_30d", "add_to_carts_30d", "email_opens_90d", "email_clicks_90d",
    "email_click_rate_90d", "return_rate", "distinct_categories",
]

# Behaviour of each synthetic group: mean recency (None: never purchased), mean orders, typical order value,
# tenure range, 30-day sessions, 90-day email opens, click probability, return probability.
GROUPS = {
    "loyal": dict(recency=12, orders=18, order_value=160, tenure=(600, 1500), sessions=12, opens=14, click=0.3,
                  returns=0.05),
    "lapsed": dict(recency=420, orders=1, order_value=40, tenure=(400, 1200), sessions=0.2, opens=1.5, click=0.03,
                   returns=0.0),
    "browsers": dict(recency=None, orders=0, order_value=0, tenure=(20, 300), sessions=15, opens=12, click=0.45,
                     returns=0.0),
    "returners": dict(recency=40, orders=6, order_value=90, tenure=(200, 900), sessions=4, opens=4, click=0.1,
                      returns=0.7),
}


def customer_features(sizes: dict[str, int], seed: int = 0, id_prefix: str = "c") -> tuple[pd.DataFrame, np.ndarray]:
    """Customers of the named GROUPS with skewed counts and amounts and realistic NaN; also the true group."""
    rng = np.random.default_rng(seed)
    frames, truth = [], []
    for name, n in sizes.items():
        g = GROUPS[name]
        buyer = g["orders"] > 0
        orders = (1 + rng.poisson(g["orders"] - 1, n)) if buyer else np.zeros(n, dtype=int)
        value = rng.lognormal(np.log(max(g["order_value"], 1)), 0.4, n)
        recency = rng.gamma(4.0, g["recency"] / 4.0, n) if buyer else np.full(n, np.nan)
        orders_90d = rng.binomial(orders, min(1.0, 90 / (recency.mean() + 90))) if buyer else np.zeros(n, int)
        sessions = rng.poisson(g["sessions"], n)
        opens = rng.poisson(g["opens"], n)
        clicks = rng.binomial(opens, g["click"])
        returned = rng.binomial(orders, g["returns"])
        frames.append(pd.DataFrame({
            "recency_days": recency,
            "frequency": orders,
            "monetary": orders * value,
            "average_order_value": np.where(orders > 0, value, np.nan),
            "tenure_days": rng.uniform(*g["tenure"], n).round(),
            "orders_90d": orders_90d,
            "spend_90d": orders_90d * value,
            "sessions_30d": sessions,
            "product_views_30d": rng.poisson(3.0 * sessions + 0.5),
            "add_to_carts_30d": rng.poisson(0.3 * sessions),
            "email_opens_90d": opens,
            "email_clicks_90d": clicks,
            "email_click_rate_90d": np.where(opens > 0, clicks / np.maximum(opens, 1), np.nan),
            "return_rate": np.where(orders > 0, returned / np.maximum(orders, 1), np.nan),
            "distinct_categories": np.minimum(orders, rng.poisson(1 + 0.3 * orders)),
        }))
        truth += [name] * n
    features = pd.concat(frames, ignore_index=True)
    features.insert(0, "customer_id", [f"{id_prefix}{i:07d}" for i in range(len(features))])
    return features, np.asarray(truth)


@pytest.fixture(scope="module")
def settings() -> dict:
    """The shipped settings with a k range from 2 (the tests plant two to four groups) and smaller samples, so
    each fit takes a fraction of a second."""
    config = copy.deepcopy(load_model_config("personas"))
    config["selection"].update(k_min=2, k_max=6, sample_size=2000)
    config["kmeans"]["n_init"] = 4
    return config


@pytest.fixture(scope="module")
def three_groups() -> tuple[pd.DataFrame, np.ndarray]:
    return customer_features({"loyal": 500, "lapsed": 800, "browsers": 600}, seed=1)


@pytest.fixture(scope="module")
def model(three_groups, settings) -> PersonaModel:
    return fit_personas(three_groups[0], FEATURES, settings)


def cluster_of_group(model: PersonaModel, features: pd.DataFrame, truth: np.ndarray) -> dict[str, int]:
    """The cluster id most members of each true group are assigned to."""
    assigned = model.assign(features)
    return pd.Series(assigned["cluster_id"].to_numpy()).groupby(truth).agg(lambda s: s.mode()[0]).to_dict()


def persona_of(model: PersonaModel, cluster_id: int) -> pd.Series:
    return model.personas.set_index("cluster_id").loc[cluster_id]


# --------------------------------------------------------------------------- choosing k, clustering


def test_silhouette_picks_the_true_k_and_clusters_recover_the_groups(model, three_groups, settings):
    features, truth = three_groups
    selection = model.selection
    assert selection["k"].tolist() == list(range(settings["selection"]["k_min"], settings["selection"]["k_max"] + 1))
    assert selection[["silhouette", "inertia"]].notna().all().all()
    assert selection["is_chosen"].sum() == 1
    chosen = selection[selection["is_chosen"]].iloc[0]
    assert chosen["k"] == 3 and chosen["silhouette"] == selection["silhouette"].max()
    inertia = selection.set_index("k")["inertia"]
    assert inertia[3] < 0.5 * inertia[2]  # the elbow is at the true k
    assigned = model.assign(features)
    assert adjusted_rand_score(truth, assigned["cluster_id"]) > 0.95
    assert model.metrics["k"] == 3 and model.metrics["silhouette"] == chosen["silhouette"]


def test_one_pass_silhouettes_equal_sklearn():
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    from ml.personas import silhouette_scores

    rng = np.random.default_rng(3)
    points = np.vstack([rng.normal(0, 1, (300, 4)), rng.normal(3, 1, (200, 4))])
    labelings = [KMeans(k, n_init=1, random_state=0).fit(points).labels_ for k in (2, 3, 4)]
    labelings.append(np.r_[np.zeros(499, dtype=int), 1])  # a cluster of one: silhouette 0 for that point
    assert silhouette_scores(points, labelings, chunk_rows=64) == pytest.approx(
        [silhouette_score(points, labels) for labels in labelings], abs=1e-9
    )


def test_minibatch_above_the_threshold_gives_a_comparable_clustering(model, three_groups, settings):
    features, truth = three_groups
    minibatch_settings = copy.deepcopy(settings)
    minibatch_settings["minibatch"].update(threshold_rows=1000, batch_size=256)
    minibatch = fit_personas(features, FEATURES, minibatch_settings)
    assert minibatch.params["algorithm"] == "minibatch_kmeans" and model.params["algorithm"] == "kmeans"
    assert minibatch.metrics["k"] == 3
    assert adjusted_rand_score(model.assign(features)["cluster_id"], minibatch.assign(features)["cluster_id"]) > 0.95


def test_same_data_in_any_row_order_gives_the_same_model(model, three_groups, settings):
    features, _ = three_groups
    shuffled = features.sample(frac=1.0, random_state=7)
    again = fit_personas(shuffled, FEATURES, settings)
    pd.testing.assert_frame_equal(again.personas, model.personas)
    pd.testing.assert_frame_equal(again.selection, model.selection)
    expected = model.assign(features).set_index("customer_id")
    got = again.assign(shuffled).set_index("customer_id").loc[expected.index]
    pd.testing.assert_frame_equal(got, expected)


# --------------------------------------------------------------------------- stable ids


def test_retrained_on_fresh_customers_the_same_groups_keep_their_ids(model, three_groups, settings):
    features, truth = three_groups
    before = cluster_of_group(model, features, truth)
    # other customers, other group sizes: without matching, ids (given largest first) would come out permuted
    fresh, fresh_truth = customer_features({"loyal": 900, "lapsed": 400, "browsers": 650}, seed=2, id_prefix="n")
    retrained = fit_personas(fresh, FEATURES, settings, previous=model)
    assert cluster_of_group(retrained, fresh, fresh_truth) == before
    mapping = retrained.metrics["id_mapping"]
    assert [m["cluster_id"] for m in mapping["matched"]] == sorted(before.values())
    assert mapping["new"] == [] and mapping["retired"] == []
    assert retrained.next_cluster_id == model.next_cluster_id


def test_perturbed_and_resampled_data_keep_ids(model, three_groups, settings):
    features, truth = three_groups
    before = cluster_of_group(model, features, truth)
    rng = np.random.default_rng(5)
    keep = rng.random(len(features)) < 0.7
    perturbed = features[keep].copy()
    perturbed[FEATURES] = perturbed[FEATURES] * rng.lognormal(0.0, 0.1, (keep.sum(), len(FEATURES)))
    retrained = fit_personas(perturbed, FEATURES, settings, previous=model)
    assert cluster_of_group(retrained, perturbed, truth[keep]) == before


def test_a_new_group_gets_a_fresh_id_and_a_vanished_groups_id_is_never_reused(model, three_groups, settings):
    before = cluster_of_group(model, *three_groups)
    four, four_truth = customer_features({"loyal": 500, "lapsed": 800, "browsers": 600, "returners": 500}, seed=3)
    grown = fit_personas(four, FEATURES, settings, previous=model)
    after = cluster_of_group(grown, four, four_truth)
    assert {g: after[g] for g in before} == before
    assert after["returners"] == model.next_cluster_id == 4
    assert grown.metrics["id_mapping"]["new"] == [4]

    two, two_truth = customer_features({"loyal": 500, "lapsed": 800}, seed=4)
    shrunk = fit_personas(two, FEATURES, settings, previous=grown)
    assert cluster_of_group(shrunk, two, two_truth) == {g: after[g] for g in ("loyal", "lapsed")}
    assert shrunk.metrics["id_mapping"]["retired"] == sorted([after["browsers"], after["returners"]])

    back, back_truth = customer_features({"loyal": 500, "lapsed": 800, "browsers": 600}, seed=5)
    regrown = fit_personas(back, FEATURES, settings, previous=shrunk)
    ids = cluster_of_group(regrown, back, back_truth)
    assert ids["browsers"] == 5  # matched only against the previous run: a returning group is new, ids 1-4 are spent
    assert ids["loyal"] == after["loyal"] and ids["lapsed"] == after["lapsed"]


# --------------------------------------------------------------------------- personas


def test_names_and_descriptions_say_what_sets_each_group_apart(model, three_groups, settings):
    features, truth = three_groups
    clusters = cluster_of_group(model, features, truth)
    vocabulary = settings["naming"]["vocabulary"]
    personas = model.personas
    assert personas["persona_name"].is_unique
    assert personas["customer_count"].sum() == len(features)
    assert personas["customer_share"].sum() == pytest.approx(1.0)

    loyal = persona_of(model, clusters["loyal"])
    assert vocabulary["monetary"]["high_noun"] in loyal["persona_name"].lower()  # "... high spenders"
    assert json.loads(loyal["distinguishing_features"])["monetary"] > 1.0
    assert re.search(r"much higher (lifetime spend|spend in the last 90 days) \(median", loyal["description"])
    typical = json.loads(loyal["centroid"])
    members = features[truth == "loyal"]
    assert typical["monetary"] == pytest.approx(members["monetary"].median(), rel=0.02)
    recency = f"days since last order (median {members['recency_days'].median():.3g} vs "
    assert recency + f"{features['recency_days'].median():,.0f} overall)" in loyal["description"]  # NaN skipped

    browsers = persona_of(model, clusters["browsers"])  # never purchased: the "zero" words, not "buyers"
    assert any(vocabulary["monetary"][w] in browsers["persona_name"].lower() for w in ("zero", "zero_noun"))
    assert "buyer" not in browsers["persona_name"].lower()
    assert json.loads(browsers["centroid"])["recency_days"] is None  # no member has a recency
    assert "days since last order" not in browsers["description"]  # the filled-in recency describes nothing

    lapsed = persona_of(model, clusters["lapsed"])
    assert json.loads(lapsed["distinguishing_features"])["sessions_30d"] < -0.5
    assert vocabulary["sessions_30d"]["low"] in lapsed["persona_name"].lower()


def test_clashing_names_are_made_unique(three_groups, settings):
    same_words = copy.deepcopy(settings)
    same_words["naming"]["vocabulary"] = {f: {"high": "alike", "low": "alike"} for f in FEATURES}
    model = fit_personas(three_groups[0], FEATURES, same_words)
    names = model.personas.set_index("cluster_id")["persona_name"]
    assert names.to_dict() == {i: f"Alike customers ({i})" for i in names.index}


# --------------------------------------------------------------------------- data problems


def test_missing_values_are_filled_by_the_documented_rules(model, three_groups):
    features, truth = three_groups
    assert features["recency_days"].isna().sum() == (truth == "browsers").sum()
    fills = model.params["fill_values"]
    assert fills["recency_days"] == features["recency_days"].max()  # never purchased: the most lapsed
    assert fills["average_order_value"] == 0.0 and fills["email_click_rate_90d"] == 0.0
    blank = pd.DataFrame({"customer_id": ["x1", "x2"], **{f: [np.nan, np.inf] for f in FEATURES}})
    assigned = model.assign(blank)
    assert np.isfinite(assigned["distance_to_centroid"]).all()
    assert assigned["cluster_id"].nunique() == 1  # infinite is treated as missing


def test_constant_features_are_dropped_with_a_note(three_groups, settings):
    features = three_groups[0].assign(frequency=3, return_rate=np.nan)
    model = fit_personas(features, FEATURES, settings)
    assert "frequency" not in model.feature_columns and "return_rate" not in model.feature_columns
    assert model.params["dropped_features"]["frequency"].startswith("constant (3 ")
    assert model.params["dropped_features"]["return_rate"] == "every value missing"
    assert model.metrics["k"] == 3
    json.dumps(model.params), json.dumps(model.metrics)  # ready for the model-run registry


def test_too_few_customers_or_nothing_varying_is_not_enough_data(three_groups, settings):
    features = three_groups[0]
    with pytest.raises(NotEnoughData, match=r"at least 100 customers \(min_customers in .*personas.yml\), got 99"):
        fit_personas(features.head(99), FEATURES, settings)
    constant = features.assign(**{f: 1.0 for f in FEATURES})
    with pytest.raises(NotEnoughData, match="no feature varies.*recency_days: constant"):
        fit_personas(constant, FEATURES, settings)
    two_kinds = features.assign(**{f: np.where(np.arange(len(features)) % 2, 1.0, 2.0) for f in FEATURES})
    narrow = copy.deepcopy(settings)
    narrow["selection"]["k_min"] = 3
    with pytest.raises(NotEnoughData, match="only 2 distinct feature vectors"):
        fit_personas(two_kinds, FEATURES, narrow)


def test_bad_input_is_refused_with_the_reason(three_groups, settings):
    features = three_groups[0]
    with pytest.raises(ValueError, match="lack columns"):
        fit_personas(features.drop(columns="monetary"), FEATURES, settings)
    with pytest.raises(ValueError, match="not unique"):
        fit_personas(pd.concat([features, features.head(1)]), FEATURES, settings)
    with pytest.raises(ValueError, match="not numeric"):
        fit_personas(features.assign(monetary="a lot"), FEATURES, settings)
    wrong = copy.deepcopy(settings)
    wrong["selection"]["k_min"] = 1
    with pytest.raises(ValueError, match="k_min"):
        fit_personas(features, FEATURES, wrong)


# --------------------------------------------------------------------------- persistence


def test_a_saved_model_reloads_and_assigns_identically(model, three_groups, tmp_path):
    features = three_groups[0]
    model.save(tmp_path / "personas.joblib")
    loaded = PersonaModel.load(tmp_path / "personas.joblib")
    pd.testing.assert_frame_equal(loaded.assign(features), model.assign(features))
    pd.testing.assert_frame_equal(loaded.personas, model.personas)
    assert loaded.next_cluster_id == model.next_cluster_id


def test_assign_gives_the_customer_clusters_table_for_new_customers(model):
    new, _ = customer_features({"loyal": 5, "browsers": 5}, seed=9, id_prefix="z")
    new = new[["customer_id", *reversed(FEATURES)]].assign(unused=1)  # column order and extra columns don't matter
    assigned = model.assign(new)
    assert assigned.columns.tolist() == ["customer_id", "cluster_id", "persona_name", "distance_to_centroid"]
    assert assigned["customer_id"].tolist() == new["customer_id"].tolist()
    assert assigned["cluster_id"].nunique() == 2
    names = model.personas.set_index("cluster_id")["persona_name"]
    assert (assigned["persona_name"] == names.loc[assigned["cluster_id"]].to_numpy()).all()
    with pytest.raises(ValueError, match="monetary"):
        model.assign(new.drop(columns="monetary"))
