from __future__ import annotations

from itertools import combinations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp.identity.metrics import pairwise_metrics


def _metrics(rows):
    con = duckdb.connect()
    con.execute("create table r (record varchar, predicted_cluster varchar, true_entity varchar)")
    if rows:
        con.executemany("insert into r values (?, ?, ?)", rows)
    return pairwise_metrics(con, "r")


def test_worked_example():
    # Truth: {a, b, c} and {d, e}. Prediction merges c with d and e, keeps a, b together.
    m = _metrics([("a", "1", "X"), ("b", "1", "X"), ("c", "2", "X"), ("d", "2", "Y"), ("e", "2", "Y")])
    # predicted pairs: ab, cd, ce, de = 4; true pairs: ab, ac, bc, de = 4; correct: ab, de = 2
    assert (m.predicted_pairs, m.true_pairs, m.correct_pairs) == (4, 4, 2)
    assert m.precision == pytest.approx(0.5) and m.recall == pytest.approx(0.5) and m.f1 == pytest.approx(0.5)
    assert (m.largest_predicted_cluster, m.largest_true_entity) == (3, 3)


def test_singletons_predict_no_pairs():
    m = _metrics([("a", "1", "X"), ("b", "2", "X")])
    assert (m.precision, m.recall, m.f1) == (1.0, 0.0, 0.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=0, max_size=25))
def test_matches_brute_force_pair_counting(assignments):
    rows = [(str(i), str(p), str(t)) for i, (p, t) in enumerate(assignments)]
    m = _metrics(rows)
    pairs = list(combinations(rows, 2))
    predicted = {(a[0], b[0]) for a, b in pairs if a[1] == b[1]}
    true = {(a[0], b[0]) for a, b in pairs if a[2] == b[2]}
    assert (m.predicted_pairs, m.true_pairs, m.correct_pairs) == (len(predicted), len(true), len(predicted & true))
