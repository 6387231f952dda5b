"""Checks on model inputs and outputs: feature drift and score shift by population stability
index (PSI), and selection-rate parity of score-based audiences across groups.

PSI = sum over bins of (actual - expected) * ln(actual / expected), with bins cut at the
reference distribution's quantiles; below 0.1 is usually read as stable, above 0.25 as a shift
worth a look.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml.settings import load_model_config

EPSILON = 1e-4  # share given to an empty bin so the logarithm stays finite


def population_stability_index(
    expected: np.ndarray | pd.Series, actual: np.ndarray | pd.Series, bins: int = 10
) -> float:
    """PSI of ``actual`` against ``expected`` over quantile bins of ``expected``; missing values form
    one more bin, so a feature that starts arriving empty shows as drift."""
    return psi_against_profile(distribution_profile(expected, bins), actual)


def distribution_profile(values: np.ndarray | pd.Series, bins: int = 10) -> dict[str, list[float]]:
    """The quantile bin edges of ``values`` and the share in each bin (the share missing last): all a later
    PSI needs of a reference distribution, small enough to keep in a model run's record."""
    values = np.asarray(values, dtype=float)
    present = values[~np.isnan(values)]
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1))) if len(present) else np.array([])
    return {"edges": edges.tolist(), "shares": _shares(values, edges).tolist()}


def psi_against_profile(profile: dict[str, list[float]], actual: np.ndarray | pd.Series) -> float:
    """PSI of ``actual`` against a reference kept as a ``distribution_profile``."""
    edges = np.asarray(profile["edges"], dtype=float)
    return psi_from_shares(np.asarray(profile["shares"]), _shares(np.asarray(actual, dtype=float), edges))


