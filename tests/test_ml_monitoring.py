"""Drift, score-shift and fairness checks on model inputs and outputs (ml/monitoring.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.monitoring import feature_drift, population_stability_index, score_histogram, selection_rate_parity

SETTINGS = {
    "psi": {"bins": 10, "warn_above": 0.25},
    "score_bins": 10,
    "fairness": {"top_share": 0.1, "min_group_size": 30, "min_rate_ratio": 0.8, "ignore_groups": ["unknown"]},
}


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=20_000)
    assert population_stability_index(reference, rng.normal(size=20_000)) < 0.01
    moderate = population_stability_index(reference, rng.normal(0.3, 1, size=20_000))
    large = population_stability_index(reference, rng.normal(1.0, 1, size=20_000))
    assert 0.05 < moderate < large and large > 0.25


def test_psi_counts_values_going_missing_as_drift():
    rng = np.random.default_rng(1)
    reference = rng.exponential(size=5_000)
    current = reference.copy()
    current[: len(current) // 2] = np.nan
    assert population_stability_index(reference, current) > 0.25


def test_psi_of_a_constant_reference_sees_new_values():
    assert population_stability_index(np.zeros(100), np.zeros(100)) == pytest.approx(0.0)
    assert population_stability_index(np.zeros(100), np.r_[np.zeros(50), np.ones(50)]) > 0.25


def test_feature_drift_flags_only_the_shifted_feature():
    rng = np.random.default_rng(2)
    reference = pd.DataFrame({"a": rng.normal(size=5_000), "b": rng.poisson(3, size=5_000).astype(float)})
    current = pd.DataFrame({"a": rng.normal(size=5_000), "b": rng.poisson(6, size=5_000).astype(float)})
    drift = feature_drift(reference, current, ["a", "b"], SETTINGS)
    assert drift["feature"].tolist() == ["b", "a"]
    assert drift["is_shifted"].tolist() == [True, False]


def test_score_histogram_shares_sum_to_one():
    shares = score_histogram(np.array([0.0, 0.05, 0.5, 0.99, 1.0]), 10)
    assert len(shares) == 10 and sum(shares) == pytest.approx(1.0)
    assert shares[0] == pytest.approx(0.4) and shares[-1] == pytest.approx(0.4)


def _audience(bias: float, n: int = 4_000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    gender = rng.choice(["female", "male", "unknown"], size=n, p=[0.45, 0.45, 0.1])
    score = rng.random(n) + np.where(gender == "male", bias, 0.0)
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "score": score, "gender": gender})


def test_selection_rate_parity_passes_an_unbiased_score_and_fails_a_biased_one():
    fair = selection_rate_parity(_audience(0.0), "score", "gender", SETTINGS)
    assert fair.passed and fair.rate_ratio > 0.8
    biased = selection_rate_parity(_audience(0.3), "score", "gender", SETTINGS)
    assert not biased.passed and biased.rate_ratio < 0.8
    rates = biased.rates.set_index("group")
    assert rates.loc["male", "selection_rate"] > rates.loc["female", "selection_rate"]
    # 'unknown' is reported but never compared
    assert not rates.loc["unknown", "is_compared"]
    assert biased.as_metadata()["rates"]["female"]["customers"] == int((_audience(0.3).gender == "female").sum())


def test_selection_rate_parity_ignores_small_groups():
    frame = _audience(0.0, n=1_000)
    frame.loc[:9, "gender"] = "other"  # 10 people: too few to judge a rate
    frame.loc[:9, "score"] = -1.0  # never selected
    check = selection_rate_parity(frame, "score", "gender", SETTINGS)
    assert check.passed
    assert not check.rates.set_index("group").loc["other", "is_compared"]


def test_a_validation_metric_falling_below_the_last_published_run_warns():
    from ml.runners import metric_regression

    settings = {"metric_regression": {"metric": "roc_auc", "max_drop": 0.05}}

    def metrics(auc: float) -> dict:
        return {"winner": "gbm", "candidates": {"gbm": {"roc_auc": auc}, "logit": {"roc_auc": 0.5}}}

    previous = {"model_version": "20260901.abc"}
    first = metric_regression(metrics(0.70), {}, None, settings)
    assert first.passed and "no earlier published run" in first.description
    assert metric_regression(metrics(0.66), metrics(0.70), previous, settings).passed  # within 0.05
    worse = metric_regression(metrics(0.62), metrics(0.70), previous, settings)
    assert not worse.passed and worse.metadata["drop"] == 0.08 and "20260901.abc" in worse.description
    assert metric_regression(metrics(0.80), metrics(0.70), previous, settings).passed
