"""Training the match weights recovers known m, u and prior from simulated pairs."""

import json

import numpy as np
import pandas as pd
import pytest

from cdp.identity.training import match_weights_table, train

COMPARISONS = ["first_name", "birth_date", "postcode"]
LABELS = {c: ["disagree", "close", "exact"] for c in COMPARISONS}
M = {"first_name": [0.05, 0.15, 0.80], "birth_date": [0.03, 0.07, 0.90], "postcode": [0.10, 0.10, 0.80]}
U = {"first_name": [0.97, 0.02, 0.01], "birth_date": [0.995, 0.004, 0.001], "postcode": [0.98, 0.015, 0.005]}


def simulate(rng, matches: int, non_matches: int) -> pd.DataFrame:
    columns = {}
    for c in COMPARISONS:
        columns[c] = np.concatenate([
            rng.choice(3, size=matches, p=M[c]), rng.choice(3, size=non_matches, p=U[c])
        ])
    return pd.DataFrame(columns)


def patterns(sample: str, frame: pd.DataFrame, untrainable: list[str], records: int) -> pd.DataFrame:
    counted = frame.value_counts().rename("pair_count").reset_index()
    counted = counted.rename(columns={c: f"gamma_{c}" for c in COMPARISONS})
    counted["sample"] = sample
    counted["untrainable_comparisons"] = [untrainable] * len(counted)
    counted["record_count"] = records
    counted["level_labels"] = json.dumps(LABELS)
    return counted


@pytest.fixture(scope="module")
def training_data():
    rng = np.random.default_rng(7)
    records = 20_000
    all_pairs = records * (records - 1) / 2
    true_matches = 8_000  # prior = 8000 / all pairs
    frames = [patterns("random", simulate(rng, 0, 400_000), [], records)]
    # candidates: nearly every match, plus non-matches that blocking let through
    candidates = simulate(rng, true_matches, 40_000)
    frames.append(patterns("candidates", candidates, [], records))
    # a rule blocking on birth date: its pairs agree on birth date, so only the others train
    on_birth_date = simulate(rng, 6_000, 20_000)
    on_birth_date["birth_date"] = 2
    frames.append(patterns("rule:birth_date", on_birth_date, ["birth_date"], records))
    on_postcode = simulate(rng, 6_000, 20_000)
    on_postcode["postcode"] = 2
    frames.append(patterns("rule:postcode", on_postcode, ["postcode"], records))
    return pd.concat(frames, ignore_index=True), true_matches / all_pairs


def test_u_m_and_prior_are_recovered(training_data):
    data, true_prior = training_data
    model, sources = train(data)
    for c in COMPARISONS:
        assert model.u[c] == pytest.approx(U[c], abs=0.003)
        assert model.m[c] == pytest.approx(M[c], abs=0.03)
    assert sources["birth_date"] == ["postcode"]  # not from its own blocking rule
    assert sorted(sources["first_name"]) == ["birth_date", "postcode"]
    # matches with weak evidence get a low posterior, so the estimate runs a little
    # low (here about -18 %, a third of a bit of match weight)
    assert model.prior == pytest.approx(true_prior, rel=0.25)


def test_weights_table_has_every_level_with_its_weight(training_data):
    data, _ = training_data
    table = pd.DataFrame(match_weights_table(data))
    assert len(table) == 9 and set(table["comparison"]) == set(COMPARISONS)
    exact = table[(table["comparison"] == "birth_date") & (table["level"] == 2)].iloc[0]
    assert exact["level_label"] == "exact"
    assert exact["match_weight"] == pytest.approx(np.log2(exact["m_probability"] / exact["u_probability"]))
    assert exact["match_weight"] > 8  # 0.9 / 0.001
    disagree = table[(table["comparison"] == "birth_date") & (table["level"] == 0)].iloc[0]
    assert disagree["match_weight"] < -4


def test_arrays_train_the_same_model_as_a_data_frame(training_data):
    # the dbt model passes DuckDB's fetchnumpy arrays, not a data frame
    data, _ = training_data
    from_frame = match_weights_table(data)
    from_arrays = match_weights_table({c: data[c].to_numpy() for c in data.columns})
    for column, values in from_frame.items():
        assert from_arrays[column].tolist() == values.tolist()
