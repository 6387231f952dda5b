"""Top-N products per customer: item-to-item collaborative filtering with a popularity fallback.

The body of the ``ml.product_recommendations`` table. Products are similar when the same customers
buy, add to cart or view them (shrunk cosine over a sparse customer x product matrix); a customer's score
for a product sums the similarities to everything they touched, weighted by how strongly they touched it.
Products a customer already bought are never recommended; empty slots are filled with popular products.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import binomtest

from cdp.warehouse import Warehouse
from ml.errors import NotEnoughData
from ml.recommendation_data import INTERACTION_TYPES, as_date, load_interactions
from ml.settings import load_model_config

MODEL_VERSION = "item-to-item-cosine-1"
SOURCES = ["item_to_item", "popular"]
RECOMMENDATION_COLUMNS = ["customer_id", "product_id", "rank", "score", "source"]
CustomerIds = Sequence[str] | np.ndarray | pd.Series | pd.Index
# customers scored per block: bounds the block's sparse scores and their dense packing (rows x longest row)
CHUNK_ROWS = 4096


@dataclass
class _History:
    """Customers' interactions as sparse matrices over the model's products (rows: sorted customer ids)."""

    customer_ids: np.ndarray
    weights: sp.csr_matrix
    bought: sp.csr_matrix


class ItemToItemRecommender:
    """Item-to-item collaborative filtering (Linden, Smith & York 2003; Deshpande & Karypis 2004).

    ``fit`` learns the ``neighbours`` most similar products of each product and a popularity ranking;
    ``recommend`` scores customers from their interactions. Ties are broken by product id, so results are
    deterministic.
    """

    def __init__(
        self,
        n: int = 10,
        neighbours: int = 20,
        weights: dict[str, float] | None = None,
        count_damping: str = "log",
        shrinkage: float = 10.0,
        min_cooccurrence: int = 2,
        popularity_days: int = 30,
        min_customers: int = 20,
        min_products: int = 20,
    ) -> None:
        self.n = n
        self.neighbours = neighbours
        self.weights = dict(weights or {"purchase": 3.0, "cart": 2.0, "view": 1.0})
        self.count_damping = count_damping
        self.shrinkage = shrinkage
        self.min_cooccurrence = min_cooccurrence
        self.popularity_days = popularity_days
        self.min_customers = min_customers
        self.min_products = min_products
        if set(self.weights) != set(INTERACTION_TYPES) or min(self.weights.values()) <= 0:
            raise ValueError(f"weights needs a positive weight for each of {INTERACTION_TYPES}, got {self.weights}")
        if count_damping not in ("log", "none"):
            raise ValueError(f"count_damping is 'log' or 'none', got {count_damping!r}")
        if n < 1 or neighbours < 1:
            raise ValueError(f"n and neighbours must be at least 1, got n={n}, neighbours={neighbours}")
        self.metrics: dict[str, Any] = {}

    @property
    def params(self) -> dict[str, Any]:
        """Settings and training window, JSON-serialisable, for the model-run record."""
        params = {
            "model_version": MODEL_VERSION,
            "n": self.n,
            "neighbours": self.neighbours,
            "weights": self.weights,
            "count_damping": self.count_damping,
            "shrinkage": self.shrinkage,
            "min_cooccurrence": self.min_cooccurrence,
            "popularity_days": self.popularity_days,
            "min_customers": self.min_customers,
            "min_products": self.min_products,
        }
        if hasattr(self, "as_of_"):
            params |= {"as_of": self.as_of_.isoformat(), "first_interaction_date": self.first_date_.isoformat()}
        return params

    def fit(self, interactions: pd.DataFrame, as_of: str | date | None = None) -> Self:
        """Learn product neighbours and popularity from interactions up to ``as_of`` (default: the last day seen).

        Raises ``NotEnoughData`` without purchases or with fewer customers / products than the minimums.
        """
        self._fit(interactions, as_of)
        return self

    def recommend(self, interactions: pd.DataFrame, customer_ids: CustomerIds | None = None) -> pd.DataFrame:
        """Top-``n`` products per customer, scored from ``interactions`` (normally the ones fitted on).

        Customers: everyone in ``interactions``, or exactly ``customer_ids`` (those without history get
        popular products). Columns ``customer_id, product_id, rank, score, source``; ``source`` is
        ``item_to_item`` (score: summed weighted similarity) or ``popular`` (score: distinct buyers in the
        last ``popularity_days``). Ids are categoricals; rows are ordered by customer id and rank.
        """
        return self._recommend(self._history(interactions), customer_ids, use_similarity=True)

    def fit_recommend(self, interactions: pd.DataFrame, as_of: str | date | None = None) -> pd.DataFrame:
        """``fit`` then ``recommend`` for everyone in ``interactions``, building the customer matrices once."""
        return self._recommend(self._fit(interactions, as_of), None, use_similarity=True)

    def recommend_popular(self, interactions: pd.DataFrame, customer_ids: CustomerIds | None = None) -> pd.DataFrame:
        """The popularity baseline: the most bought products each customer has not bought yet."""
        return self._recommend(self._history(interactions), customer_ids, use_similarity=False)

    def save(self, path: str | Path) -> None:
        """Write the fitted model to one ``.npz`` file (arrays plus the params and metrics as JSON)."""
        meta = {"params": self.params, "metrics": self.metrics}
        np.savez_compressed(
            path,
            item_ids=self.item_ids_,
            similarity_data=self.similarity_.data,
            similarity_indices=self.similarity_.indices,
            similarity_indptr=self.similarity_.indptr,
            popular_products=self.popular_products_,
            popularity_scores=self.popularity_scores_,
            meta=np.array(json.dumps(meta)),
        )

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a model written by ``save``; it recommends exactly what the saved one did."""
        with np.load(path, allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"]))
            params = meta["params"]
            model = cls(**{key: params[key] for key in _SETTINGS})
            model.item_ids_ = saved["item_ids"]
            shape = (len(model.item_ids_), len(model.item_ids_))
            parts = (saved["similarity_data"], saved["similarity_indices"], saved["similarity_indptr"])
            model.similarity_ = sp.csr_matrix(parts, shape=shape)
            model.popular_products_ = saved["popular_products"]
            model.popularity_scores_ = saved["popularity_scores"]
        model.as_of_ = as_date(params["as_of"])
        model.first_date_ = as_date(params["first_interaction_date"])
        model.metrics = meta["metrics"]
        return model

    def _fit(self, interactions: pd.DataFrame, as_of: str | date | None) -> _History:
        started = time.perf_counter()
        days = _days(interactions["occurred_date"])
        if len(days) == 0:
            raise NotEnoughData("no product interactions at all: nothing to learn recommendations from")
        as_of_day = np.datetime64(as_date(as_of), "D") if as_of is not None else days.max()
        if days.max() > as_of_day:
            raise ValueError(f"interactions after as_of {as_of_day}: load them with that cutoff date")
        window = f"{days.min()} to {as_of_day}"
        self.item_ids_ = _factorize(interactions["product_id"])[1]
        history = self._history(interactions)
        n_customers, n_products = history.weights.shape
        if history.bought.nnz == 0:
            raise NotEnoughData(
                f"no completed purchases by identified customers from {window}: recommendations need buyers "
                "(check marts.fct_orders and the lookback_days setting)"
            )
        if n_customers < self.min_customers:
            raise NotEnoughData(
                f"only {n_customers} customers with product interactions from {window} (min_customers is "
                f"{self.min_customers} in ml/config/recommendations.yml); lengthen lookback_days or wait for data"
            )
        if n_products < self.min_products:
            raise NotEnoughData(
                f"only {n_products} products with interactions from {window} (min_products is "
                f"{self.min_products} in ml/config/recommendations.yml); lengthen lookback_days or wait for data"
            )
        self.similarity_ = _item_similarity(history.weights, self.neighbours, self.shrinkage, self.min_cooccurrence)
        recent = (days > as_of_day - self.popularity_days) & _is_purchase(interactions)
        recent_buyers = _buyers_per_product(interactions[recent], self.item_ids_)
        all_buyers = np.bincount(history.bought.indices, minlength=n_products)
        order = np.lexsort((np.arange(n_products), -all_buyers, -recent_buyers))
        self.popular_products_ = order[all_buyers[order] > 0]
        self.popularity_scores_ = recent_buyers.astype(np.float64)
        self.as_of_ = as_date(str(as_of_day))
        self.first_date_ = as_date(str(days.min()))
        self.metrics = {
            "customers": int(n_customers),
            "products": int(n_products),
            "interaction_rows": len(interactions),
            "customer_products_bought": int(history.bought.nnz),
            "similar_pairs": int(self.similarity_.nnz),
            "products_with_neighbours": int((np.diff(self.similarity_.indptr) > 0).sum()),
            "popular_products": len(self.popular_products_),
            "fit_seconds": round(time.perf_counter() - started, 3),
        }
        return history

    def _history(self, interactions: pd.DataFrame) -> _History:
        """Damped, weighted interaction strengths and bought flags per customer and model product."""
        customer_codes, customer_ids = _factorize(interactions["customer_id"])
        product_codes, product_ids = _factorize(interactions["product_id"])
        n_customers, n_products, n_kinds = len(customer_ids), len(self.item_ids_), len(INTERACTION_TYPES)
        kind_codes, kinds = pd.factorize(interactions["interaction_type"])
        kind_index = pd.Index(INTERACTION_TYPES).get_indexer(np.asarray(kinds, dtype=str))
        if (kind_index < 0).any():
            unknown = sorted(set(np.asarray(kinds, dtype=str)) - set(INTERACTION_TYPES))
            raise ValueError(f"unknown interaction_type {unknown}: expected {INTERACTION_TYPES}")
        # one column per product and kind (int32 keeps 20M-row inputs small): a kind's counts are summed
        # over days before damping; products the model does not know get -1 and are dropped
        to_column = pd.Index(self.item_ids_).get_indexer(product_ids).astype(np.int32) * n_kinds
        column = to_column[product_codes] + kind_index.astype(np.int32)[kind_codes]
        known = to_column[product_codes] >= 0
        counts = interactions["interaction_count"].to_numpy(np.float32)
        if not known.all():
            customer_codes, column, counts = customer_codes[known], column[known], counts[known]
        counts = sp.csr_matrix((counts, (customer_codes, column)), shape=(n_customers, n_products * n_kinds))
        counts.sum_duplicates()
        kind = counts.indices % n_kinds
        strength = 1 + np.log(counts.data) if self.count_damping == "log" else counts.data.copy()
        strength *= np.array([self.weights[name] for name in INTERACTION_TYPES], dtype=np.float32)[kind]
        product = counts.indices // n_kinds
        purchased = kind == INTERACTION_TYPES.index("purchase")
        row = np.repeat(np.arange(n_customers), np.diff(counts.indptr))[purchased]
        bought = sp.csr_matrix(
            (np.ones(len(row), dtype=np.float32), (row, product[purchased])), shape=(n_customers, n_products)
        )
        weights = sp.csr_matrix((strength, product, counts.indptr.copy()), shape=(n_customers, n_products))
        weights.sum_duplicates()
        return _History(customer_ids, weights, bought)

    def _recommend(self, history: _History, customer_ids: CustomerIds | None, use_similarity: bool) -> pd.DataFrame:
        """Item-to-item candidates first (if ``use_similarity``), then popular products in the empty slots."""
        weights, bought, targets = history.weights, history.bought, history.customer_ids
        if customer_ids is not None:
            targets = _distinct(np.asarray(customer_ids, dtype=str))
            rows = pd.Index(history.customer_ids).get_indexer(targets)
            # customers without history read an all-zero row appended at the end
            rows[rows < 0] = weights.shape[0]
            empty = sp.csr_matrix((1, weights.shape[1]), dtype=np.float32)
            weights = sp.vstack([weights, empty], format="csr")[rows]
            bought = sp.vstack([bought, empty], format="csr")[rows]
        # enough popular products to fill n slots whatever a customer already bought
        bought_most = int(np.diff(bought.indptr).max()) if len(targets) else 0
        popular = self.popular_products_[: self.n + bought_most]
        popular_position = np.full(len(self.item_ids_), -1)
        popular_position[popular] = np.arange(len(popular))
        parts = [_empty(np.int32, np.int32, np.int16, np.float64, np.int8)]
        for start in range(0, len(targets), CHUNK_ROWS):
            block = slice(start, start + CHUNK_ROWS)
            if use_similarity:
                scores = weights[block] @ self.similarity_
                scores = scores - scores.multiply(bought[block])
                row, product, rank, score = _top_n_sparse(scores, self.n)
            else:
                row, product, rank, score = _empty(np.int64, np.int64, np.int64, np.float32)
            fill = _fill_popular(row, product, bought[block], len(targets[block]), self.n, popular, popular_position)
            row, product, rank = (np.concatenate(pair) for pair in zip((row, product, rank), fill, strict=True))
            score = np.concatenate([score, self.popularity_scores_[fill[1]]])
            source = np.repeat(np.array([0, 1], dtype=np.int8), [len(row) - len(fill[0]), len(fill[0])])
            # blocks follow each other, so sorting within a block orders the whole output
            order = np.lexsort((rank, row))
            parts.append(
                (
                    (row[order] + start).astype(np.int32),
                    product[order].astype(np.int32),
                    rank[order].astype(np.int16),
                    score[order].astype(np.float64),
                    source[order],
                )
            )
        row, product, rank, score, source = (np.concatenate(column) for column in zip(*parts, strict=True))
        return pd.DataFrame(
            {
                "customer_id": pd.Categorical.from_codes(row, categories=pd.Index(targets)),
                "product_id": pd.Categorical.from_codes(product, categories=pd.Index(self.item_ids_)),
                "rank": rank,
                "score": score,
                "source": pd.Categorical.from_codes(source, categories=SOURCES),
            }
        )


_SETTINGS = [
    "n", "neighbours", "weights", "count_damping", "shrinkage", "min_cooccurrence",
    "popularity_days", "min_customers", "min_products",
]


def _factorize(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the sorted distinct ids (as strings): that order breaks ties, whatever the input order.

    Categoricals (the loader's output) are recoded through their categories, not re-hashed row by row.
    """
    if ids.isna().any():
        raise ValueError(f"{ids.name} has missing values: interactions need identified customers and products")
    if isinstance(ids.dtype, pd.CategoricalDtype):
        codes = ids.cat.codes.to_numpy()
        present = np.flatnonzero(np.bincount(codes, minlength=len(ids.cat.categories)))
        names = np.asarray(ids.cat.categories, dtype=str)[present]
        order = np.argsort(names, kind="stable")
        recode = np.full(len(ids.cat.categories), -1, dtype=np.int32)
        recode[present[order]] = np.arange(len(order))
        return recode[codes], names[order]
    codes, names = pd.factorize(np.asarray(ids, dtype=str), sort=True)
    return codes, np.asarray(names, dtype=str)


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values. ``np.unique`` and ``np.isin`` take ~1 s per million values in numpy 2.4;
    pandas' hash tables plus a sort take a tenth of that."""
    if len(values) < 2 or (values[1:] > values[:-1]).all():
        return values
    return np.sort(pd.unique(values))


def _isin(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """``np.isin`` through pandas' hash tables (see ``_distinct``)."""
    return pd.Series(values).isin(members).to_numpy()


def _empty(*dtypes: type) -> tuple[np.ndarray, ...]:
    return tuple(np.zeros(0, dtype) for dtype in dtypes)


def _days(dates: pd.Series) -> np.ndarray:
    """UTC calendar days of a date / datetime column as ``datetime64[D]``."""
    return pd.to_datetime(dates).to_numpy().astype("datetime64[D]")


def _is_purchase(interactions: pd.DataFrame) -> np.ndarray:
    return (interactions["interaction_type"] == "purchase").to_numpy(dtype=bool)


def _buyers_per_product(purchases: pd.DataFrame, item_ids: np.ndarray) -> np.ndarray:
    """Distinct customers who bought each product (in ``item_ids`` order)."""
    pairs = purchases[["customer_id", "product_id"]].drop_duplicates()
    index = pd.Index(item_ids).get_indexer(pairs["product_id"].astype(str))
    return np.bincount(index[index >= 0], minlength=len(item_ids))


def _item_similarity(
    weights: sp.csr_matrix, neighbours: int, shrinkage: float, min_cooccurrence: int
) -> sp.csr_matrix:
    """Each product's ``neighbours`` most similar products: cosine x c / (c + shrinkage), c = shared customers.

    Row i holds i's neighbours, so ``customer_weights @ similarity`` scores every product for a customer.
    """
    touched = weights.copy()
    touched.data[:] = 1
    # the two products dominate fit time; scipy releases the GIL, so they run side by side
    with ThreadPoolExecutor(max_workers=2) as pool:
        dot_products = pool.submit(lambda: (weights.T @ weights).tocsr())
        shared = (touched.T @ touched).tocsr()
        dot = dot_products.result()
    norms = np.sqrt(dot.diagonal())
    n_products = weights.shape[1]
    rows, cols, values = [], [], []
    block_rows = max(1, 2**24 // max(n_products, 1))
    for start in range(0, n_products, block_rows):
        stop = min(start + block_rows, n_products)
        count = shared[start:stop].toarray()
        similarity = dot[start:stop].toarray() / np.outer(norms[start:stop], norms)
        similarity *= np.divide(count, count + shrinkage, out=np.zeros_like(count), where=count > 0)
        similarity[count < min_cooccurrence] = 0
        similarity[np.arange(stop - start), np.arange(start, stop)] = 0
        row, col, _ = _top_n(similarity, neighbours)
        rows.append(row + start)
        cols.append(col)
        values.append(similarity[row, col])
    return sp.csr_matrix(
        (np.concatenate(values).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_products, n_products),
    )


def _top_n(
    values: np.ndarray, n: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``n`` largest positive entries of each row as flat (row, column, rank from 1) arrays.

    Ties go to the lower label (default: the column index). A value-only ``partition`` finds each row's
    n-th largest value (several times faster than ``argpartition``); everything at or above it, ties
    included, is then sorted exactly.
    """
    n_rows, n_cols = values.shape
    if n < n_cols:
        cut = np.partition(values, n_cols - n, axis=1)[:, n_cols - n]
    else:
        cut = np.zeros(n_rows, dtype=values.dtype)
    cut = np.maximum(cut, np.finfo(values.dtype).smallest_subnormal)
    row, col = np.nonzero(values >= cut[:, None])
    order = np.lexsort((col if labels is None else labels[row, col], -values[row, col], row))
    row, col = row[order], col[order]
    rank = np.arange(1, len(row) + 1) - np.searchsorted(row, row)
    keep = rank <= n
    return row[keep], col[keep], rank[keep]


def _top_n_sparse(scores: sp.csr_matrix, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``_top_n`` of a sparse score matrix as (row, column, rank, score), ties by lower column.

    Each row's entries are packed to the left, so the dense work has the width of the longest row, not of
    the whole catalogue.
    """
    lengths = np.diff(scores.indptr)
    if scores.nnz == 0:
        return _empty(np.int64, np.int64, np.int64, np.float32)
    row = np.repeat(np.arange(scores.shape[0]), lengths)
    position = np.arange(scores.nnz) - scores.indptr[row]
    packed = np.zeros((scores.shape[0], lengths.max()), dtype=scores.dtype)
    packed[row, position] = scores.data
    columns = np.zeros(packed.shape, dtype=scores.indices.dtype)
    columns[row, position] = scores.indices
    row, position, rank = _top_n(packed, n, labels=columns)
    return row, columns[row, position].astype(np.int64), rank, packed[row, position]


def _fill_popular(
    row: np.ndarray,
    product: np.ndarray,
    bought: sp.csr_matrix,
    n_rows: int,
    n: int,
    popular: np.ndarray,
    popular_position: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Popular products for the slots item-to-item left empty: (row, product, rank), in popularity order.

    ``popular`` is the head of the popularity ranking, long enough for any customer; ``popular_position``
    maps a product to its place in it (-1 if absent).
    """
    found = np.bincount(row, minlength=n_rows)
    needy = np.flatnonzero(found < n)
    if len(needy) == 0 or len(popular) == 0:
        return _empty(np.int64, np.int64, np.int64)
    eligible = np.ones((len(needy), len(popular)), dtype=bool)
    slot = np.full(n_rows, -1)
    slot[needy] = np.arange(len(needy))
    owned = bought[needy].tocoo()
    for taken_row, taken_product in ((owned.row, owned.col), (slot[row], product)):
        where = popular_position[taken_product]
        keep = (taken_row >= 0) & (where >= 0)
        eligible[taken_row[keep], where[keep]] = False
    order = np.cumsum(eligible, axis=1)
    fill_slot, fill_position = np.nonzero(eligible & (order <= (n - found[needy])[:, None]))
    fill_row = needy[fill_slot]
    return fill_row, popular[fill_position], found[fill_row] + order[fill_slot, fill_position]


def evaluate(
    interactions: pd.DataFrame,
    holdout_start: str | date,
    holdout_end: str | date,
    n: int = 10,
    **model_settings: Any,
) -> dict[str, Any]:
    """Hit rate@n of item-to-item and of the popularity baseline on a time holdout.

    Both are trained on interactions before ``holdout_start``. Test customers are those who, between
    ``holdout_start`` and ``holdout_end`` (inclusive), bought products they had not bought before; a hit is
    one of those products in their top ``n``. Also precision@n, recall@n, catalogue coverage (share of the
    training products recommended to anyone active), and a paired exact test of the hit difference.
    """
    start, end = as_date(holdout_start), as_date(holdout_end)
    days = _days(interactions["occurred_date"])
    train = interactions[days < np.datetime64(start, "D")]
    # purchase pairs as integer keys (customer code x products + product code): set work stays vectorised
    purchase = _is_purchase(interactions)
    customer_codes, customer_names = _factorize(interactions.loc[purchase, "customer_id"])
    product_codes, product_names = _factorize(interactions.loc[purchase, "product_id"])
    pair = customer_codes.astype(np.int64) * len(product_names) + product_codes
    purchase_days = days[purchase]
    before = pair[purchase_days < np.datetime64(start, "D")]
    during = pair[(purchase_days >= np.datetime64(start, "D")) & (purchase_days <= np.datetime64(end, "D"))]
    held_out = _distinct(during[~_isin(during, before)])
    if len(held_out) == 0:
        raise NotEnoughData(f"no customer bought a product new to them between {start} and {end}: nothing to test")
    model = ItemToItemRecommender(n=n, **model_settings)
    history = model._fit(train, as_of=start - timedelta(days=1))
    held_codes = held_out // len(product_names)
    test_codes = _distinct(held_codes)
    test_customers = customer_names[test_codes]
    with_history = pd.Index(history.customer_ids).get_indexer(test_customers) >= 0
    # recommendations for everyone the model would serve: the trained customers and the test customers
    active = _distinct(np.concatenate([history.customer_ids, test_customers[~with_history]]))
    test = pd.Index(active).get_indexer(test_customers)
    held_customer = test[np.searchsorted(test_codes, held_codes)]
    held_product = pd.Index(model.item_ids_).get_indexer(product_names[held_out % len(product_names)])
    held_keys = held_customer.astype(np.int64) * len(model.item_ids_) + held_product
    held_per_customer = np.bincount(held_customer, minlength=len(active))[test]
    cf = model._recommend(history, active, use_similarity=True)
    popular = model._recommend(history, active, use_similarity=False)
    cf_hits = _hits(cf, held_keys[held_product >= 0], len(model.item_ids_))[test]
    popular_hits = _hits(popular, held_keys[held_product >= 0], len(model.item_ids_))[test]
    only_cf = int(((cf_hits > 0) & (popular_hits == 0)).sum())
    only_popular = int(((popular_hits > 0) & (cf_hits == 0)).sum())
    paired_p = binomtest(only_cf, only_cf + only_popular).pvalue if only_cf + only_popular else 1.0
    return {
        "holdout_start": start.isoformat(),
        "holdout_end": end.isoformat(),
        "train_start": model.first_date_.isoformat(),
        "train_end": model.as_of_.isoformat(),
        "n": n,
        "test_customers": len(test_customers),
        "test_customers_with_history": int(with_history.sum()),
        "held_out_purchases": len(held_out),
        "held_out_products_unknown_to_model": int((held_product < 0).sum()),
        "catalogue_products": len(model.item_ids_),
        "item_to_item": _scores(cf, cf_hits, held_per_customer, with_history, n, len(model.item_ids_)),
        "popular": _scores(popular, popular_hits, held_per_customer, with_history, n, len(model.item_ids_)),
        "item_to_item_share_of_slots": round(float((cf["source"] == "item_to_item").mean()), 4),
        "paired": {"only_item_to_item_hit": only_cf, "only_popular_hit": only_popular, "p_value": round(paired_p, 4)},
        "model": model.params | {"training": model.metrics},
    }


def _hits(recommendations: pd.DataFrame, held_keys: np.ndarray, n_products: int) -> np.ndarray:
    """Held-out products in each customer's list, per customer category (keys: customer x n_products + product)."""
    customer = recommendations["customer_id"].cat.codes.to_numpy().astype(np.int64)
    keys = customer * n_products + recommendations["product_id"].cat.codes.to_numpy()
    return np.bincount(customer[_isin(keys, held_keys)], minlength=len(recommendations["customer_id"].cat.categories))


def _scores(
    recommendations: pd.DataFrame, hits: np.ndarray, held: np.ndarray, with_history: np.ndarray, n: int, catalogue: int
) -> dict[str, Any]:
    """One method's figures over the test customers (``hits`` and ``held`` per customer, in the same order)."""
    hit = hits > 0
    interval = binomtest(int(hit.sum()), len(hit)).proportion_ci(0.95, method="wilson")
    return {
        "hit_rate": round(float(hit.mean()), 4),
        "hit_rate_ci95": [round(float(interval.low), 4), round(float(interval.high), 4)],
        "hit_rate_with_history": round(float(hit[with_history].mean()), 4) if with_history.any() else None,
        "precision": round(float((hits / n).mean()), 4),
        "recall": round(float((hits / held).mean()), 4),
        "coverage": round(recommendations["product_id"].nunique() / catalogue, 4),
    }


@dataclass
class RecommendationRun:
    """A model run: recommendations, the fitted model, its holdout evaluation and data window."""

    recommendations: pd.DataFrame
    model: ItemToItemRecommender
    as_of: date
    lookback_days: int | None
    evaluation: dict[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, Any]:
        return self.model.params | {"lookback_days": self.lookback_days}

    @property
    def metrics(self) -> dict[str, Any]:
        return {"training": self.model.metrics, "holdout": self.evaluation}


def recommend_products(
    warehouse: Warehouse, as_of: str | date, settings: dict[str, Any] | None = None
) -> RecommendationRun:
    """Evaluate on the last ``holdout_days``, then fit on everything up to ``as_of`` and recommend for all.

    A holdout too thin to test (no new purchases) is recorded in the evaluation, not raised; too little
    data to fit raises ``NotEnoughData``.
    """
    settings = settings or load_model_config("recommendations")
    as_of_date = as_date(as_of)
    interactions = load_interactions(warehouse, as_of_date, settings.get("lookback_days"))
    model_settings = dict(settings.get("model", {}))
    holdout_start = as_of_date - timedelta(days=settings["holdout_days"] - 1)
    try:
        evaluation = evaluate(interactions, holdout_start, as_of_date, **model_settings)
    except NotEnoughData as skipped:
        evaluation = {"skipped": str(skipped)}
    model = ItemToItemRecommender(**model_settings)
    recommendations = model.fit_recommend(interactions, as_of_date)
    return RecommendationRun(recommendations, model, as_of_date, settings.get("lookback_days"), evaluation)
