"""Churn and purchase propensity: candidates compared out of time, calibration, lift, drivers, guard rails, scoring.

The data are synthetic customers whose label follows a known logistic model of a few features, so the tests
can check that the right model wins and the right features come out on top. The benchmark at the end runs
only when CDP_PROPENSITY_BENCH_ROWS is set (docs/churn.md has the command).
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ml.errors import FitFailed, NotEnoughData
from ml.propensity import (
    SCORE_COLUMNS,
    PropensityModel,
    assign_deciles,
    assign_tiers,
    evaluate,
    lift_by_decile,
    reliability_curve,
    roc_points,
    train_propensity,
)
from ml.settings import load_model_config

FEATURES = [
    "recency_days", "frequency", "monetary", "average_order_value", "tenure_days", "orders_30d", "orders_90d",
    "spend_90d", "sessions_30d", "product_views_30d", "add_to_carts_30d", "days_since_last_visit",
    "email_opens_90d", "email_clicks_90d", "email_click_rate_90d", "return_rate", "distinct_categories",
    "support_tickets_90d", "discount_share", "days_since_last_email_click",
]
ROWS = 8000


def customers(n: int, seed: int, signal: str = "nonlinear", drift: float = 0.0, intercept: float = 0.0) -> pd.DataFrame:
    """One feature row per customer at a cutoff, with a 0/1 ``label``.

    A latent engagement drives the behavioural counts (so features correlate, as in real data); the label's
    log-odds are linear in recency (+) and sessions (-); the ``nonlinear`` signal adds an interaction of
    return rate and order value (same-side signs raise the odds), which no linear model can represent.
    ``drift`` moves engagement and the base rate between cutoffs; several features are missing for some rows.
    """
    rng = np.random.default_rng(seed)
    engagement = rng.normal(drift, 1, n)
    frequency = rng.poisson(np.exp(0.8 + 0.4 * engagement)) + 1.0
    order_value = rng.lognormal(4 + 0.1 * engagement, 0.5)
    recency = rng.exponential(90 * np.exp(-0.5 * engagement))
    tenure = recency + rng.exponential(400, n)
    orders_90d = rng.poisson(frequency * 90 / tenure.clip(90))
    sessions = rng.poisson(np.exp(1.2 + 0.6 * engagement))
    views = rng.poisson(sessions * 3.0)
    opens = rng.poisson(np.exp(1.5 + 0.3 * engagement))
    clicks = rng.binomial(opens, 0.2)
    returns = rng.beta(1, 8, n)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{seed}-{i}" for i in range(n)],
            "recency_days": recency,
            "frequency": frequency,
            "monetary": frequency * order_value,
            "average_order_value": order_value,
            "tenure_days": tenure,
            "orders_30d": rng.binomial(orders_90d, 0.33),
            "orders_90d": orders_90d,
            "spend_90d": orders_90d * order_value,
            "sessions_30d": sessions,
            "product_views_30d": views,
            "add_to_carts_30d": rng.binomial(views, 0.1),
            "days_since_last_visit": np.where(sessions > 0, rng.exponential(20 / (1 + sessions)), np.nan),
            "email_opens_90d": opens,
            "email_clicks_90d": clicks,
            "email_click_rate_90d": np.where(opens > 0, clicks / np.maximum(opens, 1), np.nan),
            "return_rate": returns,
            "distinct_categories": rng.poisson(1 + frequency / 3),
            "support_tickets_90d": rng.poisson(0.2, n),
            "discount_share": rng.beta(2, 5, n),
            "days_since_last_email_click": np.where(clicks > 0, rng.exponential(30, n), np.nan),
        }
    )
    logit = intercept + 0.3 * drift + 1.3 * (recency - 90) / 90 - 0.9 * (sessions - 4) / 3
    if signal == "nonlinear":
        logit = logit + 1.6 * np.sign(returns - 1 / 9) * np.sign(np.log(order_value) - 4)
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def settings(**overrides) -> dict:
    """The churn YAML with small-data guard rails and quick drivers; ``overrides`` replace top-level keys."""
    base = copy.deepcopy(load_model_config("churn"))
    base.update(min_rows=500, drivers={"top_n": 5, "permutation_repeats": 2, "permutation_rows": 2000})
    base.update(overrides)
    return base


@pytest.fixture(scope="module")
def nonlinear():
    train, validation = customers(ROWS, 1), customers(ROWS, 2, drift=0.3)
    return train, validation, train_propensity(train, validation, FEATURES, "label", settings())


@pytest.fixture(scope="module")
def linear():
    train, validation = customers(ROWS, 1, "linear"), customers(ROWS, 2, "linear", drift=0.3)
    return train_propensity(train, validation, FEATURES, "label", settings())


# --------------------------------------------------------------------------- comparison and selection


def test_both_candidates_beat_random_and_boosting_wins_a_nonlinear_signal(nonlinear):
    _, _, model = nonlinear
    candidates = model.metrics["candidates"]
    assert set(candidates) == {"logistic_regression", "hist_gradient_boosting"}
    assert candidates["logistic_regression"]["roc_auc"] > 0.7
    assert candidates["hist_gradient_boosting"]["roc_auc"] > candidates["logistic_regression"]["roc_auc"] + 0.05
    assert model.winner == "hist_gradient_boosting"
    assert model.version.startswith("churn-hist_gradient_boosting-")
    for report in candidates.values():
        assert report["customers"] == ROWS
        assert 0 < report["pr_auc"] < 1 and 0 < report["brier"] < 0.25 and report["log_loss"] > 0


def test_logistic_regression_wins_a_linear_signal(linear):
    candidates = linear.metrics["candidates"]
    assert candidates["logistic_regression"]["roc_auc"] > 0.7
    assert linear.winner == "logistic_regression"
    assert candidates["logistic_regression"]["roc_auc"] >= candidates["hist_gradient_boosting"]["roc_auc"] - 0.005


def test_ties_go_to_the_first_listed_candidate():
    train, validation = customers(3000, 1), customers(3000, 2)
    everything_ties = {"metric": "roc_auc", "tie_tolerance": 1.0, "min_roc_auc": 0.5}
    model = train_propensity(train, validation, FEATURES, "label", settings(selection=everything_ties))
    assert model.winner == "logistic_regression"
    reordered = settings(selection=everything_ties)
    reordered["candidates"] = dict(reversed(list(reordered["candidates"].items())))
    assert train_propensity(train, validation, FEATURES, "label", reordered).winner == "hist_gradient_boosting"


def test_metrics_and_params_are_json_and_record_the_run(nonlinear):
    _, _, model = nonlinear
    json.dumps(model.metrics, allow_nan=False)
    json.dumps(model.params, allow_nan=False)
    assert model.params["features"] == FEATURES
    assert model.params["rows"] == {"training": ROWS, "training_used": ROWS, "validation": ROWS, "final_fit_used": ROWS}
    assert model.params["candidates"]["logistic_regression"]["logisticregression__C"] == 1.0
    assert model.params["candidates"]["hist_gradient_boosting"]["learning_rate"] == 0.1
    assert model.params["calibration"]["final_method"] == "isotonic"
    assert model.metrics["selection"]["metric"] == "roc_auc"


def test_cutoffs_are_recorded():
    train, validation = customers(2000, 1), customers(2000, 2)
    cutoffs = {"training_cutoff": pd.Timestamp("2024-01-01").date(), "validation_cutoff": "2024-04-01"}
    model = train_propensity(train, validation, FEATURES, "label", settings(), cutoffs={**cutoffs, "horizon_days": 90})
    assert model.params["cutoffs"] == {"training_cutoff": "2024-01-01", "validation_cutoff": "2024-04-01",
                                       "horizon_days": 90}


# --------------------------------------------------------------------------- calibration, lift, drivers


def test_final_model_is_calibrated_on_new_customers_of_the_latest_cutoff(nonlinear):
    _, _, model = nonlinear
    held_out = customers(20000, 9, drift=0.3)
    probability = model.predict_proba(held_out)
    label = held_out["label"].to_numpy()
    brier = np.mean((probability - label) ** 2)
    assert brier < 0.6 * label.mean() * (1 - label.mean())  # far better than always predicting the base rate
    bins = reliability_curve(label, probability, bins=10)
    assert bins["customers"].sum() == len(label)
    assert (bins["mean_predicted"] - bins["observed_rate"]).abs().max() < 0.05
    assert abs(probability.mean() - label.mean()) < 0.02


def test_lift_by_decile_adds_up_and_the_top_decile_lifts(nonlinear):
    _, _, model = nonlinear
    for report in model.metrics["candidates"].values():
        table = pd.DataFrame(report["lift_by_decile"])
        assert table["decile"].tolist() == list(range(1, 11))
        assert table["customers"].sum() == ROWS
        assert table["positives"].sum() == report["positives"]
        assert table.loc[0, "lift"] > 1.3
        assert table["cumulative_capture"].is_monotonic_increasing
        assert table["cumulative_capture"].iloc[-1] == pytest.approx(1.0)


def test_stored_roc_curve_is_thinned_but_keeps_the_area():
    rng = np.random.default_rng(3)
    label = rng.integers(0, 2, 5000)
    probability = np.clip(label * 0.3 + rng.random(5000) * 0.7, 0, 1)
    points = roc_points(label, probability, max_points=50)
    assert len(points) <= 50
    fpr = np.array([p["false_positive_rate"] for p in points])
    tpr = np.array([p["true_positive_rate"] for p in points])
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert json.dumps(points, allow_nan=False)  # finite: no infinite first threshold
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(label, probability), abs=0.01)
    assert evaluate(label, probability)["roc_curve"] == roc_points(label, probability)


def test_lift_table_by_hand():
    label = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0] * 2)
    probability = np.linspace(0.95, 0.0, 20)
    table = lift_by_decile(label, probability)
    assert table["customers"].tolist() == [2] * 10
    assert table["positives"].tolist() == [2, 1, 0, 0, 0, 2, 1, 0, 0, 0]
    assert table.loc[0, "lift"] == pytest.approx(1.0 / 0.3)
    assert table.loc[2, "cumulative_capture"] == pytest.approx(3 / 6)


def test_drivers_put_the_informative_features_on_top(nonlinear, linear):
    _, _, model = nonlinear
    boosting = model.metrics["candidates"]["hist_gradient_boosting"]["drivers"]
    assert {driver["feature"] for driver in boosting[:2]} == {"return_rate", "average_order_value"}
    assert "recency_days" in {driver["feature"] for driver in boosting[:3]}
    assert len(boosting) == 5
    logistic = {driver["feature"]: driver for driver in linear.metrics["candidates"]["logistic_regression"]["drivers"]}
    top_two = [driver["feature"] for driver in linear.metrics["candidates"]["logistic_regression"]["drivers"][:2]]
    assert set(top_two) == {"recency_days", "sessions_30d"}
    assert logistic["recency_days"]["direction"] == "increases" and logistic["recency_days"]["coefficient"] > 0
    assert logistic["sessions_30d"]["direction"] == "decreases"


def test_missing_values_in_features_are_handled():
    train, validation = customers(3000, 1), customers(3000, 2)
    rng = np.random.default_rng(0)
    for frame in (train, validation):
        frame.loc[rng.random(len(frame)) < 0.3, "recency_days"] = np.nan
    config = settings(drivers={"top_n": 50, "permutation_repeats": 1, "permutation_rows": 1000})
    model = train_propensity(train, validation, FEATURES, "label", config)
    assert min(report["roc_auc"] for report in model.metrics["candidates"].values()) > 0.7
    nothing_known = pd.DataFrame({"customer_id": ["nobody"], **{feature: [np.nan] for feature in FEATURES}})
    assert 0 <= model.score(nothing_known)["probability"].iloc[0] <= 1
    drivers = [driver["feature"] for driver in model.metrics["candidates"]["logistic_regression"]["drivers"]]
    assert "missingindicator_recency_days" in drivers  # missing is a value of its own, not just the median


# --------------------------------------------------------------------------- guard rails


def test_one_class_in_training_is_not_enough():
    train, validation = customers(2000, 1), customers(2000, 2)
    train["label"] = 0
    with pytest.raises(NotEnoughData, match="every label at the training cutoff is 0: one class only"):
        train_propensity(train, validation, FEATURES, "label", settings())


def test_one_class_in_validation_is_not_enough():
    train, validation = customers(2000, 1), customers(2000, 2)
    validation["label"] = True
    with pytest.raises(NotEnoughData, match="every label at the validation cutoff is 1"):
        train_propensity(train, validation, FEATURES, "label", settings())


def test_labels_must_be_binary():
    train, validation = customers(600, 1), customers(600, 2)
    train["label"] = train["label"] * 0.5
    with pytest.raises(ValueError, match="must be 0/1 or boolean in the training set"):
        train_propensity(train, validation, FEATURES, "label", settings())


def test_too_few_rows_is_not_enough():
    with pytest.raises(NotEnoughData, match=r"400 customers at the training cutoff, fewer than min_rows 500"):
        train_propensity(customers(400, 1), customers(2000, 2), FEATURES, "label", settings())


def test_too_few_positives_is_not_enough():
    train, validation = customers(2000, 1), customers(2000, 2)
    validation["label"] = 0
    validation.loc[:19, "label"] = 1  # under min_positives (30)
    with pytest.raises(NotEnoughData, match=r"20 positives and 1980 negatives at the validation cutoff"):
        train_propensity(train, validation, FEATURES, "label", settings())


def test_a_model_no_better_than_chance_is_not_published():
    train, validation = customers(3000, 1), customers(3000, 2)
    rng = np.random.default_rng(3)
    for frame in (train, validation):
        frame["label"] = (rng.random(len(frame)) < 0.4).astype(int)
    with pytest.raises(FitFailed, match="under min_roc_auc 0.55") as refused:
        train_propensity(train, validation, FEATURES, "label", settings())
    # what was measured stays with the refusal: the record shows the curves that fell short
    winner = refused.value.metrics["winner"]
    assert refused.value.metrics["candidates"][winner]["roc_auc"] < 0.55
    assert refused.value.metrics["candidates"][winner]["roc_curve"]


def test_settings_mistakes_fail_before_fitting():
    train, validation = customers(600, 1), customers(600, 2)
    with pytest.raises(ValueError, match="candidates must be some of"):
        train_propensity(train, validation, FEATURES, "label", settings(candidates={"random_forest": {}}))
    rising = [{"name": "low", "min_probability": 0.0}, {"name": "high", "min_probability": 0.5}]
    with pytest.raises(ValueError, match="strictly decreasing"):
        train_propensity(train, validation, FEATURES, "label", settings(risk_tiers=rising))
    with pytest.raises(ValueError, match="feature columns missing"):
        train_propensity(train, validation, [*FEATURES, "age"], "label", settings())


# --------------------------------------------------------------------------- subsampling, scoring, persistence


def test_training_rows_above_the_maximum_are_a_stratified_sample():
    train, validation = customers(6000, 1), customers(3000, 2)
    model = train_propensity(train, validation, FEATURES, "label", settings(max_training_rows=2000))
    rows = model.params["rows"]
    assert rows == {"training": 6000, "training_used": 2000, "validation": 3000, "final_fit_used": 2000}
    assert model.metrics["training"]["rows_used_for_fit"] == 2000
    assert model.metrics["candidates"]["logistic_regression"]["customers"] == 3000  # metrics use every row
    assert model.params["calibration"]["final_method"] == "sigmoid"  # 2,000 rows are too few for isotonic


def test_scores_have_tiers_from_the_thresholds_and_balanced_deciles(nonlinear):
    _, _, model = nonlinear
    scoring = customers(5000, 5, drift=0.4).drop(columns="label")
    scores = model.score(scoring)
    assert list(scores.columns) == SCORE_COLUMNS
    assert scores["customer_id"].tolist() == scoring["customer_id"].tolist()
    assert scores["probability"].between(0, 1).all()
    expected = np.where(scores["probability"] >= 0.7, "high", np.where(scores["probability"] >= 0.4, "medium", "low"))
    assert (scores["risk_tier"] == expected).all()
    assert set(scores["risk_tier"]) == {"high", "medium", "low"}
    assert scores["decile"].value_counts().sort_index().tolist() == [500] * 10
    assert scores.groupby("decile")["probability"].min().is_monotonic_decreasing
    assert (scores["model_version"] == model.version).all()


def test_tier_boundaries_belong_to_the_higher_tier():
    tiers = load_model_config("churn")["risk_tiers"]
    assert assign_tiers(np.array([0.7, 0.6999, 0.4, 0.0, 1.0]), tiers).tolist() == [
        "high", "medium", "medium", "low", "high"]


def test_deciles_of_uneven_populations_differ_by_at_most_one_customer():
    counts = np.bincount(assign_deciles(np.random.default_rng(0).random(1003)))[1:]
    assert counts.sum() == 1003 and counts.max() - counts.min() <= 1


def test_scoring_nobody_gives_an_empty_table(nonlinear):
    _, validation, model = nonlinear
    scores = model.score(validation.head(0))
    assert list(scores.columns) == SCORE_COLUMNS and scores.empty


def test_too_small_a_training_sample_is_not_enough():
    train, validation = customers(3000, 1), customers(3000, 2)
    with pytest.raises(NotEnoughData, match="at the training cutoff's sample of max_training_rows, fewer than"):
        train_propensity(train, validation, FEATURES, "label", settings(max_training_rows=300))


def test_scoring_needs_one_row_per_customer(nonlinear):
    _, validation, model = nonlinear
    twice = pd.concat([validation.head(3), validation.head(1)])
    with pytest.raises(ValueError, match="one row per customer"):
        model.score(twice)


def test_a_reloaded_model_scores_identically(nonlinear, tmp_path):
    _, validation, model = nonlinear
    path = model.save(tmp_path / "churn.joblib")
    reloaded = PropensityModel.load(path)
    pd.testing.assert_frame_equal(reloaded.score(validation), model.score(validation))
    assert reloaded.version == model.version and reloaded.metrics == model.metrics


def test_same_data_and_seed_give_the_same_model():
    train, validation = customers(3000, 1), customers(3000, 2)
    first = train_propensity(train, validation, FEATURES, "label", settings())
    second = train_propensity(train, validation, FEATURES, "label", settings())
    assert first.version == second.version
    np.testing.assert_array_equal(first.predict_proba(validation), second.predict_proba(validation))
    other_seed = train_propensity(train, validation, FEATURES, "label", settings(seed=8))
    assert other_seed.version != first.version


def test_purchase_propensity_settings_train_the_same_way():
    buyers = {"intercept": -2.0}  # about one customer in six buys in the next 30 days
    train, validation = customers(4000, 1, **buyers), customers(4000, 2, drift=0.3, **buyers)
    config = load_model_config("purchase_propensity")
    config.update(min_rows=500, drivers={"top_n": 3, "permutation_repeats": 1, "permutation_rows": 1000})
    model = train_propensity(train, validation, FEATURES, "label", config)
    assert model.name == "purchase_propensity" and model.version.startswith("purchase_propensity-")
    assert model.metrics["candidates"][model.winner]["base_rate"] < 0.3
    assert set(model.score(validation)["risk_tier"]) <= {"high", "medium", "low"}


def test_features_a_source_never_sends_are_dropped_with_the_reason():
    """A warehouse without web or e-mail data has all-missing or constant columns: they are left out
    (gradient boosting cannot bin an all-missing column) and the run says which and why."""
    train, validation = customers(3000, 1), customers(3000, 2, drift=0.3)
    for frame in (train, validation):
        frame["never_sent"] = np.nan
        frame["always_zero"] = 0.0
    model = train_propensity(train, validation, [*FEATURES, "never_sent", "always_zero"], "label", settings())
    assert model.params["features_dropped"] == {"never_sent": "always missing", "always_zero": "constant"}
    assert model.feature_columns == FEATURES
    assert len(model.score(validation)) == len(validation)
