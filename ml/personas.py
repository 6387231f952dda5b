"""Customer personas: K-means on standardised behavioural and RFM features, with ids that survive retraining.

``fit_personas`` preprocesses the features (fill, clip, log1p, standardise), chooses k by silhouette on a
random sample (the elbow curve recorded too), fits K-means (MiniBatchKMeans on large data), matches the new
clusters to the previous run's so ids stay put, and names each persona from what sets its centroid apart.
The returned ``PersonaModel`` gives the bodies of ``ml.customer_clusters`` (``assign``) and ``ml.personas``.
Settings: ``ml/config/personas.yml``; method, rules and measured figures: ``docs/personas.md``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import pairwise_distances_argmin_min
from threadpoolctl import threadpool_limits

from ml.errors import FitFailed, NotEnoughData
from ml.registry import JoblibArtifact
from ml.settings import load_model_config

MODEL_VERSION = "kmeans-personas-1"
CUSTOMER_ID = "customer_id"
SETTINGS_FILE = "ml/config/personas.yml"
FILL_STATISTICS = ("min", "median", "max")
# Cost of a pair farther apart than match_max_distance: the assignment first maximises the pairs within it.
_NO_MATCH = 1e6


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class PersonaSettings:
    """The settings of ``ml/config/personas.yml``, checked once so a wrong value fails with its name."""

    raw: dict[str, Any]
    min_customers: int
    random_seed: int
    max_threads: int | None
    fill_default: float
    fill: dict[str, float | str]
    clip_low: float
    clip_high: float
    log1p: frozenset[str]
    k_min: int
    k_max: int
    selection_sample_size: int
    selection_n_init: int
    kmeans_n_init: int
    kmeans_max_iter: int
    minibatch_threshold_rows: int
    minibatch_batch_size: int
    minibatch_n_init: int
    minibatch_max_iter: int
    match_max_distance: float
    name_features: int
    describe_features: int
    min_abs_z: float
    strong_abs_z: float
    default_noun: str
    typical_name: str
    vocabulary: dict[str, dict[str, str | None]]

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> PersonaSettings:
        def get(*path: str) -> Any:
            node: Any = settings
            for key in path:
                if not isinstance(node, Mapping) or key not in node:
                    raise ValueError(f"{SETTINGS_FILE}: missing setting {'.'.join(path)}")
                node = node[key]
            return node

        clip = get("preprocessing", "clip_quantiles")
        fill = dict(get("preprocessing", "fill") or {})
        for feature, rule in fill.items():
            if not (isinstance(rule, int | float) or rule in FILL_STATISTICS):
                raise ValueError(f"{SETTINGS_FILE}: preprocessing.fill.{feature} must be a number or one of "
                                 f"{', '.join(FILL_STATISTICS)}, got {rule!r}")
        parsed = cls(
            raw=json.loads(json.dumps(dict(settings))),
            min_customers=int(get("min_customers")),
            random_seed=int(get("random_seed")),
            max_threads=None if get("max_threads") is None else int(get("max_threads")),
            fill_default=float(get("preprocessing", "fill_default")),
            fill=fill,
            clip_low=float(clip[0]),
            clip_high=float(clip[1]),
            log1p=frozenset(get("preprocessing", "log1p") or []),
            k_min=int(get("selection", "k_min")),
            k_max=int(get("selection", "k_max")),
            selection_sample_size=int(get("selection", "sample_size")),
            selection_n_init=int(get("selection", "n_init")),
            kmeans_n_init=int(get("kmeans", "n_init")),
            kmeans_max_iter=int(get("kmeans", "max_iter")),
            minibatch_threshold_rows=int(get("minibatch", "threshold_rows")),
            minibatch_batch_size=int(get("minibatch", "batch_size")),
            minibatch_n_init=int(get("minibatch", "n_init")),
            minibatch_max_iter=int(get("minibatch", "max_iter")),
            match_max_distance=float(get("stable_ids", "match_max_distance")),
            name_features=int(get("naming", "name_features")),
            describe_features=int(get("naming", "describe_features")),
            min_abs_z=float(get("naming", "min_abs_z")),
            strong_abs_z=float(get("naming", "strong_abs_z")),
            default_noun=str(get("naming", "default_noun")),
            typical_name=str(get("naming", "typical_name")),
            vocabulary={k: dict(v or {}) for k, v in (get("naming", "vocabulary") or {}).items()},
        )
        if not 2 <= parsed.k_min <= parsed.k_max:
            raise ValueError(f"{SETTINGS_FILE}: need 2 <= selection.k_min <= selection.k_max, "
                             f"got {parsed.k_min} and {parsed.k_max}")
        if not 0.0 <= parsed.clip_low < parsed.clip_high <= 1.0:
            raise ValueError(f"{SETTINGS_FILE}: preprocessing.clip_quantiles must be [low, high] with "
                             f"0 <= low < high <= 1, got {clip}")
        if parsed.selection_sample_size < parsed.k_max + 1:
            raise ValueError(f"{SETTINGS_FILE}: selection.sample_size must exceed selection.k_max")
        return parsed


# --------------------------------------------------------------------------- preprocessing


@dataclass
class FeaturePreprocessor:
    """Fill, clip, log1p and standardise, fitted on the training customers and applied unchanged to new ones.

    Order: missing values filled (per-feature rule, else ``fill_default``), clipped to training quantiles,
    signed log1p on the configured heavy-tailed features, then centred and scaled to unit variance.
    """

    columns: list[str]
    fill_values: np.ndarray
    clip_low: np.ndarray
    clip_high: np.ndarray
    log1p: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, raw: np.ndarray, columns: Sequence[str], settings: PersonaSettings
            ) -> tuple[FeaturePreprocessor, dict[str, str]]:
        """The preprocessor of the non-constant columns of ``raw``, and why each other column was dropped."""
        kept, dropped = [], {}
        fills, lows, highs, logs, means, scales = [], [], [], [], [], []
        for j, column in enumerate(columns):
            values = raw[:, j]
            observed = values[~np.isnan(values)]
            if observed.size == 0:
                dropped[column] = "every value missing"
                continue
            fill = _fill_value(settings.fill.get(column, settings.fill_default), observed)
            filled = np.where(np.isnan(values), fill, values)
            if filled.min() == filled.max():
                dropped[column] = f"constant ({filled[0]:g} for every customer after filling missing values)"
                continue
            low, high = np.quantile(filled, [settings.clip_low, settings.clip_high])
            if high <= low:  # a feature that is mostly one value: clipping would flatten it, keep the range
                low, high = filled.min(), filled.max()
            log = column in settings.log1p
            transformed = _signed_log1p(np.clip(filled, low, high)) if log else np.clip(filled, low, high)
            kept.append(column)
            fills.append(fill)
            lows.append(low)
            highs.append(high)
            logs.append(log)
            means.append(transformed.mean())
            scales.append(transformed.std())
        fitted = cls(kept, *(np.asarray(v, dtype=float) for v in (fills, lows, highs)), np.asarray(logs, dtype=bool),
                     np.asarray(means, dtype=float), np.asarray(scales, dtype=float))
        return fitted, dropped

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """Standardised features of every row of ``features`` (which needs the fitted columns)."""
        missing = [c for c in self.columns if c not in features.columns]
        if missing:
            raise ValueError(f"features lack the columns the model was fitted on: {missing}")
        return self.transform_matrix(_numeric_matrix(features, self.columns))

    def transform_matrix(self, raw: np.ndarray) -> np.ndarray:
        """Standardised features of a raw matrix whose columns are ``self.columns``, in that order."""
        values = np.where(np.isnan(raw), self.fill_values, raw)
        np.clip(values, self.clip_low, self.clip_high, out=values)
        values[:, self.log1p] = _signed_log1p(values[:, self.log1p])
        values -= self.mean
        values /= self.scale
        return values


def _fill_value(rule: float | str, observed: np.ndarray) -> float:
    if rule == "min":
        return float(observed.min())
    if rule == "median":
        return float(np.median(observed))
    if rule == "max":
        return float(observed.max())
    return float(rule)


def _signed_log1p(values: np.ndarray) -> np.ndarray:
    """log(1 + x) for x >= 0, mirrored for negatives (refunds can make amounts negative)."""
    if values.min(initial=0.0) >= 0:  # the usual case, and several times faster
        return np.log1p(values)
    return np.sign(values) * np.log1p(np.abs(values))


def _numeric_matrix(features: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The columns as float64 (missing and infinite as NaN); a non-numeric column is an error."""
    for column in columns:
        dtype = features[column].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise ValueError(f"feature {column!r} is not numeric (dtype {dtype})")
    matrix = features[list(columns)].to_numpy(dtype="float64", na_value=np.nan, copy=True)
    matrix[~np.isfinite(matrix)] = np.nan
    return matrix


