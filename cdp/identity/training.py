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

from cdp.identity.fellegi_sunter import FellegiSunterModel, Patterns, estimate_u, fit_em

RULE_PREFIX = "rule:"


def comparison_names(patterns: Patterns) -> list[str]:
    return [c.removeprefix("gamma_") for c in patterns if c.startswith("gamma_")]


def _sorted(patterns: Patterns, comparisons: list[str]) -> dict[str, np.ndarray]:
    """The columns as arrays, rows by sample and levels: the warehouse returns groups in any
    order, and float sums depend on it."""
    columns = {name: np.asarray(patterns[name]) for name in patterns}
    columns["sample"] = columns["sample"].astype(str)
    order = np.lexsort([columns[f"gamma_{c}"] for c in reversed(comparisons)] + [columns["sample"]])
    return {name: values[order] for name, values in columns.items()}


def _sample(patterns: dict[str, np.ndarray], name: str, comparisons: list[str]) -> dict[str, np.ndarray]:
    rows = patterns["sample"] == name
    return {**{c: patterns[f"gamma_{c}"][rows] for c in comparisons}, "count": patterns["pair_count"][rows]}


def estimate_prior(candidates: Patterns, model: FellegiSunterModel, all_pairs: float,
                   max_iterations: int = 1000) -> float:
    """P(match) for two records drawn at random, with m and u held fixed.

    EM over all record pairs, where the pairs blocking left out are taken as
    non-matches: the expected matches among the candidates over all pairs. Using
    the share of matches among candidates instead would count the fields the
    candidates were blocked on twice.
    """
    counts = np.asarray(candidates["count"], dtype=float)
    prior = min(counts.sum() / max(all_pairs, 1.0), 0.5)
    for _ in range(max_iterations):
        model.prior = prior
        new_prior = float((counts * model.match_probability(candidates)).sum() / max(all_pairs, 1.0))
        new_prior = min(max(new_prior, 1e-12), 1 - 1e-9)
        if abs(new_prior - prior) <= 1e-6 * prior:
            return new_prior
        prior = new_prior
    return prior


def train(patterns: Patterns) -> tuple[FellegiSunterModel, dict[str, list[str]]]:
    """The model, and per comparison the rules its m was estimated from.

    ``patterns``: the columns of int_identity_comparison_patterns, as a data frame
    or a mapping of arrays."""
    comparisons = comparison_names(patterns)
    patterns = _sorted(patterns, comparisons)
    labels = json.loads(patterns["level_labels"][0])
    levels = {c: len(labels[c]) for c in comparisons}

    u = estimate_u(_sample(patterns, "random", comparisons), comparisons, levels)

    estimates: dict[str, list[np.ndarray]] = {c: [] for c in comparisons}
    sources: dict[str, list[str]] = {c: [] for c in comparisons}
    rules, first = np.unique(patterns["sample"], return_index=True)
    for rule, row in zip(rules, first, strict=True):
        if not rule.startswith(RULE_PREFIX):
            continue
        untrainable = set(patterns["untrainable_comparisons"][row])
        trainable = [c for c in comparisons if c not in untrainable]
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
    records = float(patterns["record_count"][0])
    model.prior = estimate_prior(candidates, model, records * (records - 1) / 2)
    return model, sources


def match_weights_table(patterns: Patterns) -> dict[str, np.ndarray]:
    """One row per comparison level, as columns: m, u, Bayes factor and match weight, with the prior."""
    model, sources = train(patterns)
    labels = json.loads(np.asarray(patterns["level_labels"])[0])
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
    return {name: np.array([row[name] for row in rows], dtype=object if isinstance(rows[0][name], str) else None)
            for name in rows[0]}
