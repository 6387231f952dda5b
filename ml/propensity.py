"""Binary propensity models (churn, purchase in the next 30 days): calibrated candidates compared out of time.

One trainer serves every "will this customer do X in the next H days" label. Logistic regression and
gradient boosting are fitted and calibrated on the training cutoff, compared on the later validation
cutoff, and the winner is refit on the validation cutoff (the freshest labels) to score customers at the
as-of date. docs/churn.md has the labels, the validation scheme, the selection rule and measured figures.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ml.errors import FitFailed, NotEnoughData
from ml.registry import JoblibArtifact, jsonable

ID_COLUMN = "customer_id"
SCORE_COLUMNS = [ID_COLUMN, "probability", "risk_tier", "decile", "model_version"]

# Selection metrics on the validation cutoff: name -> (function of labels and probabilities, higher is better).
METRICS = {
    "roc_auc": (roc_auc_score, True),
    "pr_auc": (average_precision_score, True),
    "brier": (brier_score_loss, False),
    "log_loss": (log_loss, False),
}


def _logistic_regression(hyperparameters: Mapping[str, Any], seed: int) -> BaseEstimator:
    """Median imputation plus missing-value indicators (a never-buyer's missing recency is information), then
    standardised features, so the coefficients compare effects per standard deviation."""
    return make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True),
        StandardScaler(),
        LogisticRegression(random_state=seed, **hyperparameters),
    )


def _hist_gradient_boosting(hyperparameters: Mapping[str, Any], seed: int) -> BaseEstimator:
    """Histogram gradient boosting: non-linear effects and interactions, missing values handled natively."""
    return HistGradientBoostingClassifier(random_state=seed, **hyperparameters)


CANDIDATES = {
    "logistic_regression": _logistic_regression,
    "hist_gradient_boosting": _hist_gradient_boosting,
}


# --------------------------------------------------------------------------- evaluation


def assign_deciles(probability: np.ndarray) -> np.ndarray:
    """Decile 1 = the 10 % highest probabilities; equal-sized deciles, ties broken by row order (stable)."""
    probability = np.asarray(probability, dtype=float)
    n = len(probability)
    ranks = np.empty(n, dtype=np.int64)
    ranks[np.argsort(-probability, kind="stable")] = np.arange(n)
    return ranks * 10 // max(n, 1) + 1


def assign_tiers(probability: np.ndarray, tiers: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Each probability gets the first tier (highest threshold first) whose ``min_probability`` it reaches."""
    probability = np.asarray(probability, dtype=float)
    conditions = [probability >= float(tier["min_probability"]) for tier in tiers]
    return np.select(conditions, [str(tier["name"]) for tier in tiers], default=str(tiers[-1]["name"]))


def lift_by_decile(label: np.ndarray, probability: np.ndarray) -> pd.DataFrame:
    """Per decile of the score: customers, positives, observed rate, lift over the base rate, share of all
    positives captured by this and the higher deciles, and the mean predicted probability."""
    label = np.asarray(label, dtype=float)
    frame = pd.DataFrame({"decile": assign_deciles(probability), "label": label, "probability": probability})
    table = frame.groupby("decile").agg(
        customers=("label", "size"), positives=("label", "sum"), mean_probability=("probability", "mean")
    )
    table["rate"] = table["positives"] / table["customers"]
    table["lift"] = table["rate"] / label.mean()
    table["cumulative_capture"] = table["positives"].cumsum() / label.sum()
    table["positives"] = table["positives"].astype(int)
    columns = ["customers", "positives", "rate", "lift", "cumulative_capture", "mean_probability"]
    return table.reset_index()[["decile", *columns]]


def reliability_curve(label: np.ndarray, probability: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Equal-count bins of the predicted probability (lowest first): mean predicted against observed rate."""
    probability = np.asarray(probability, dtype=float)
    n = len(probability)
    ranks = np.empty(n, dtype=np.int64)
    ranks[np.argsort(probability, kind="stable")] = np.arange(n)
    frame = pd.DataFrame({"bin": ranks * bins // n + 1, "label": label, "probability": probability})
    table = frame.groupby("bin").agg(
        customers=("label", "size"),
        mean_predicted=("probability", "mean"),
        observed_rate=("label", "mean"),
        min_predicted=("probability", "min"),
        max_predicted=("probability", "max"),
    )
    return table.reset_index()


def roc_points(label: np.ndarray, probability: np.ndarray, max_points: int = 200) -> list[dict[str, float]]:
    """The ROC curve thinned to at most ``max_points`` points (kept evenly along the curve, ends included),
    small enough to store with the run's metrics and draw in the report."""
    false_positive_rate, true_positive_rate, thresholds = roc_curve(label, probability, drop_intermediate=True)
    keep = np.unique(np.linspace(0, len(thresholds) - 1, min(max_points, len(thresholds))).round().astype(int))
    # sklearn's first threshold is +inf (nothing predicted positive): JSON has no infinity
    thresholds = np.where(np.isfinite(thresholds), thresholds, 1.0)
    return [
        {
            "false_positive_rate": float(false_positive_rate[i]),
            "true_positive_rate": float(true_positive_rate[i]),
            "threshold": float(thresholds[i]),
        }
        for i in keep
    ]


def evaluate(label: np.ndarray, probability: np.ndarray, reliability_bins: int = 10) -> dict[str, Any]:
    """Discrimination, calibration and targeting figures of probabilities against observed labels."""
    label = np.asarray(label, dtype=int)
    probability = np.asarray(probability, dtype=float)
    reliability = reliability_curve(label, probability, reliability_bins)
    gaps = (reliability["mean_predicted"] - reliability["observed_rate"]).abs()
    return {
        "customers": int(len(label)),
        "positives": int(label.sum()),
        "base_rate": float(label.mean()),
        "mean_probability": float(probability.mean()),
        "roc_auc": float(roc_auc_score(label, probability)),
        "pr_auc": float(average_precision_score(label, probability)),
        "brier": float(brier_score_loss(label, probability)),
        "log_loss": float(log_loss(label, probability, labels=[0, 1])),
        # mean absolute gap between predicted and observed rate over the reliability bins, weighted by customers
        "expected_calibration_error": float((gaps * reliability["customers"]).sum() / len(label)),
        "lift_by_decile": _records(lift_by_decile(label, probability)),
        "reliability": _records(reliability),
        "roc_curve": roc_points(label, probability),
    }


# --------------------------------------------------------------------------- the model


@dataclass
class PropensityModel(JoblibArtifact):
    """The winning candidate refit on the latest labelled cutoff, with the run's metrics and parameters."""

    name: str
    estimator: CalibratedClassifierCV
    feature_columns: list[str]
    risk_tiers: list[dict[str, Any]]
    metrics: dict[str, Any]
    params: dict[str, Any]
    version: str

    @property
    def winner(self) -> str:
        return self.metrics["winner"]

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the label (1) for each row of ``features``."""
        matrix = _feature_matrix(features, self.feature_columns)
        with threadpool_limits(limits=self.params["threads"]):
            return self.estimator.predict_proba(matrix)[:, 1]

    def score(self, features: pd.DataFrame, id_column: str = ID_COLUMN) -> pd.DataFrame:
        """One row per customer: ``customer_id``, ``probability``, ``risk_tier``, ``decile`` (1 = highest 10 %
        of this population), ``model_version``; in the order of ``features``."""
        if id_column not in features.columns:
            raise ValueError(f"{self.name}: scoring features have no {id_column!r} column")
        if features[id_column].duplicated().any():
            raise ValueError(f"{self.name}: scoring features repeat {id_column} values; expected one row per customer")
        probability = self.predict_proba(features) if len(features) else np.empty(0)
        return pd.DataFrame(
            {
                ID_COLUMN: features[id_column].to_numpy(),
                "probability": probability,
                "risk_tier": assign_tiers(probability, self.risk_tiers),
                "decile": assign_deciles(probability),
                "model_version": self.version,
            }
        )


def train_propensity(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    feature_columns: Sequence[str],
    label_column: str,
    settings: Mapping[str, Any],
    cutoffs: Mapping[str, Any] | None = None,
) -> PropensityModel:
    """Fit every candidate on ``train`` (features at the training cutoff, labels from the window after it),
    compare them on ``validation`` (a later cutoff), refit the winner on ``validation`` and return it.

    ``settings`` is a model's YAML (``load_model_config("churn")``); ``cutoffs`` (dates, horizon) is recorded
    in ``params``. Raises ``NotEnoughData`` when either cutoff cannot support a model and ``FitFailed`` when
    the best candidate does not rank customers better than the configured minimum.
    """
    _check_settings(settings)
    with threadpool_limits(limits=int(settings["threads"])):
        return _train(train, validation, list(feature_columns), label_column, settings, cutoffs)


def _train(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    features: list[str],
    label_column: str,
    settings: Mapping[str, Any],
    cutoffs: Mapping[str, Any] | None,
) -> PropensityModel:
    started = time.perf_counter()
    name = str(settings["name"])
    seed = int(settings["seed"])

    y_train_all = _labels(train, label_column, name, "training")
    y_valid = _labels(validation, label_column, name, "validation")
    _check_enough(y_train_all, settings, name, "the training cutoff")
    _check_enough(y_valid, settings, name, "the validation cutoff")
    requested = features
    features, dropped = _informative(train, features)
    if not features:
        raise NotEnoughData(f"{name}: every feature is empty or constant at the training cutoff: {dropped}")
    X_valid = _feature_matrix(validation, features)
    train_rows = _subsample(y_train_all, int(settings["max_training_rows"]), seed)
    X_train = _feature_matrix(train.iloc[train_rows], features)
    y_train = y_train_all[train_rows]
    _check_enough(y_train, settings, name, "the training cutoff's sample of max_training_rows")

    reliability_bins = int(settings["reliability_bins"])
    drivers_settings = settings["drivers"]
    candidates: dict[str, dict[str, Any]] = {}
    candidate_params: dict[str, dict[str, Any]] = {}
    for candidate, hyperparameters in settings["candidates"].items():
        candidate_started = time.perf_counter()
        model, fit_warnings, method = _fit_calibrated(candidate, hyperparameters, X_train, y_train, settings)
        fitted = time.perf_counter()
        probability = model.predict_proba(X_valid)[:, 1]
        report = evaluate(y_valid, probability, reliability_bins)
        report["calibration_method"] = method
        report["drivers"] = _drivers(candidate, model, X_valid, y_valid, drivers_settings, seed)
        report["fit_warnings"] = fit_warnings
        report["seconds"] = {
            "fit": round(fitted - candidate_started, 2),
            "evaluate": round(time.perf_counter() - fitted, 2),
        }
        candidates[candidate] = report
        candidate_params[candidate] = _hyperparameters(model.estimator)

    selection = settings["selection"]
    winner = _select(candidates, selection["metric"], float(selection["tie_tolerance"]))
    if candidates[winner]["roc_auc"] < float(selection["min_roc_auc"]):
        raise FitFailed(
            f"{name}: the best candidate ({winner}) reaches ROC AUC {candidates[winner]['roc_auc']:.3f} on the "
            f"validation cutoff, under min_roc_auc {selection['min_roc_auc']} (ml/config/{name}.yml): the features "
            "do not predict the label well enough to publish scores",
            metrics={
                "label": label_column,
                "winner": winner,
                "training": _label_counts(y_train_all, len(train_rows)),
                "candidates": candidates,
            },
        )

    # Production scores come from the freshest labels: the winner's pipeline refit on the validation cutoff.
    # Its reported metrics are those of the same pipeline fitted one horizon earlier and judged out of time.
    final_started = time.perf_counter()
    final_rows = _subsample(y_valid, int(settings["max_training_rows"]), seed)
    _check_enough(y_valid[final_rows], settings, name, "the validation cutoff's sample of max_training_rows")
    final, final_warnings, final_method = _fit_calibrated(
        winner, settings["candidates"][winner], X_valid.iloc[final_rows], y_valid[final_rows], settings
    )
    final_seconds = time.perf_counter() - final_started

    metrics = {
        "label": label_column,
        "winner": winner,
        "selection": {
            "metric": selection["metric"],
            "tie_tolerance": float(selection["tie_tolerance"]),
            "rule": "best on the validation cutoff; within tie_tolerance of the best, the first-listed candidate",
        },
        "training": _label_counts(y_train_all, len(train_rows)),
        "validation": _label_counts(y_valid, len(final_rows)),
        "candidates": candidates,
        "final_fit_warnings": final_warnings,
        "seconds": {"final_fit": round(final_seconds, 2), "total": round(time.perf_counter() - started, 2)},
    }
    calibration = settings["calibration"]
    params = {
        "model": name,
        "label": label_column,
        "features": features,
        "features_requested": requested,
        "features_dropped": dropped,
        "seed": seed,
        "cutoffs": jsonable(dict(cutoffs or {})),
        "candidates": candidate_params,
        "calibration": {
            "method": calibration["method"],
            "final_method": final_method,
            "cv": int(calibration["cv"]),
            "ensemble": bool(calibration["ensemble"]),
        },
        "max_training_rows": int(settings["max_training_rows"]),
        "threads": int(settings["threads"]),
        "rows": {
            "training": int(len(y_train_all)),
            "training_used": int(len(train_rows)),
            "validation": int(len(y_valid)),
            "final_fit_used": int(len(final_rows)),
        },
        "winner": winner,
        "final_fit": "winner refit on the validation cutoff",
        "risk_tiers": [dict(tier) for tier in settings["risk_tiers"]],
        "scikit_learn": sklearn.__version__,
    }
    return PropensityModel(
        name=name,
        estimator=final,
        feature_columns=features,
        risk_tiers=params["risk_tiers"],
        metrics=jsonable(metrics),
        params=jsonable(params),
        version=_version(name, winner, params, candidates),
    )


# --------------------------------------------------------------------------- steps


def _check_settings(settings: Mapping[str, Any]) -> None:
    """Settings mistakes fail loudly and name the key, before any fitting."""
    name = settings["name"]
    unknown = set(settings["candidates"]) - set(CANDIDATES)
    if unknown or not settings["candidates"]:
        listed = sorted(settings["candidates"])
        raise ValueError(f"{name}: candidates must be some of {sorted(CANDIDATES)}, got {listed}")
    if settings["selection"]["metric"] not in METRICS:
        raise ValueError(f"{name}: selection.metric must be one of {sorted(METRICS)}")
    thresholds = [float(tier["min_probability"]) for tier in settings["risk_tiers"]]
    if not thresholds or thresholds != sorted(thresholds, reverse=True) or len(set(thresholds)) != len(thresholds):
        raise ValueError(f"{name}: risk_tiers must list strictly decreasing min_probability values, got {thresholds}")
    if thresholds[-1] != 0.0:
        raise ValueError(f"{name}: the last risk tier must have min_probability 0 so every customer gets a tier")


def _labels(frame: pd.DataFrame, label_column: str, name: str, which: str) -> np.ndarray:
    if label_column not in frame.columns:
        raise ValueError(f"{name}: the {which} set has no label column {label_column!r}")
    label = frame[label_column]
    if label.isna().any():
        raise ValueError(f"{name}: {label.isna().sum()} missing {label_column} labels in the {which} set")
    if not np.isin(label.to_numpy(), [0, 1]).all():
        raise ValueError(f"{name}: {label_column} must be 0/1 or boolean in the {which} set")
    return label.astype(int).to_numpy()


def _check_enough(label: np.ndarray, settings: Mapping[str, Any], name: str, where_from: str) -> None:
    """NotEnoughData, with the numbers and the setting to change, when a cutoff cannot support a model."""
    where = f"ml/config/{name}.yml"
    rows, positives = len(label), int(label.sum())
    negatives = rows - positives
    if rows < int(settings["min_rows"]):
        raise NotEnoughData(
            f"{name}: {rows} customers at {where_from}, fewer than min_rows {settings['min_rows']} ({where}); "
            "wait for more history or lower min_rows"
        )
    if positives == 0 or negatives == 0:
        only = "1" if negatives == 0 else "0"
        raise NotEnoughData(
            f"{name}: every label at {where_from} is {only}: one class only, nothing to learn or validate; "
            "check the horizon and the as-of date against the order history"
        )
    if positives < int(settings["min_positives"]) or negatives < int(settings["min_negatives"]):
        raise NotEnoughData(
            f"{name}: {positives} positives and {negatives} negatives at {where_from}, need at least "
            f"min_positives {settings['min_positives']} and min_negatives {settings['min_negatives']} ({where})"
        )


def _informative(frame: pd.DataFrame, features: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Features that vary at the training cutoff; the others (a source that sends nothing, say) are dropped
    with the reason, since they cannot inform a model and break gradient boosting's binning."""
    kept, dropped = [], {}
    for column in features:
        if column not in frame.columns:
            raise ValueError(f"feature columns missing from the data: {[column]}")
        values = frame[column].astype("float64")
        if values.isna().all():
            dropped[column] = "always missing"
        elif values.nunique(dropna=False) < 2:
            dropped[column] = "constant"
        else:
            kept.append(column)
    return kept, dropped


def _feature_matrix(frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """The feature columns as float64 (nullable integers and decimals from the warehouse become NaN-aware floats)."""
    missing = [column for column in features if column not in frame.columns]
    if missing:
        raise ValueError(f"feature columns missing from the data: {missing}")
    matrix = frame[list(features)].astype("float64")
    infinite = [column for column in features if np.isinf(matrix[column].to_numpy()).any()]
    if infinite:
        raise ValueError(f"infinite values in feature columns {infinite}: divide by zero upstream? use NULL instead")
    return matrix


def _subsample(label: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """Row positions to use: all rows, or a label-stratified seeded sample of ``max_rows`` (sorted)."""
    if len(label) <= max_rows:
        return np.arange(len(label))
    rows, _ = train_test_split(np.arange(len(label)), train_size=max_rows, stratify=label, random_state=seed)
    return np.sort(rows)


def _calibration_method(settings: Mapping[str, Any], rows: int) -> str:
    calibration = settings["calibration"]
    method = calibration["method"]
    if method != "auto":
        return method
    calibration_rows = rows // int(calibration["cv"]) if calibration["ensemble"] else rows
    return "isotonic" if calibration_rows >= int(calibration["isotonic_min_rows"]) else "sigmoid"


def _fit_calibrated(
    candidate: str, hyperparameters: Mapping[str, Any], X: pd.DataFrame, y: np.ndarray, settings: Mapping[str, Any]
) -> tuple[CalibratedClassifierCV, list[str], str]:
    """The candidate fitted and calibrated on shuffled stratified folds; warnings are kept for the run record."""
    seed = int(settings["seed"])
    method = _calibration_method(settings, len(y))
    folds = StratifiedKFold(n_splits=int(settings["calibration"]["cv"]), shuffle=True, random_state=seed)
    model = CalibratedClassifierCV(
        CANDIDATES[candidate](hyperparameters or {}, seed),
        method=method,
        cv=folds,
        ensemble=bool(settings["calibration"]["ensemble"]),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    return model, sorted({f"{w.category.__name__}: {w.message}" for w in caught}), method


def _drivers(
    candidate: str,
    model: CalibratedClassifierCV,
    X_valid: pd.DataFrame,
    y_valid: np.ndarray,
    settings: Mapping[str, Any],
    seed: int,
) -> list[dict[str, Any]]:
    """The features that drive a candidate, strongest first (``top_n``)."""
    top_n = int(settings["top_n"])
    if candidate == "logistic_regression":
        return _coefficient_drivers(model)[:top_n]
    return _permutation_drivers(model, X_valid, y_valid, settings, seed)[:top_n]


def _coefficient_drivers(model: CalibratedClassifierCV) -> list[dict[str, Any]]:
    """Standardised coefficients (log-odds per standard deviation), averaged over the calibration folds;
    a fold without a feature's missing indicator counts as a zero coefficient for it."""
    per_fold = []
    for calibrated in model.calibrated_classifiers_:
        pipeline = calibrated.estimator
        names = pipeline[:-1].get_feature_names_out()
        per_fold.append(pd.Series(pipeline[-1].coef_[0], index=names))
    coefficients = pd.concat(per_fold, axis=1).fillna(0.0).mean(axis=1)
    order = coefficients.abs().sort_values(ascending=False, kind="stable").index
    return [
        {
            "feature": str(feature),
            "importance": abs(float(coefficients[feature])),
            "coefficient": float(coefficients[feature]),
            "direction": "increases" if coefficients[feature] > 0 else "decreases",
        }
        for feature in order
    ]


def _permutation_drivers(
    model: CalibratedClassifierCV,
    X_valid: pd.DataFrame,
    y_valid: np.ndarray,
    settings: Mapping[str, Any],
    seed: int,
) -> list[dict[str, Any]]:
    """Drop in validation ROC AUC when a feature is shuffled, on a stratified sample; the direction is the sign
    of the feature's rank correlation with the score (a summary: a non-monotone effect can hide behind it)."""
    rows = _subsample(y_valid, int(settings["permutation_rows"]), seed)
    X, y = X_valid.iloc[rows], y_valid[rows]
    result = permutation_importance(
        model, X, y, scoring="roc_auc", n_repeats=int(settings["permutation_repeats"]), random_state=seed
    )
    score = pd.Series(model.predict_proba(X)[:, 1], index=X.index)
    drivers = []
    for position, feature in enumerate(X.columns):
        correlation = X[feature].corr(score, method="spearman")
        drivers.append(
            {
                "feature": feature,
                "importance": float(result.importances_mean[position]),
                "importance_std": float(result.importances_std[position]),
                "rank_correlation": None if math.isnan(correlation) else float(correlation),
                "direction": None if math.isnan(correlation) or correlation == 0
                else ("increases" if correlation > 0 else "decreases"),
            }
        )
    return sorted(drivers, key=lambda driver: -driver["importance"])


def _select(candidates: Mapping[str, Mapping[str, Any]], metric: str, tolerance: float) -> str:
    """The best candidate on ``metric``; any candidate within ``tolerance`` of the best ties, and the first
    listed of the tied ones wins (candidates are listed simplest first)."""
    higher_is_better = METRICS[metric][1]
    values = {name: report[metric] for name, report in candidates.items()}
    best = max(values.values()) if higher_is_better else min(values.values())
    return next(name for name, value in values.items() if abs(value - best) <= tolerance)


def _label_counts(label: np.ndarray, used: int) -> dict[str, Any]:
    return {"customers": int(len(label)), "positives": int(label.sum()), "base_rate": float(label.mean()),
            "rows_used_for_fit": int(used)}


def _hyperparameters(estimator: BaseEstimator) -> dict[str, Any]:
    """Every scalar hyper-parameter of a candidate (nested steps included), for the run record."""
    return {
        key: value
        for key, value in estimator.get_params(deep=True).items()
        if value is None or isinstance(value, str | bool | int | float)
    }


def _version(name: str, winner: str, params: Mapping[str, Any], candidates: Mapping[str, Any]) -> str:
    """Same data, settings and seed give the same version; anything else changes it."""
    fingerprint = {
        "params": jsonable(params),
        "metrics": {candidate: round(report["roc_auc"], 6) for candidate, report in candidates.items()},
    }
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{name}-{winner}-{digest}"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return jsonable(frame.to_dict(orient="records"))
