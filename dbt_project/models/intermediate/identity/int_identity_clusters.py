"""Customer records grouped into clusters (cdp.identity.clustering): one row per record
with its cluster's anchor (the oldest record) and whether a weak bridge was cut."""

import numpy as np
import pandas as pd

from cdp.identity.clustering import cluster


def model(dbt, session):
    dbt.config(materialized="table")
    min_side = int(dbt.config.get("min_side_records") or 2)
    records = dbt.ref("int_identity_match_records").project("customer_record_id, record_rank").df()
    links = dbt.ref("int_identity_links").project("record_rank_l, record_rank_r, is_strong").df()

    n = len(records)
    rank_to_index = np.empty(n + 1, dtype=np.int64)  # record ranks are 1..n
    ranks = records["record_rank"].to_numpy(dtype=np.int64)
    rank_to_index[ranks] = np.arange(n)
    left = rank_to_index[links["record_rank_l"].to_numpy(dtype=np.int64)]
    right = rank_to_index[links["record_rank_r"].to_numpy(dtype=np.int64)]
    result = cluster(n, left, right, links["is_strong"].to_numpy(dtype=bool), min_side)
    frame = pd.DataFrame({"customer_record_id": records["customer_record_id"], "record_rank": ranks,
                          "component": result.labels})
    grouped = frame.groupby("component")["record_rank"]
    frame["anchor_record_rank"] = grouped.transform("min")
    frame["cluster_records"] = grouped.transform("size")
    # both ends of a cut link belong to components that were split
    split_components = set(result.labels[left[result.cut]]) | set(result.labels[right[result.cut]])
    frame["split_at_weak_bridge"] = frame["component"].isin(split_components)
    return frame.drop(columns="component")
