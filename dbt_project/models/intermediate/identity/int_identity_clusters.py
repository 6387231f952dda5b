"""Customer records grouped into clusters (cdp.identity.clustering): one row per record
with its cluster's anchor (the oldest record) and why links of its component were
left out, if any were.

Cannot-link constraints: vetoed pairs that share an identifier, people known to
share an e-mail or phone. Other vetoed pairs only do not link directly: on FEBRL3,
where typists mangle first names, keeping every vetoed pair apart cost recall
(F1 0.991 -> 0.985) for no precision.

Arrays in and out (cdp.warehouse_frames, DuckDB or Spark), no pandas (its import alone
costs more than the clustering on small sets); the anchors and sizes are SQL."""

import numpy as np

from cdp.identity.clustering import LEFT_OUT_REASONS, cluster
from cdp.warehouse_frames import arrays_table, column_arrays, run_sql


def model(dbt, session):
    dbt.config(materialized="table")
    records = dbt.ref("int_identity_match_records")
    # in rank order: a record's index is then its rank - 1, whatever order the rows come in, so
    # ties between equally weighted links break the same way every run (stable customer ids)
    ranks = column_arrays(records, ["record_rank"], order_by="record_rank")["record_rank"].astype(np.int64)
    links = column_arrays(dbt.ref("int_identity_links"),
                          ["record_rank_l", "record_rank_r", "is_strong", "match_weight"])
    cannot_link = column_arrays(dbt.ref("int_identity_scored_pairs"), ["record_rank_l", "record_rank_r"],
                                where="is_vetoed and shared_identifier is not null")

    n = len(ranks)
    rank_to_index = np.empty(n + 1, dtype=np.int64)  # record ranks are 1..n
    rank_to_index[ranks] = np.arange(n)

    def ends(pairs: dict) -> tuple[np.ndarray, np.ndarray]:
        return (rank_to_index[np.asarray(pairs["record_rank_l"], dtype=np.int64)],
                rank_to_index[np.asarray(pairs["record_rank_r"], dtype=np.int64)])

    left, right = ends(links)
    result = cluster(n, left, right, np.asarray(links["is_strong"], dtype=bool),
                     weight=np.asarray(links["match_weight"], dtype=float), cannot_link=ends(cannot_link))
    # both ends of a link left out belong to clusters kept apart (a veto outranks a weak link)
    split_reason = np.full(n, None, dtype=object)
    for code, reason in sorted(LEFT_OUT_REASONS.items(), reverse=True):
        dropped = result.left_out == code
        split_reason[np.isin(result.labels, np.concatenate([result.labels[left[dropped]],
                                                            result.labels[right[dropped]]]))] = reason
    arrays_table(session, "identity_cluster_arrays",
                 {"record_rank": ranks, "component": result.labels, "split_reason": split_reason})
    return run_sql(session, """
        select
            records.customer_record_id,
            clusters.record_rank,
            min(clusters.record_rank) over (partition by clusters.component) as anchor_record_rank,
            count(*) over (partition by clusters.component) as cluster_records,
            cast(clusters.split_reason as string) as split_reason
        from identity_match_records as records
        inner join identity_cluster_arrays as clusters
            on records.record_rank = clusters.record_rank
        order by clusters.record_rank
    """, {"identity_match_records": records})
