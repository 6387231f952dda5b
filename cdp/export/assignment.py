"""Deterministic experiment arms: a customer's arm is a function of the experiment's
name and the customer id alone, so it is the same at every run and on every machine.

Two independent uniform draws per customer come from SHA-256: the first decides
holdout (below ``holdout_share``), the second picks a variant by cumulative weight.
Being independent, changing the variants never moves anyone in or out of the holdout.
"""

from __future__ import annotations

import hashlib

HOLDOUT = "holdout"


def uniform(*parts: str) -> float:
    """A number in [0, 1) from the hash of the parts (60 bits)."""
    digest = hashlib.sha256(":".join(parts).encode("utf-8")).hexdigest()
    return int(digest[:15], 16) / 16**15


def assign(customer_id: str, experiment: str, holdout_share: float, variants: dict[str, float]) -> str:
    if uniform(experiment, "holdout", customer_id) < holdout_share:
        return HOLDOUT
    draw = uniform(experiment, "variant", customer_id)
    cumulative = 0.0
    for variant, weight in variants.items():
        cumulative += weight
        if draw < cumulative:
            return variant
    return list(variants)[-1]  # rounding: the weights sum to 1 within float error
