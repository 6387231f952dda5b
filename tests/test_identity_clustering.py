"""Clustering records into customers: components, and splitting at weak bridges."""

import numpy as np

from cdp.identity.clustering import cluster


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
    assert not result.cut.any()


def test_weak_bridge_between_two_groups_is_cut():
    # 0-1-2 and 3-4 hold together; a single weak link 2-3 is all that joins them
    result = cluster(5, *links((0, 1, True), (1, 2, True), (3, 4, True), (2, 3, False)))
    assert groups(result) == {frozenset({0, 1, 2}), frozenset({3, 4})}
    assert result.cut.tolist() == [False, False, False, True]


def test_weak_link_to_a_lone_record_is_an_ordinary_match():
    result = cluster(3, *links((0, 1, True), (1, 2, False)))
    assert groups(result) == {frozenset({0, 1, 2})}
    assert not result.cut.any()


def test_weak_link_inside_a_well_connected_group_stays():
    # 2-3 is weak but 0-2-3-1-0 is a cycle: not a bridge
    result = cluster(4, *links((0, 1, True), (0, 2, True), (1, 3, True), (2, 3, False)))
    assert groups(result) == {frozenset({0, 1, 2, 3})}


def test_strong_bridge_between_groups_stays():
    result = cluster(4, *links((0, 1, True), (2, 3, True), (1, 2, True)))
    assert groups(result) == {frozenset({0, 1, 2, 3})}


def test_record_between_two_groups_on_weak_links_stands_alone():
    # groups {0,1} and {3,4}, record 2 weakly linked to both: it is not clear whose it is
    result = cluster(5, *links((0, 1, True), (3, 4, True), (1, 2, False), (2, 3, False)))
    assert groups(result) == {frozenset({0, 1}), frozenset({2}), frozenset({3, 4})}


def test_no_links_leaves_every_record_alone():
    result = cluster(3, np.array([], dtype=int), np.array([], dtype=int), np.array([], dtype=bool))
    assert groups(result) == {frozenset({0}), frozenset({1}), frozenset({2})}
