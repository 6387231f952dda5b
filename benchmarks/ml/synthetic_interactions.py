"""Synthetic shopper interactions with planted structure: for the recommendation tests and benchmark."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from ml.recommendation_data import INTERACTION_TYPES, as_date


def synthetic_interactions(
    n_customers: int,
    n_products: int,
    interactions_per_customer: float = 20.0,
    n_clusters: int | None = None,
    days: int = 90,
    start_date: str | date = "2026-07-03",
    in_cluster_share: float = 0.8,
    seed: int = 0,
) -> pd.DataFrame:
    """Interactions of shoppers who each favour one cluster of products, for tests and the scale benchmark.

    Products are split into ``n_clusters`` contiguous clusters; each customer picks one cluster and draws
    ``in_cluster_share`` of their interactions from it, the rest from a Zipf-like popularity over the whole
    catalogue. Kinds are 70% views, 15% carts, 15% purchases; days are uniform over ``days`` days.
    """
    rng = np.random.default_rng(seed)
    n_clusters = n_clusters or max(1, n_products // 30)
    cluster_size = n_products // n_clusters
    counts = rng.poisson(interactions_per_customer, n_customers).clip(1)
    customer = np.repeat(np.arange(n_customers, dtype=np.int32), counts)
    n = len(customer)
    home = rng.integers(0, n_clusters, n_customers, dtype=np.int32)[customer]
    in_cluster = rng.random(n) < in_cluster_share
    # within a cluster, earlier products are more popular (rank weights 1/(r+1))
    within = _zipf_draw(rng, cluster_size, n)
    anywhere = _zipf_draw(rng, n_products, n)
    product = np.where(in_cluster, home * cluster_size + within, anywhere).astype(np.int32)
    kind = rng.choice(3, size=n, p=[0.15, 0.15, 0.70]).astype(np.int8)
    occurred = np.datetime64(as_date(start_date), "D") + rng.integers(0, days, n)
    width = len(str(max(n_customers, n_products) - 1))
    return pd.DataFrame(
        {
            "customer_id": pd.Categorical.from_codes(customer, [f"c{i:0{width}d}" for i in range(n_customers)]),
            "product_id": pd.Categorical.from_codes(product, [f"p{i:0{width}d}" for i in range(n_products)]),
            "interaction_type": pd.Categorical.from_codes(kind, list(INTERACTION_TYPES)),
            "occurred_date": occurred.astype("datetime64[us]"),
            "interaction_count": np.ones(n, dtype=np.int32),
        }
    )


def _zipf_draw(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    """``n`` draws from 0..size-1 with probability proportional to 1/(rank+1)."""
    weights = 1.0 / np.arange(1, size + 1)
    return np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(n)).clip(max=size - 1)
