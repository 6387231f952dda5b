"""EM recovers known Fellegi-Sunter parameters from simulated comparison patterns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdp.identity.fellegi_sunter import MISSING, estimate_u, fit_em

LEVELS = {"first_name": 3, "last_name": 3, "birth_date": 2, "postcode": 2}
TRUE_M = {
    "first_name": np.array([0.05, 0.15, 0.80]),
    "last_name": np.array([0.04, 0.10, 0.86]),
    "birth_date": np.array([0.10, 0.90]),
    "postcode": np.array([0.20, 0.80]),
}
TRUE_U = {
    "first_name": np.array([0.90, 0.08, 0.02]),
    "last_name": np.array([0.93, 0.05, 0.02]),
    "birth_date": np.array([0.99, 0.01]),
    "postcode": np.array([0.95, 0.05]),
}


def simulate(n: int, prior: float, seed: int, missing_share: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    is_match = rng.random(n) < prior
    frame = {}
    for c, n_levels in LEVELS.items():
        m_draw = rng.choice(n_levels, size=n, p=TRUE_M[c])
        u_draw = rng.choice(n_levels, size=n, p=TRUE_U[c])
        level = np.where(is_match, m_draw, u_draw)
        level[rng.random(n) < missing_share] = MISSING
        frame[c] = level
    pairs = pd.DataFrame(frame)
    return pairs.value_counts().rename("count").reset_index()


def test_em_recovers_prior_m_and_u():
    patterns = simulate(200_000, prior=0.05, seed=1)
    model = fit_em(patterns, list(LEVELS), LEVELS)
    assert model.converged
    assert model.prior == pytest.approx(0.05, abs=0.005)
    for c in LEVELS:
        np.testing.assert_allclose(model.m[c], TRUE_M[c], atol=0.02)
        np.testing.assert_allclose(model.u[c], TRUE_U[c], atol=0.01)


def test_em_with_u_from_random_pairs_and_missing_values():
    random_pairs = simulate(100_000, prior=0.0, seed=2)
    comparisons = list(LEVELS)
    u = estimate_u(random_pairs, comparisons, LEVELS)
    patterns = simulate(200_000, prior=0.1, seed=3, missing_share=0.2)
    model = fit_em(patterns, comparisons, LEVELS, u=u)
    assert model.prior == pytest.approx(0.1, abs=0.01)
    for c in LEVELS:
        np.testing.assert_allclose(model.m[c], TRUE_M[c], atol=0.02)
        np.testing.assert_allclose(model.u[c], u[c])  # held fixed


def test_u_of_a_level_never_seen_does_not_depend_on_the_sample_size():
    # first name level 1 never occurs among these random pairs (its u is the floor)
    small = pd.DataFrame({"first_name": [0, 2], "count": [9_000, 1_000]})
    large = small.assign(count=small["count"] * 100)
    u_small = estimate_u(small, ["first_name"], {"first_name": 3})["first_name"]
    u_large = estimate_u(large, ["first_name"], {"first_name": 3})["first_name"]
    np.testing.assert_allclose(u_small, u_large)
    assert 0 < u_small[1] < 1e-9


def test_scores_rank_agreement_above_disagreement():
    model = fit_em(simulate(100_000, prior=0.05, seed=4), list(LEVELS), LEVELS)
    agree = pd.DataFrame([{"first_name": 2, "last_name": 2, "birth_date": 1, "postcode": 1}])
    disagree = pd.DataFrame([{"first_name": 0, "last_name": 0, "birth_date": 0, "postcode": 0}])
    unknown = pd.DataFrame([{"first_name": MISSING, "last_name": MISSING, "birth_date": MISSING, "postcode": MISSING}])
    assert model.match_probability(agree)[0] > 0.99 > 0.01 > model.match_probability(disagree)[0]
    # No evidence at all: the posterior is the prior.
    assert model.match_probability(unknown)[0] == pytest.approx(model.prior)
    weights = model.match_weights()
    assert weights["first_name"][2] > 0 > weights["first_name"][0]