# --------------------------------------------------------------------------- model


@dataclass
class PersonaModel(JoblibArtifact):
    """A fitted personas model: preprocessing, centroids with their stable ids, and the tables of the run.

    ``personas`` is the body of ``ml.personas``, ``assign`` gives that of ``ml.customer_clusters``;
    ``selection``, ``params`` and ``metrics`` are for the model-run registry.
    """

    preprocessor: FeaturePreprocessor
    centroids: np.ndarray  # one row per cluster, standardised space; row i is cluster ``cluster_ids[i]``
    cluster_ids: np.ndarray
    persona_names: list[str]
    next_cluster_id: int  # ids below this were used by this model or an earlier one, and are never reissued
    personas: pd.DataFrame
    selection: pd.DataFrame
    params: dict[str, Any]
    metrics: dict[str, Any]
    max_threads: int | None = None

    @property
    def feature_columns(self) -> list[str]:
        """The features the model uses (the requested ones less the dropped constant ones)."""
        return list(self.preprocessor.columns)

    def assign(self, features: pd.DataFrame) -> pd.DataFrame:
        """customer_id, cluster_id, persona_name, distance_to_centroid (standardised space) for every row."""
        if CUSTOMER_ID not in features.columns:
            raise ValueError(f"features lack the {CUSTOMER_ID!r} column")
        with threadpool_limits(limits=self.max_threads):
            nearest, distance = pairwise_distances_argmin_min(self.preprocessor.transform(features), self.centroids)
        return pd.DataFrame({
            CUSTOMER_ID: features[CUSTOMER_ID].to_numpy(),
            "cluster_id": self.cluster_ids[nearest].astype("int64"),
            "persona_name": np.asarray(self.persona_names, dtype=object)[nearest],
            "distance_to_centroid": distance.astype("float64"),
        })

    def personas_for(self, assignments: pd.DataFrame) -> pd.DataFrame:
        """``personas`` with each persona's customer count and share taken from ``assignments`` (the output of
        ``assign``): a model scoring later days keeps its names, descriptions and typical values, while the
        sizes follow today's customers. On the data the model was fitted on the sizes are the fit's."""
        return self.personas_of_sizes(assignments["cluster_id"].value_counts(), len(assignments))

    def personas_of_sizes(self, sizes: pd.Series, customers: int) -> pd.DataFrame:
        """``personas_for`` from the customers per cluster id (``sizes``) out of ``customers`` assigned: what
        batches of assignments add up to."""
        personas = self.personas.copy()
        personas["customer_count"] = personas["cluster_id"].map(sizes).fillna(0).astype("int64")
        personas["customer_share"] = personas["customer_count"] / max(customers, 1)
        return personas


