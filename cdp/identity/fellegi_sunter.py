"""Fellegi-Sunter record-linkage model with m/u probabilities estimated by EM.

Candidate pairs are compared in SQL; each comparison yields a level per field
(0 = disagree, 1..L = increasingly strong agreement, -1 = a value is missing).
Pairs with the same levels form a pattern, so EM runs on pattern counts
(hundreds of rows) however many pairs there are. A missing level carries no
evidence: it contributes a factor of 1 to both likelihoods.

As in Splink, u can be estimated separately from random (mostly non-matching)
pairs and held fixed while EM estimates the prior and m.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

MISSING = -1

# Comparison levels and ``count`` by column: a pandas DataFrame or a mapping of arrays
# (DuckDB's fetchnumpy; the dbt models do without pandas, whose import costs them time).
Patterns = Mapping[str, ArrayLike]


@dataclass
class FellegiSunterModel:
    comparisons: list[str]
    levels: dict[str, int]  # number of levels per comparison (0..levels-1)
    prior: float = 0.0  # P(match) for a candidate pair
    m: dict[str, np.ndarray] = field(default_factory=dict)  # P(level | match)
    u: dict[str, np.ndarray] = field(default_factory=dict)  # P(level | non-match)
    iterations: int = 0
    converged: bool = False

    def match_weights(self) -> dict[str, list[float]]:
        """log2(m/u) per comparison level: the evidence each level adds."""
        return {c: np.log2(self.m[c] / self.u[c]).round(4).tolist() for c in self.comparisons}

    def match_probability(self, patterns: Patterns) -> np.ndarray:
        """P(match | comparison levels) for each row of ``patterns``."""
        return _posterior(patterns, self.comparisons, self.prior, self.m, self.u)

    def to_dict(self) -> dict:
        return {
            "prior": self.prior,
            "m": {c: self.m[c].tolist() for c in self.comparisons},
            "u": {c: self.u[c].tolist() for c in self.comparisons},
            "match_weights": self.match_weights(),
            "iterations": self.iterations,
            "converged": self.converged,
        }


def _column(patterns: Patterns, name: str) -> np.ndarray:
    return np.asarray(patterns[name])


def _likelihood(patterns: Patterns, comparisons: list[str], probs: dict[str, np.ndarray]) -> np.ndarray:
    result = 1.0
    for c in comparisons:
        level = _column(patterns, c)
        result = result * np.where(level != MISSING, probs[c][np.maximum(level, 0)], 1.0)
    return result


def _posterior(patterns, comparisons, prior, m, u) -> np.ndarray:
    match = prior * _likelihood(patterns, comparisons, m)
    non_match = (1 - prior) * _likelihood(patterns, comparisons, u)
    return match / (match + non_match)


def _level_shares(patterns: Patterns, c: str, n_levels: int, weight: np.ndarray, floor: float) -> np.ndarray:
    level = _column(patterns, c)
    present = level != MISSING
    totals = np.bincount(level[present], weights=weight[present], minlength=n_levels)[:n_levels]
    totals = np.maximum(totals, floor)  # a level never seen keeps a tiny probability, not zero
    return totals / totals.sum()


# u of a level that no random pair shows: a share of the sampled pairs, so that its
# weight does not move with the sample's size (1e-6 pairs of a million)
UNSEEN_U = 1e-12


def estimate_u(random_patterns: Patterns, comparisons: list[str], levels: dict[str, int]) -> dict[str, np.ndarray]:
    """u from pattern counts of random record pairs (almost all non-matches)."""
    weight = _column(random_patterns, "count").astype(float)
    floor = UNSEEN_U * weight.sum()
    return {c: _level_shares(random_patterns, c, levels[c], weight, floor) for c in comparisons}


def fit_em(
    patterns: Patterns,
    comparisons: list[str],
    levels: dict[str, int],
    u: dict[str, np.ndarray] | None = None,
    prior: float = 0.01,
    max_iterations: int = 200,
    tolerance: float = 1e-7,
) -> FellegiSunterModel:
    """Estimate the prior and m (and u, unless given) from candidate-pair pattern counts.

    ``patterns`` has one column per comparison (its level) and ``count``.
    """
    counts = _column(patterns, "count").astype(float)
    # Start: matches mostly agree at the strongest level, non-matches mostly disagree.
    m = {c: _geometric(levels[c], strong_first=True) for c in comparisons}
    fixed_u = u is not None
    u = (
        {c: np.asarray(v, dtype=float) for c, v in u.items()}
        if fixed_u
        else {c: _geometric(levels[c], strong_first=False) for c in comparisons}
    )
    model = FellegiSunterModel(comparisons, levels, prior, m, u)
    for iteration in range(1, max_iterations + 1):
        p = _posterior(patterns, comparisons, model.prior, model.m, model.u)
        new_prior = float((counts * p).sum() / counts.sum())
        new_m = {c: _level_shares(patterns, c, levels[c], counts * p, 1e-9) for c in comparisons}
        new_u = (
            model.u
            if fixed_u
            else {c: _level_shares(patterns, c, levels[c], counts * (1 - p), 1e-9) for c in comparisons}
        )
        change = max(
            [abs(new_prior - model.prior)]
            + [np.abs(new_m[c] - model.m[c]).max() for c in comparisons]
            + [np.abs(new_u[c] - model.u[c]).max() for c in comparisons]
        )
        model.prior, model.m, model.u, model.iterations = new_prior, new_m, new_u, iteration
        if change < tolerance:
            model.converged = True
            break
    return model


def _geometric(n_levels: int, strong_first: bool) -> np.ndarray:
    shares = 0.5 ** np.arange(n_levels)[::-1] if strong_first else 0.5 ** np.arange(n_levels)
    return shares / shares.sum()
