"""Why are these records one customer? Records and links of a customer, and the chain of
links that joins two records, read from ``marts.customer_identity_links``."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class Link:
    from_record: str
    to_record: str
    rule: str
    field: str
    value_digest: str | None
    probability: float


@dataclass
class CustomerExplanation:
    customer_id: str
    records: list[dict]
    links: list[Link]

    def path(self, record_a: str, record_b: str) -> list[Link] | None:
        """The shortest chain of links from one record to another (None if they are not joined)."""
        neighbours: dict[str, list[tuple[str, Link]]] = {}
        for link in self.links:
            neighbours.setdefault(link.from_record, []).append((link.to_record, link))
            neighbours.setdefault(link.to_record, []).append((link.from_record, link))
        came_from: dict[str, tuple[str, Link] | None] = {record_a: None}
        queue = deque([record_a])
        while queue:
            current = queue.popleft()
            if current == record_b:
                chain = []
                while came_from[current] is not None:
                    previous, link = came_from[current]
                    chain.append(link)
                    current = previous
                return chain[::-1]
            for nxt, link in neighbours.get(current, []):
                if nxt not in came_from:
                    came_from[nxt] = (current, link)
                    queue.append(nxt)
        return None


def mask(value: object) -> str:
    """Enough to recognise a value, not enough to read it: 'jane.doe@x.com' -> 'j***@x.com'."""
    if value is None:
        return ""
    text = str(value)
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    return text[:1] + "***" + (text[-2:] if len(text) > 6 else "")


def record_id_for(con: duckdb.DuckDBPyConnection, source_system: str, source_customer_id: str) -> tuple[str, str]:
    """(customer_record_id, customer_id) of a source record, or LookupError."""
    rows = con.execute(
        "select customer_record_id, customer_id from marts.customer_identity_map "
        "where source_system = ? and source_customer_id = ?",
        [source_system, source_customer_id],
    ).fetchall()
    if not rows:
        raise LookupError(f"no source record {source_system}:{source_customer_id} in marts.customer_identity_map")
    return rows[0]


def explain_customer(con: duckdb.DuckDBPyConnection, customer_id: str, show_personal_data: bool = False):
    records = con.execute(
        """
        select m.customer_record_id, m.source_system, m.source_customer_id, m.matched_on,
               s.email, s.phone, s.first_name, s.last_name, s.postcode, s.loyalty_id
        from marts.customer_identity_map m
        left join staging.stg_landing__customers s using (customer_record_id)
        where m.customer_id = ?
        order by m.source_system, m.source_customer_id
        """,
        [customer_id],
    ).df()
    if records.empty:
        raise LookupError(f"no customer {customer_id} in marts.customer_identity_map")
    if not show_personal_data:
        for column in ("email", "phone", "first_name", "last_name", "postcode", "loyalty_id"):
            records[column] = records[column].map(mask)
    links = [
        Link(*row)
        for row in con.execute(
            """
            select from_customer_record_id, to_customer_record_id, link_rule, agreeing_field,
                   agreeing_value_digest, match_probability
            from marts.customer_identity_links where customer_id = ?
            order by 1, 2, 3
            """,
            [customer_id],
        ).fetchall()
    ]
    return CustomerExplanation(customer_id, records.to_dict("records"), links)


def pair_verdict(con: duckdb.DuckDBPyConnection, record_a: str, record_b: str) -> dict | None:
    """How the model scored two records, if they were ever compared (None: no blocking rule paired them)."""
    # scored pairs are keyed by the records' ranks, which change between runs: look them up
    ranks = sorted(
        rank for (rank,) in con.execute(
            "select record_rank from intermediate.int_identity_match_records where customer_record_id in (?, ?)",
            [record_a, record_b],
        ).fetchall()
    )
    if len(ranks) != 2:
        return None
    # every pair's score, levels and blocking rules are in the pair scores (a view over the
    # candidate pairs): the ranks as constants reach its scan of the blocked pairs, so one pair is
    # scored. Scored pairs hold the decision on the pairs that link or proposed a link.
    pair = con.execute(
        """
        select scores.* exclude (not_linked_reason), scored.link_rule,
               coalesce(scored.not_linked_reason, scores.not_linked_reason) as not_linked_reason
        from intermediate.int_identity_pair_scores as scores
        left join intermediate.int_identity_scored_pairs as scored
            on scored.record_rank_l = scores.record_rank_l
            and scored.record_rank_r = scores.record_rank_r
        where scores.record_rank_l = ? and scores.record_rank_r = ?
        """,
        ranks,
    ).df()
    if pair.empty:
        return None
    row = pair.iloc[0]
    labels = {
        (comparison, level): label
        for comparison, level, label in con.execute(
            "select comparison, level, level_label from intermediate.int_identity_match_weights"
        ).fetchall()
    }
    agreeing = [
        f"{column.removeprefix('gamma_')}:{labels.get((column.removeprefix('gamma_'), int(row[column])), row[column])}"
        for column in pair.columns
        if column.startswith("gamma_") and row[column] >= 1
    ]
    rules = con.execute(
        "select string_agg(rule_name, ', ' order by rule_bit) from intermediate.int_identity_blocking_rules "
        "where ? & rule_bit <> 0",
        [int(row["blocking_mask"])],
    ).fetchall()[0][0]
    return {
        "link_rule": row["link_rule"],
        "match_probability": float(row["match_probability"]),
        "match_weight": float(row["match_weight"]),
        "agreeing": ", ".join(agreeing),
        "not_linked_reason": row["not_linked_reason"],
        "blocked_by": rules,
    }


def id_history(con: duckdb.DuckDBPyConnection, customer_id: str) -> list[tuple]:
    """Merges and splits that touched a customer: (time, change, record, from id, to id, reason)."""
    return con.execute(
        """
        select a.assigned_at, a.change_type, m.source_system || ':' || m.source_customer_id,
               a.previous_customer_id, a.customer_id, a.change_reason
        from intermediate.int_customer_id_assignments a
        join marts.customer_identity_map m using (customer_record_id)
        where a.change_type <> 'new_record' and ? in (a.customer_id, a.previous_customer_id)
        order by a.assigned_at, 3
        """,
        [customer_id],
    ).fetchall()