def fit_personas(
    features: pd.DataFrame,
    feature_columns: Sequence[str],
    settings: Mapping[str, Any] | None = None,
    previous: PersonaModel | None = None,
) -> PersonaModel:
    """Cluster customers into personas; with ``previous``, clusters matching the previous run keep their ids.

    ``features``: one row per customer, ``customer_id`` plus the numeric ``feature_columns`` (NaN allowed).
    ``settings``: the mapping of ``ml/config/personas.yml`` (read from there when None).
    Rows are sorted by customer_id first, so the result does not depend on row order.
    Raises ``NotEnoughData`` when the data cannot support personas, ``FitFailed`` when K-means collapses.
    """
    config = PersonaSettings.from_mapping(settings if settings is not None else load_model_config("personas"))
    with threadpool_limits(limits=config.max_threads):
        return _fit(features, feature_columns, config, previous)


def _fit(features: pd.DataFrame, feature_columns: Sequence[str], config: PersonaSettings,
         previous: PersonaModel | None) -> PersonaModel:
    started = time.perf_counter()
    columns = _checked_columns(features, feature_columns)
    n = len(features)
    if n < config.min_customers:
        raise NotEnoughData(f"personas need at least {config.min_customers} customers (min_customers in "
                            f"{SETTINGS_FILE}), got {n}")
    order = features[CUSTOMER_ID].argsort(kind="stable").to_numpy()
    raw = _numeric_matrix(features, columns)[order]
    preprocessor, dropped = FeaturePreprocessor.fit(raw, columns, config)
    if not preprocessor.columns:
        raise NotEnoughData(f"no feature varies across the {n} customers, nothing to cluster on: "
                            + "; ".join(f"{c}: {why}" for c, why in dropped.items()))
    used = [columns.index(c) for c in preprocessor.columns]
    raw = raw[:, used]
    x = preprocessor.transform_matrix(raw)

    rng = np.random.default_rng(config.random_seed)
    sample = np.sort(rng.choice(n, size=min(n, config.selection_sample_size), replace=False))
    selection = _select_k(x[sample], config)
    k = int(selection.loc[selection["is_chosen"], "k"].iloc[0])
    estimator = _fit_kmeans(x, k, config)
    labels, centroids, distances = _labels_by_size(x, estimator.cluster_centers_)

    profiles = _Profiles.of(x, raw, labels, preprocessor.columns)
    counts = profiles.counts
    cluster_ids, next_cluster_id, id_mapping = _match_previous(previous, features, order, labels, config)
    names = _persona_names(profiles, cluster_ids, config)
    personas = _personas_table(profiles, cluster_ids, names, config)

    algorithm = "minibatch_kmeans" if isinstance(estimator, MiniBatchKMeans) else "kmeans"
    params = {
        "model_version": MODEL_VERSION,
        "algorithm": algorithm,
        "k": int(len(counts)),
        "feature_columns": columns,
        "features_used": preprocessor.columns,
        "dropped_features": dropped,
        "log1p_features": [c for c, log in zip(preprocessor.columns, preprocessor.log1p, strict=True) if log],
        "fill_values": dict(zip(preprocessor.columns, preprocessor.fill_values.tolist(), strict=True)),
        "previous_cluster_ids": None if previous is None else previous.cluster_ids.tolist(),
        "settings": config.raw,
    }
    metrics = {
        "n_customers": n,
        "k": int(len(counts)),
        "silhouette": float(selection.loc[selection["is_chosen"], "silhouette"].iloc[0]),  # on the sample
        "selection_sample_size": int(len(sample)),
        "inertia": float((distances ** 2).sum()),
        "mean_squared_distance": float((distances ** 2).mean()),
        "cluster_sizes": {str(i): int(c) for i, c in zip(cluster_ids, counts, strict=True)},
        "id_mapping": id_mapping,
        "fit_seconds": round(time.perf_counter() - started, 3),
    }
    return PersonaModel(preprocessor, centroids, cluster_ids, names, next_cluster_id, personas, selection,
                        params, metrics, config.max_threads)


