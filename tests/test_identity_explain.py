from __future__ import annotations

from cdp.identity.explain import CustomerExplanation, Link, mask


def _link(a, b, field="email"):
    return Link(a, b, f"shared_{field}", field, "abc", 1.0)


def test_path_follows_the_shortest_chain_of_links():
    explanation = CustomerExplanation(
        "c1", [], [_link("a", "b"), _link("b", "c", "phone"), _link("a", "c", "loyalty_id"), _link("c", "d")]
    )
    assert [(x.from_record, x.to_record) for x in explanation.path("a", "d")] == [("a", "c"), ("c", "d")]
    assert explanation.path("d", "b") is not None  # links are undirected
    assert explanation.path("a", "a") == []
    assert explanation.path("a", "zzz") is None


def test_mask_hides_most_of_a_value():
    assert mask("jane.doe@example.com") == "j***@example.com"
    assert mask("+447911123456") == "+***56"
    assert mask("Ann") == "A***"
    assert mask(None) == ""
