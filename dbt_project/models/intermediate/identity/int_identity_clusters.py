"""Customer records grouped into clusters (cdp.identity.clustering): one row per record
with its cluster's anchor (the oldest record) and why links of its component were
left out, if any were.

Cannot-link constraints: vetoed pairs that share an identifier, people known to
share an e-mail or phone. Other vetoed pairs only do not link directly: on FEBRL3,
where typists mangle first names, keeping every vetoed pair apart cost recall
(F1 0.991 -> 0.985) for no precision."""

import numpy as np
import pandas as pd

from cdp.identity.clustering import LEFT_OUT_REASONS, cluster


def model(dbt, session):
    dbt.config(materialized="table")
    # in rank order: a record's index is then its rank - 1, whatever order the rows come in, so
    # ties between equally weighted links break the same way every run (stable customer ids)
    records = dbt.ref("int_identity_match_records").project("customer_record_id, record_rank").order("record_rank").df()
    links = dbt.ref("int_identity_links").project("record_rank_l, record_rank_r, is_strong, match_weight").df()
    cannot_link = (dbt.ref("int_identity_scored_pairs").filter("is_vetoed and shared_identifier is not null")
                   .project("record_rank_l, record_rank_r").df())

    n = len(records)
    rank_to_index = np.empty(n + 1, dtype=np.int64)  # record ranks are 1..n
    ranks = records["record_rank"].to_numpy(dtype=np.int64)
    rank_to_index[ranks] = np.arange(n)

    def ends(pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return (rank_to_index[pairs["record_rank_l"].to_numpy(dtype=np.int64)],
                rank_to_index[pairs["record_rank_r"].to_numpy(dtype=np.int64)])

    left, right = ends(links)
    result = cluster(n, left, right, links["is_strong"].to_numpy(dtype=bool),
                     weight=links["match_weight"].to_numpy(dtype=float), cannot_link=ends(cannot_link))
    frame = pd.DataFrame({"customer_record_id": records["customer_record_id"], "record_rank": ranks,
                          "component": result.labels})
    grouped = frame.groupby("component")["record_rank"]
    frame["anchor_record_rank"] = grouped.transform("min")
    frame["cluster_records"] = grouped.transform("size")
    # both ends of a link left out belong to clusters kept apart (a veto outranks a weak link)
    frame["split_reason"] = None
    for code, reason in sorted(LEFT_OUT_REASONS.items(), reverse=True):
        dropped = result.left_out == code
        split = set(result.labels[left[dropped]]) | set(result.labels[right[dropped]])
        frame.loc[frame["component"].isin(split), "split_reason"] = reason
    return frame.drop(columns="component")
