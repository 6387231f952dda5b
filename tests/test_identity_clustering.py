"""Clustering records into customers: links added strongest first, refusing joins that chain people."""

import numpy as np

from cdp.identity.clustering import KEPT, VETOED_PAIR, WEAK_LINK_BETWEEN_CUSTOMERS, cluster


def groups(result) -> set[frozenset[int]]:
    found: dict[int, set[int]] = {}
    for record, label in enumerate(result.labels):
        found.setdefault(int(label), set()).add(record)
    return {frozenset(g) for g in found.values()}


def links(*edges):
    left, right, strong = zip(*edges, strict=True)
    return np.array(left), np.array(right), np.array(strong)


def test_strong_links_chain_into_one_customer():
    result = cluster(5, *links((0, 1, True), (1, 2, True), (3, 4, True)))
    assert groups(result) == {frozenset({0, 1, 2}), frozenset({3, 4})}
    assert (result.left_out == KEPT).all()


def test_weak_link_never_merges_two_customers_held_by_strong_links():
    # 0-1-2 and 3-4 hold together; weak links 2-3 and 1-4 are all that joins them
    result = cluster(5, *links((0, 1, True), (1, 2, True), (3, 4, True), (2, 3, False), (1, 4, False)))
    assert groups(result) == {frozenset({0, 1, 2}), frozenset({3, 4})}
    assert result.left_out.tolist() == [KEPT, KEPT, KEPT, WEAK_LINK_BETWEEN_CUSTOMERS, WEAK_LINK_BETWEEN_CUSTOMERS]


def test_weak_link_attaches_a_lone_record_and_joins_loose_records():
    result = cluster(5, *links((0, 1, True), (1, 2, False), (3, 4, False)))
    assert groups(result) == {frozenset({0, 1, 2}), frozenset({3, 4})}
    assert (result.left_out == KEPT).all()


def test_weak_link_inside_a_customer_stays():
    result = cluster(4, *links((0, 1, True), (0, 2, True), (1, 3, True), (2, 3, False)))
    assert groups(result) == {frozenset({0, 1, 2, 3})}
    assert (result.left_out == KEPT).all()


def test_strong_link_between_groups_merges_them():
    result = cluster(4, *links((0, 1, True), (2, 3, True), (1, 2, True)))
    assert groups(result) == {frozenset({0, 1, 2, 3})}


def test_record_weakly_linked_to_two_customers_joins_the_better_match():
    left, right, strong = links((0, 1, True), (3, 4, True), (1, 2, False), (2, 3, False))
    result = cluster(5, left, right, strong, weight=np.array([20.0, 20.0, 7.0, 9.0]))
    assert groups(result) == {frozenset({0, 1}), frozenset({2, 3, 4})}
    assert result.left_out.tolist() == [KEPT, KEPT, WEAK_LINK_BETWEEN_CUSTOMERS, KEPT]


def test_records_that_must_not_join_are_kept_apart():
    # 0 and 2 share an e-mail with 1 but were vetoed (different people); 1 resembles 0 more
    left, right, strong = links((0, 1, True), (1, 2, True), (2, 3, True))
    result = cluster(4, left, right, strong, weight=np.array([12.0, 8.0, 20.0]),
                     cannot_link=(np.array([0]), np.array([2])))
    assert groups(result) == {frozenset({0, 1}), frozenset({2, 3})}
    assert result.left_out.tolist() == [KEPT, VETOED_PAIR, KEPT]


def test_cannot_link_holds_through_a_long_chain_and_for_the_whole_group():
    # 0-1-2-3-4 a chain; 0 and 4 must not join; the weakest link (2-3) goes
    left, right, strong = links((0, 1, True), (1, 2, True), (2, 3, True), (3, 4, True))
    result = cluster(5, left, right, strong, weight=np.array([9.0, 8.0, 3.0, 7.0]),
                     cannot_link=(np.array([4]), np.array([0])))
    assert groups(result) == {frozenset({0, 1, 2}), frozenset({3, 4})}
    # 1 and 3 are not a cannot-link pair themselves, but their groups hold one
    left, right, strong = links((0, 1, True), (3, 4, True), (1, 3, True))
    result = cluster(5, left, right, strong, weight=np.array([5.0, 5.0, 1.0]),
                     cannot_link=(np.array([0]), np.array([4])))
    assert groups(result) == {frozenset({0, 1}), frozenset({2}), frozenset({3, 4})}


def test_cannot_link_pair_in_different_components_changes_nothing():
    left, right, strong = links((0, 1, True), (2, 3, True))
    result = cluster(4, left, right, strong, cannot_link=(np.array([0]), np.array([3])))
    assert groups(result) == {frozenset({0, 1}), frozenset({2, 3})}
    assert (result.left_out == KEPT).all()


def test_components_are_resolved_independently_of_each_other():
    # a careful component (weak link) next to plain ones gives the same groups as alone
    edges = [(0, 1, True), (1, 2, True), (3, 4, True), (2, 3, False), (5, 6, True), (6, 7, True)]
    together = groups(cluster(8, *links(*edges)))
    assert together == {frozenset({0, 1, 2}), frozenset({3, 4}), frozenset({5, 6, 7})}


def test_no_links_leaves_every_record_alone():
    result = cluster(3, np.array([], dtype=int), np.array([], dtype=int), np.array([], dtype=bool))
    assert groups(result) == {frozenset({0}), frozenset({1}), frozenset({2})}


def test_the_order_links_come_in_does_not_change_the_customers():
    # equal weights everywhere: ties break by record, not by row order (stable ids across runs)
    edges = [(0, 1, True), (1, 2, True), (2, 3, True), (3, 4, False), (4, 5, True), (5, 6, False), (6, 7, True)]
    cannot = (np.array([0, 4]), np.array([3, 7]))
    expected = groups(cluster(8, *links(*edges), cannot_link=cannot))
    rng = np.random.default_rng(7)
    for _ in range(20):
        shuffled = [edges[i] for i in rng.permutation(len(edges))]
        assert groups(cluster(8, *links(*shuffled), cannot_link=cannot)) == expected
