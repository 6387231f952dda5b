"""Train the Fellegi-Sunter match weights from comparison patterns (Splink's recipe).

Input: ``intermediate.int_identity_comparison_patterns``, pattern counts for
random pairs, all candidate pairs, and the pairs of each blocking rule.

1. u (agreement by chance) from random record pairs.
2. m (agreement among matches) by EM on the pairs of each blocking rule, with u
   fixed, for the comparisons that rule did not select on (pairs blocked on
   birth date agree on it whether they match or not); each comparison's m is
   the mean over the rules that could estimate it.
3. The prior, the probability that two records drawn at random match, by EM
   over all record pairs with m and u fixed (pairs outside the candidates count
   as non-matches).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from cdp.identity.fellegi_sunter import FellegiSunterModel, estimate_u, fit_em

RULE_PREFIX = "rule:"


def comparison_names(patterns: pd.DataFrame) -> list[str]:
    return [c.removeprefix("gamma_") for c in patterns.columns if c.startswith("gamma_")]


def _sample(patterns: pd.DataFrame, name: str, comparisons: list[str]) -> pd.DataFrame:
    rows = patterns[patterns["sample"] == name]
    return rows[[f"gamma_{c}" for c in comparisons] + ["pair_count"]].set_axis(comparisons + ["count"], axis=1)


def estimate_prior(candidates: pd.DataFrame, model: FellegiSunterModel, all_pairs: float,
                   max_iterations: int = 1000) -> float:
    """P(match) for two records drawn at random, with m and u held fixed.

    EM over all record pairs, where the pairs blocking left out are taken as
    non-matches: the expected matches among the candidates over all pairs. Using
    the share of matches among candidates instead would count the fields the
    candidates were blocked on twice.
    """
    counts = candidates["count"].to_numpy(dtype=float)
    prior = min(counts.sum() / max(all_pairs, 1.0), 0.5)
    for _ in range(max_iterations):
        model.prior = prior
        new_prior = float((counts * model.match_probability(candidates)).sum() / max(all_pairs, 1.0))
        new_prior = min(max(new_prior, 1e-12), 1 - 1e-9)
        if abs(new_prior - prior) <= 1e-6 * prior:
            return new_prior
        prior = new_prior
    return prior


def train(patterns: pd.DataFrame) -> tuple[FellegiSunterModel, dict[str, list[str]]]:
    """The model, and per comparison the rules its m was estimated from."""
    comparisons = comparison_names(patterns)
    # the warehouse returns groups in any order; float sums depend on it
    patterns = patterns.sort_values(["sample"] + [f"gamma_{c}" for c in comparisons], ignore_index=True)
    labels = json.loads(patterns["level_labels"].iloc[0])
    levels = {c: len(labels[c]) for c in comparisons}

    u = estimate_u(_sample(patterns, "random", comparisons), comparisons, levels)

    estimates: dict[str, list[np.ndarray]] = {c: [] for c in comparisons}
    sources: dict[str, list[str]] = {c: [] for c in comparisons}
    rules = patterns.loc[patterns["sample"].str.startswith(RULE_PREFIX), ["sample", "untrainable_comparisons"]]
    for rule, untrainable in rules.drop_duplicates("sample").itertuples(index=False):
        trainable = [c for c in comparisons if c not in set(untrainable)]
        rule_patterns = _sample(patterns, rule, trainable)
        # a rule with few pairs says little about m; skip rather than add noise
        if rule_patterns["count"].sum() < 10 or not trainable:
            continue
        fitted = fit_em(rule_patterns, trainable, levels, u={c: u[c] for c in trainable}, prior=0.5)
        for c in trainable:
            estimates[c].append(fitted.m[c])
            sources[c].append(rule.removeprefix(RULE_PREFIX))

    candidates = _sample(patterns, "candidates", comparisons)
    untrained = [c for c in comparisons if not estimates[c]]
    if untrained:
        # no rule could estimate these: fall back to EM over all candidate pairs
        fallback = fit_em(candidates, comparisons, levels, u=u, prior=0.1)
        for c in untrained:
            estimates[c].append(fallback.m[c])
            sources[c].append("candidates")

    m = {c: np.mean(estimates[c], axis=0) for c in comparisons}
    model = FellegiSunterModel(comparisons, levels, 0.1, m, u, converged=True)
    records = float(patterns["record_count"].iloc[0])
    model.prior = estimate_prior(candidates, model, records * (records - 1) / 2)
    return model, sources


def match_weights_table(patterns: pd.DataFrame) -> pd.DataFrame:
    """One row per comparison level: m, u, Bayes factor and match weight, with the prior."""
    model, sources = train(patterns)
    labels = json.loads(patterns["level_labels"].iloc[0])
    rows = []
    for c in model.comparisons:
        for level, label in enumerate(labels[c]):
            m, u = float(model.m[c][level]), float(model.u[c][level])
            rows.append({
                "comparison": c,
                "level": level,
                "level_label": label,
                "m_probability": m,
                "u_probability": u,
                "bayes_factor": m / u,
                "match_weight": float(np.log2(m / u)),
                "m_estimated_from": ",".join(sources[c]),
                "prior_match_probability": model.prior,
                "prior_match_weight": float(np.log2(model.prior / (1 - model.prior))),
            })
    return pd.DataFrame(rows)