def _checked_columns(features: pd.DataFrame, feature_columns: Sequence[str]) -> list[str]:
    columns = list(dict.fromkeys(feature_columns))
    if not columns:
        raise ValueError("no feature columns given")
    missing = [c for c in [CUSTOMER_ID, *columns] if c not in features.columns]
    if missing:
        raise ValueError(f"features lack columns {missing}")
    if CUSTOMER_ID in columns:
        raise ValueError(f"{CUSTOMER_ID!r} is the key, not a feature")
    ids = features[CUSTOMER_ID]
    if ids.isna().any():
        raise ValueError(f"{int(ids.isna().sum())} rows have no {CUSTOMER_ID}")
    if not ids.is_unique:
        raise ValueError(f"{CUSTOMER_ID} is not unique: {int(ids.duplicated().sum())} repeated rows; "
                         "personas expect one row per customer")
    return columns


# --------------------------------------------------------------------------- choosing k and fitting


def _select_k(sample: np.ndarray, config: PersonaSettings) -> pd.DataFrame:
    """Silhouette and inertia of K-means for every k in range on the sample; the best silhouette is chosen.

    Ties go to the smaller k. k stays below the number of distinct customers in the sample.
    """
    distinct = len(np.unique(sample, axis=0))
    k_max = min(config.k_max, distinct, len(sample) - 1)
    if k_max < config.k_min:
        raise NotEnoughData(f"only {distinct} distinct feature vectors among {len(sample)} sampled customers, "
                            f"too few for k_min={config.k_min} personas")
    ks = list(range(config.k_min, k_max + 1))
    fits = [KMeans(n_clusters=k, n_init=config.selection_n_init, random_state=config.random_seed).fit(sample)
            for k in ks]
    selection = pd.DataFrame({
        "k": ks,
        "silhouette": silhouette_scores(sample, [fit.labels_ for fit in fits]),
        "inertia": [float(fit.inertia_) for fit in fits],
        "is_chosen": False,
    })
    selection.loc[selection["silhouette"].idxmax(), "is_chosen"] = True  # idxmax: first maximum, the smaller k
    return selection