def psi_from_shares(expected: np.ndarray, actual: np.ndarray) -> float:
    expected = np.clip(np.asarray(expected, dtype=float), EPSILON, None)
    actual = np.clip(np.asarray(actual, dtype=float), EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return bin_counts(values, edges) / max(len(values), 1)


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin between ``edges`` (the outer bins open-ended), then the count missing. A
    reference with fewer than two distinct values has two bins: equal to it, and anything else."""
    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    present = values[~missing]
    if len(edges) >= 2:
        counts = np.bincount(np.searchsorted(edges[1:-1], present, side="right"), minlength=len(edges) - 1)
    else:
        same = np.isin(present, edges)
        counts = np.array([same.sum(), (~same).sum()])
    return np.append(counts, missing.sum())


def feature_profiles(reference: pd.DataFrame, columns: list[str], settings: dict | None = None) -> dict[str, dict]:
    """The ``distribution_profile`` of every feature of the reference (training) data."""
    bins = (settings or load_model_config("monitoring"))["psi"]["bins"]
    return {c: distribution_profile(reference[c], bins) for c in columns}


def feature_drift(
    reference: pd.DataFrame | dict[str, dict], current: pd.DataFrame, columns: list[str], settings: dict | None = None
) -> pd.DataFrame:
    """PSI of every feature, current against reference (the training data, or its ``feature_profiles`` as a
    training run recorded them), worst first. A feature the reference lacks is left out."""
    settings = settings or load_model_config("monitoring")
    profiles = reference if isinstance(reference, dict) else feature_profiles(reference, columns, settings)
    rows = [{"feature": c, "psi": psi_against_profile(profiles[c], current[c])} for c in columns if c in profiles]
    return _ranked_drift(rows, settings)


def _ranked_drift(rows: list[dict[str, Any]], settings: dict) -> pd.DataFrame:
    drift = pd.DataFrame(rows, columns=["feature", "psi"]).sort_values("psi", ascending=False, ignore_index=True)
    drift["is_shifted"] = drift["psi"] > settings["psi"]["warn_above"]
    return drift


def score_histogram(scores: np.ndarray | pd.Series, bins: int) -> list[float]:
    """Shares of scores in equal-width bins of [0, 1]: small enough to keep in a run's metrics."""
    return (score_counts(scores, bins) / max(len(scores), 1)).tolist()


def score_counts(scores: np.ndarray | pd.Series, bins: int) -> np.ndarray:
    scores = np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
    return np.histogram(scores, bins=bins, range=(0.0, 1.0))[0]


class PopulationCounts:
    """The bin counts behind the drift and score-shift checks, added up batch by batch: a population scored
    in batches gets exactly the PSIs and histogram of the whole population at once (counts add up; shares
    are taken once, at the end)."""

    def __init__(self, reference_profiles: dict[str, dict], columns: list[str], score_bins: int):
        self.edges = {c: np.asarray(reference_profiles[c]["edges"], dtype=float)
                      for c in columns if c in reference_profiles}
        self.feature_counts = {c: bin_counts(np.empty(0), edges) for c, edges in self.edges.items()}
        self.score_bins = score_bins
        self.scores = np.zeros(score_bins, dtype=np.int64)
        self.rows = 0
        self.profiles = reference_profiles

    def add(self, features: pd.DataFrame, scores: np.ndarray) -> None:
        for column, edges in self.edges.items():
            self.feature_counts[column] = self.feature_counts[column] + bin_counts(features[column], edges)
        self.scores += score_counts(scores, self.score_bins)
        self.rows += len(features)

    def feature_drift(self, settings: dict) -> pd.DataFrame:
        """As ``feature_drift`` of the whole population against the reference profiles."""
        n = max(self.rows, 1)
        rows = [{"feature": c, "psi": psi_from_shares(np.asarray(self.profiles[c]["shares"]), counts / n)}
                for c, counts in self.feature_counts.items()]
        return _ranked_drift(rows, settings)

    def score_histogram(self) -> list[float]:
        return (self.scores / max(self.rows, 1)).tolist()


@dataclass(frozen=True)
class ParityCheck:
    """Selection rates of the top-share audience per group of one attribute."""

    attribute: str
    rates: pd.DataFrame  # group, customers, selected, selection_rate, is_compared
    rate_ratio: float | None  # lowest / highest rate among compared groups; None when under two groups
    passed: bool

    def as_metadata(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "rate_ratio": None if self.rate_ratio is None else round(self.rate_ratio, 4),
            "rates": {
                str(r.group): {"customers": int(r.customers), "selection_rate": round(float(r.selection_rate), 4)}
                for r in self.rates.itertuples()
            },
        }


def selection_rate_parity(
    scores: pd.DataFrame, score_column: str, attribute: str, settings: dict | None = None
) -> ParityCheck:
    """Who lands in the top ``top_share`` by score, per group of ``attribute``: the check fails when
    the lowest group's selection rate is under ``min_rate_ratio`` of the highest's (four-fifths rule)."""
    settings = (settings or load_model_config("monitoring"))["fairness"]
    n_selected = int(np.ceil(len(scores) * settings["top_share"]))
    # rank with a stable tie-break so the audience is the same set every time
    order = scores.sort_values([score_column, "customer_id"], ascending=[False, True], kind="mergesort")
    selected = pd.Series(False, index=scores.index)
    selected.loc[order.index[:n_selected]] = True
    groups = scores[attribute].fillna("unknown").astype(str)
    rates = (
        pd.DataFrame({"group": groups, "selected": selected})
        .groupby("group", sort=True)
        .agg(customers=("selected", "size"), selected=("selected", "sum"))
        .reset_index()
    )
    return parity_of_rates(attribute, rates, settings)


def parity_of_rates(attribute: str, rates: pd.DataFrame, settings: dict[str, Any]) -> ParityCheck:
    """The parity verdict from per-group counts (``group``, ``customers``, ``selected``, sorted by group):
    what ``selection_rate_parity`` computes from scores, or the warehouse from a scored table
    (``settings``: the ``fairness`` block)."""
    rates = rates.copy()
    rates["selection_rate"] = rates["selected"] / rates["customers"]
    rates["is_compared"] = (rates["customers"] >= settings["min_group_size"]) & ~rates["group"].isin(
        settings["ignore_groups"]
    )
    compared = rates.loc[rates["is_compared"], "selection_rate"]
    if len(compared) < 2 or compared.max() == 0:
        return ParityCheck(attribute, rates, None, True)
    ratio = float(compared.min() / compared.max())
    return ParityCheck(attribute, rates, ratio, ratio >= settings["min_rate_ratio"])
