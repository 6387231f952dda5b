"""The product catalogue (~300 products in categories with accessory links)
and the probability tables personas use to pick products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .arrays import amounts, padded_numbers
from .settings import Personas, Settings

MODEL_SUFFIXES = ("", " Pro", " Plus", " Lite", " Max", " Mini", " II", " X", " S", " 2")


@dataclass(frozen=True)
class Catalogue:
    product_id: list[str]
    name: list[str]
    category: np.ndarray          # category index per product
    categories: list[str]
    price_cents: np.ndarray       # EUR list price
    accessories: list[list[int]]  # accessory category indices per category
    shares: np.ndarray

    def __len__(self) -> int:
        return len(self.product_id)

    def table(self) -> pa.Table:
        return pa.table({
            "product_id": pa.array(self.product_id, pa.large_string()),
            "name": pa.array(self.name, pa.large_string()),
            "category": pa.array([self.categories[c] for c in self.category], pa.large_string()),
            "price": amounts(self.price_cents),
        })

    def persona_product_probs(self, personas: Personas) -> np.ndarray:
        """(personas x products): category preference times price taste.

        price_affinity > 0 favours the dearer products of a category, < 0 the cheaper.
        """
        cat_w = personas.category_weights(self.categories, self.shares)
        affinity = personas.param("price_affinity")
        rel_price = self.price_cents / np.array([np.median(self.price_cents[self.category == c])
                                                 for c in self.category])
        counts = np.bincount(self.category, minlength=len(self.categories))
        probs = cat_w[:, self.category] / counts[self.category] * rel_price[None, :] ** affinity[:, None]
        return probs / probs.sum(axis=1, keepdims=True)

    def accessory_probs(self) -> np.ndarray:
        """(categories x products): what is bought alongside a product of each category."""
        out = np.zeros((len(self.categories), len(self)))
        cheapness = (self.price_cents / 100.0) ** -0.5
        for c, acc in enumerate(self.accessories):
            mask = np.isin(self.category, acc) if acc else np.ones(len(self), dtype=bool)
            out[c, mask] = cheapness[mask]
        return out / out.sum(axis=1, keepdims=True)


def build_catalogue(settings: Settings, rng: np.random.Generator) -> Catalogue:
    spec = settings.reference["catalogue"]
    size = int(settings.config["commerce"]["catalogue_size"])
    categories = list(spec)
    shares = np.array([float(spec[c]["share"]) for c in categories])
    counts = np.maximum(1, np.round(shares / shares.sum() * size).astype(int))
    names, cats, prices = [], [], []
    for ci, c in enumerate(categories):
        s = spec[c]
        n = int(counts[ci])
        brands = rng.integers(0, len(s["brands"]), n)
        kinds = rng.integers(0, len(s["kinds"]), n)
        models = rng.integers(1, 10, n) * 100 + rng.integers(0, 10, n) * 10
        suffix = rng.integers(0, len(MODEL_SUFFIXES), n)
        euros = np.exp(np.log(float(s["median"])) + float(s["sigma"]) * rng.standard_normal(n))
        for i in range(n):
            names.append(f"{s['brands'][brands[i]]} {s['kinds'][kinds[i]]} {models[i]}{MODEL_SUFFIXES[suffix[i]]}")
        cats.extend([ci] * n)
        prices.append(np.maximum(1, np.round(euros)).astype(np.int64) * 100 - 1)
    total = len(names)
    ids = padded_numbers(rng.permutation(total) + 100_001, 6, prefix="SKU-").to_pylist()
    return Catalogue(
        product_id=ids, name=names, category=np.array(cats), categories=categories,
        price_cents=np.concatenate(prices),
        accessories=[[categories.index(a) for a in spec[c].get("accessories", [])] for c in categories],
        shares=shares / shares.sum(),
    )