def silhouette_scores(x: np.ndarray, labelings: Sequence[np.ndarray], chunk_rows: int = 512) -> list[float]:
    """Mean silhouette of each labelling of the same points, as ``sklearn.metrics.silhouette_score`` gives.

    One pass over the pairwise distances serves every labelling (sklearn recomputes them per call, which
    made choosing k ten times slower), in row chunks so memory stays at ``chunk_rows`` x n distances.
    """
    n = len(x)
    sizes_of = [int(labels.max()) + 1 for labels in labelings]
    offsets = np.cumsum([0, *sizes_of])
    membership = np.zeros((n, offsets[-1]))  # one column per cluster of every labelling
    for labels, offset in zip(labelings, offsets, strict=False):
        membership[np.arange(n), offset + labels] = 1.0
    cluster_sizes = membership.sum(axis=0)
    squared_norms = np.einsum("ij,ij->i", x, x)
    scores = [np.zeros(n) for _ in labelings]
    for start in range(0, n, chunk_rows):
        rows = slice(start, min(start + chunk_rows, n))
        squared = squared_norms[rows, None] - 2.0 * (x[rows] @ x.T) + squared_norms[None, :]
        distances = np.sqrt(np.maximum(squared, 0.0, out=squared), out=squared)
        distances[np.arange(distances.shape[0]), np.arange(rows.start, rows.stop)] = 0.0
        sums = distances @ membership  # per point, summed distance to each cluster of each labelling
        for labels, offset, k, score in zip(labelings, offsets, sizes_of, scores, strict=False):
            own = labels[rows]
            here = np.arange(len(own))
            own_size = cluster_sizes[offset + own]
            to_clusters = sums[:, offset:offset + k]
            within = to_clusters[here, own] / np.maximum(own_size - 1, 1)
            nearest_other = to_clusters / cluster_sizes[offset:offset + k]
            nearest_other[here, own] = np.inf
            between = nearest_other.min(axis=1)
            largest = np.maximum(within, between)
            defined = (own_size > 1) & (largest > 0)  # sklearn: 0 for a point alone in its cluster
            score[rows] = np.where(defined, (between - within) / np.where(defined, largest, 1.0), 0.0)
    return [float(score.mean()) for score in scores]


def _fit_kmeans(x: np.ndarray, k: int, config: PersonaSettings) -> KMeans | MiniBatchKMeans:
    if len(x) > config.minibatch_threshold_rows:
        return MiniBatchKMeans(n_clusters=k, batch_size=config.minibatch_batch_size, n_init=config.minibatch_n_init,
                               max_iter=config.minibatch_max_iter, random_state=config.random_seed,
                               compute_labels=False).fit(x)
    return KMeans(n_clusters=k, n_init=config.kmeans_n_init, max_iter=config.kmeans_max_iter,
                  random_state=config.random_seed).fit(x)


