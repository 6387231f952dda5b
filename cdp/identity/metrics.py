"""Pairwise precision, recall and F1 of a clustering against the truth, computed in DuckDB.

A pair of records is predicted to match when they share a predicted cluster and
truly matches when they share a true entity. Counting pairs through cluster
sizes (n choose 2) keeps this linear in the number of records, so a million
records evaluate in seconds without enumerating pairs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import duckdb


@dataclass(frozen=True)
class ClusterMetrics:
    records: int
    predicted_clusters: int
    true_entities: int
    predicted_pairs: int
    true_pairs: int
    correct_pairs: int
    largest_predicted_cluster: int
    largest_true_entity: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


def pairwise_metrics(con: duckdb.DuckDBPyConnection, relation: str) -> ClusterMetrics:
    """``relation`` has one row per record with columns ``predicted_cluster`` and ``true_entity``."""
    row = con.execute(
        f"""
        with records as (select predicted_cluster, true_entity from {relation}),
        predicted as (select count(*) as n from records group by predicted_cluster),
        truth as (select count(*) as n from records group by true_entity),
        both_ as (select count(*) as n from records group by predicted_cluster, true_entity)
        select
            (select count(*) from records),
            (select count(*) from predicted),
            (select count(*) from truth),
            (select coalesce(sum(n * (n - 1) // 2), 0) from predicted),
            (select coalesce(sum(n * (n - 1) // 2), 0) from truth),
            (select coalesce(sum(n * (n - 1) // 2), 0) from both_),
            (select coalesce(max(n), 0) from predicted),
            (select coalesce(max(n), 0) from truth)
        """
    ).fetchall()[0]
    return ClusterMetrics(*(int(v) for v in row))