def _labels_by_size(x: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest-centroid labels with clusters renumbered largest first (empty ones dropped), centroids, distances."""
    labels, distances = pairwise_distances_argmin_min(x, centers)
    counts = np.bincount(labels, minlength=len(centers))
    keep = np.lexsort((np.arange(len(centers)), -counts))
    keep = keep[counts[keep] > 0]
    if len(keep) < 2:
        raise FitFailed(f"K-means put all {len(x)} customers in one cluster; no personas to tell apart")
    rank = np.full(len(centers), -1)
    rank[keep] = np.arange(len(keep))
    return rank[labels], centers[keep], distances


def _group_means(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    counts = np.bincount(labels, minlength=k)
    sums = np.column_stack([np.bincount(labels, weights=x[:, j], minlength=k) for j in range(x.shape[1])])
    return sums / counts[:, None]


# --------------------------------------------------------------------------- stable ids


def _match_previous(previous: PersonaModel | None, features: pd.DataFrame, order: np.ndarray, labels: np.ndarray,
                    config: PersonaSettings) -> tuple[np.ndarray, int, dict[str, Any]]:
    """Cluster ids, the next fresh id, and the record of the matching.

    A new cluster close to a previous centroid keeps that cluster's id; the others get fresh ids in order of size.
    Compared in the previous model's standardised space: the new clusters' members are transformed with the
    previous preprocessing and their mean is set against the previous centroids, so both sides use one
    scale even when this run's scaling or features changed. Pairs come from the Hungarian assignment
    (fewest unmatched, then least total distance); distance is the RMS difference per feature.
    """
    k = int(labels.max()) + 1
    first_fresh = 1 if previous is None else previous.next_cluster_id
    ids = np.zeros(k, dtype="int64")
    mapping: dict[str, Any] = {"has_previous": previous is not None, "matched": [], "new": [], "retired": []}
    if previous is not None:
        missing = [c for c in previous.feature_columns if c not in features.columns]
        if missing:
            mapping["note"] = f"previous model's features {missing} absent: every cluster gets a fresh id"
        else:
            x_previous = previous.preprocessor.transform(features)[order]
            means = _group_means(x_previous, labels, k)
            distance = cdist(means, previous.centroids) / np.sqrt(previous.centroids.shape[1])
            close = distance <= config.match_max_distance
            rows, cols = linear_sum_assignment(np.where(close, distance, _NO_MATCH))
            for row, col in zip(rows, cols, strict=True):
                if close[row, col]:
                    ids[row] = previous.cluster_ids[col]
                    mapping["matched"].append(
                        {"cluster_id": int(ids[row]), "distance": round(float(distance[row, col]), 4)}
                    )
        mapping["retired"] = sorted(int(i) for i in set(previous.cluster_ids.tolist()) - set(ids.tolist()))
    next_id = first_fresh
    for row in range(k):  # largest cluster first
        if ids[row] == 0:
            ids[row] = next_id
            mapping["new"].append(next_id)
            next_id += 1
    mapping["matched"].sort(key=lambda m: m["cluster_id"])
    return ids, next_id, mapping


# --------------------------------------------------------------------------- names and descriptions


@dataclass
class _Profiles:
    """What each cluster looks like: z-scores of its centroid, member medians, which features it mostly lacks."""

    columns: list[str]
    z: np.ndarray  # member mean in standardised space = (mean - population mean) / population sd, after transforms
    medians: np.ndarray  # member median in original units, missing values skipped
    overall: np.ndarray  # population median in original units
    mostly_missing: np.ndarray  # over half the members had no value: the filled-in value is a convention
    counts: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray, raw: np.ndarray, labels: np.ndarray, columns: list[str]) -> _Profiles:
        k = int(labels.max()) + 1
        values = pd.DataFrame(raw, columns=columns)
        return cls(
            columns=columns,
            z=_group_means(x, labels, k),
            medians=values.groupby(labels).median().to_numpy(),
            overall=values.median().to_numpy(),
            mostly_missing=_group_means(np.isnan(raw).astype(float), labels, k) > 0.5,
            counts=np.bincount(labels, minlength=k),
        )

    def themes(self, i: int, config: PersonaSettings) -> list[_Theme]:
        """What sets cluster i apart, largest |z| first, one feature per label; features it mostly lacks left out.

        Correlated features sharing a label (frequency and orders_90d: "frequent") say one thing once. Below
        the population with a member median of exactly 0, the ``zero`` words apply (no orders is not "one-time").
        """
        themes, seen = [], set()
        for j in np.argsort(-np.abs(self.z[i]), kind="stable"):
            if self.mostly_missing[i, j]:
                continue
            column, z = self.columns[j], float(self.z[i, j])
            words = config.vocabulary.get(column) or {}
            direction = "high" if z > 0 else "zero" if self.medians[i, j] == 0 and "zero" in words else "low"
            adjective = words[direction] if direction in words else f"{direction} {column.replace('_', ' ')}"
            if adjective is not None and adjective in seen:
                continue
            seen.add(adjective)
            themes.append(_Theme(int(j), column, z, adjective, words.get(f"{direction}_noun")))
        return themes


@dataclass(frozen=True)
class _Theme:
    feature: int
    column: str
    z: float
    adjective: str | None  # None: this feature never names a persona in this direction
    noun: str | None


def _persona_names(profiles: _Profiles, cluster_ids: np.ndarray, config: PersonaSettings) -> list[str]:
    """Unique names: the configured number of labels, more for clusters that would share a name, else the id."""
    names = [_persona_name(profiles, i, config.name_features, config) for i in range(len(cluster_ids))]
    labels = config.name_features
    while any(_duplicated(names)) and labels < len(profiles.columns):
        labels += 1
        names = [_persona_name(profiles, i, labels, config) if clash else name
                 for i, (name, clash) in enumerate(zip(names, _duplicated(names), strict=True))]
    return [f"{name} ({cluster_id})" if clash else name
            for name, cluster_id, clash in zip(names, cluster_ids, _duplicated(names), strict=True)]


def _duplicated(names: list[str]) -> list[bool]:
    return pd.Series(names, dtype=object).duplicated(keep=False).tolist()


def _persona_name(profiles: _Profiles, i: int, labels: int, config: PersonaSettings) -> str:
    """Adjectives of the strongest themes (|z| at least ``min_abs_z``), then the noun of the strongest one with one."""
    chosen = [t for t in profiles.themes(i, config) if abs(t.z) >= config.min_abs_z and t.adjective][:labels]
    if not chosen:
        return config.typical_name
    noun_at = next((n for n, theme in enumerate(chosen) if theme.noun), None)
    words = [theme.adjective for n, theme in enumerate(chosen) if n != noun_at]
    words.append(chosen[noun_at].noun if noun_at is not None else config.default_noun)
    name = " ".join(words)
    return name[0].upper() + name[1:]


def _personas_table(profiles: _Profiles, cluster_ids: np.ndarray, names: list[str],
                    config: PersonaSettings) -> pd.DataFrame:
    """The body of ml.personas: one row per cluster, typical values as member medians in original units."""
    columns = profiles.columns
    rows = []
    for i, cluster_id in enumerate(cluster_ids):
        strongest = np.argsort(-np.abs(profiles.z[i]), kind="stable")
        rows.append({
            "cluster_id": int(cluster_id),
            "persona_name": names[i],
            "description": _description(profiles, i, config),
            "customer_count": int(profiles.counts[i]),
            "customer_share": float(profiles.counts[i] / profiles.counts.sum()),
            "centroid": json.dumps({c: _json_number(v) for c, v in zip(columns, profiles.medians[i], strict=True)}),
            "distinguishing_features": json.dumps({columns[j]: round(float(profiles.z[i, j]), 3) for j in strongest}),
        })
    return pd.DataFrame(rows).sort_values("cluster_id", ignore_index=True)


def _description(profiles: _Profiles, i: int, config: PersonaSettings) -> str:
    """A sentence on the strongest themes of the cluster, with member vs population medians in original units."""
    parts = []
    for theme in profiles.themes(i, config)[: config.describe_features]:
        size = abs(theme.z)
        degree = "much " if size >= config.strong_abs_z else "" if size >= config.min_abs_z else "slightly "
        title = (config.vocabulary.get(theme.column) or {}).get("title") or theme.column.replace("_", " ")
        j = theme.feature
        parts.append(f"{degree}{'higher' if theme.z > 0 else 'lower'} {title} (median "
                     f"{_format_number(profiles.medians[i, j])} vs {_format_number(profiles.overall[j])} overall)")
    if not parts:
        return "No recorded feature sets these customers apart."
    sentence = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return sentence[0].upper() + sentence[1:] + "."


def _format_number(value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _json_number(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None
