"""Lifetime value: RFM summary, BG/NBD and Gamma-Gamma fits, CLV; CDNOW reproduced through the landing contract."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.special import beta as beta_fn
from scipy.special import gamma as gamma_fn

from ml.clv import (
    BetaGeoModel,
    FitFailed,
    GammaGammaModel,
    NotEnoughData,
    bgnbd_log_likelihood,
    calibration_holdout_summary,
    customer_lifetime_value,
    gamma_gamma_log_likelihood,
    rfm_summary,
)


def transactions(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount"])


def simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, T: float, seed: int) -> pd.DataFrame:
    """Customers from the BG/NBD story, all first buying at time 0 and observed for T units."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(r, 1 / alpha, n)
    dropout = rng.beta(a, b, n)
    rows = []
    for rate, p in zip(rates, dropout, strict=True):
        t, x, last = 0.0, 0, 0.0
        while True:
            t += rng.exponential(1 / rate)
            if t > T:
                break
            x, last = x + 1, t
            if rng.random() < p:
                break
        rows.append((x, last, T))
    return pd.DataFrame(rows, columns=["frequency", "recency", "T"])


# --------------------------------------------------------------------------- summary


def test_summary_merges_same_day_purchases_and_measures_in_weeks():
    data = transactions([
        ("a", "2024-01-01T09:00:00Z", 10.0),
        ("a", "2024-01-01T18:00:00Z", 5.0),  # same day: one purchase of 15
        ("a", "2024-01-08T12:00:00Z", 20.0),
        ("a", "2024-01-15T12:00:00Z", 30.0),
        ("a", "2024-02-01T12:00:00Z", 99.0),  # after the end: ignored
        ("b", "2024-01-15T08:00:00Z", 7.0),
        ("b", "2024-01-15T20:00:00Z", 8.0),
        ("c", "2024-02-02T12:00:00Z", 1.0),  # first seen after the end: not in the summary
    ])
    summary = rfm_summary(data, "2024-01-29", time_unit="W")
    assert list(summary.index) == ["a", "b"]
    a, b = summary.loc["a"], summary.loc["b"]
    assert (a.frequency, a.recency, a["T"], a.monetary) == (2, 2.0, 4.0, 25.0)
    assert (b.frequency, b.recency, b["T"], b.monetary) == (0, 0.0, 2.0, 0.0)


def test_summary_in_days_and_the_end_date_is_inclusive():
    data = transactions([("a", "2024-01-01T12:00:00Z", 1.0), ("a", "2024-01-10T23:59:00Z", 3.0)])
    a = rfm_summary(data, "2024-01-10", time_unit="D").loc["a"]
    assert (a.frequency, a.recency, a["T"], a.monetary) == (1, 9.0, 9.0, 3.0)


def test_calibration_holdout_counts_purchase_days_after_calibration():
    data = transactions([
        ("a", "2024-01-01T12:00:00Z", 1.0),
        ("a", "2024-01-20T10:00:00Z", 1.0),
        ("a", "2024-01-20T11:00:00Z", 1.0),
        ("a", "2024-02-05T12:00:00Z", 1.0),
        ("a", "2024-03-05T12:00:00Z", 1.0),  # after the holdout
        ("b", "2024-01-02T12:00:00Z", 1.0),
    ])
    summary = calibration_holdout_summary(data, "2024-01-14", "2024-02-11", time_unit="W")
    assert summary.loc["a", "frequency"] == 0
    assert summary.loc["a", "frequency_holdout"] == 2
    assert summary.loc["b", "frequency_holdout"] == 0
    assert summary.loc["a", "duration_holdout"] == 4.0


def test_summary_rejects_an_unknown_time_unit_and_empty_windows():
    data = transactions([("a", "2024-01-01T12:00:00Z", 1.0)])
    with pytest.raises(ValueError, match="time_unit"):
        rfm_summary(data, "2024-01-10", time_unit="M")
    with pytest.raises(NotEnoughData, match="no purchases"):
        rfm_summary(data, "2023-12-31")


# --------------------------------------------------------------------------- BG/NBD


def test_bgnbd_log_likelihood_matches_the_paper_formula():
    params = (0.5, 3.0, 0.8, 2.5)
    r, alpha, a, b = params
    for x, t_x, T in [(0, 0.0, 10.0), (1, 4.0, 10.0), (5, 9.5, 12.0)]:
        common = gamma_fn(r + x) * alpha**r / gamma_fn(r)
        direct = beta_fn(a, b + x) / beta_fn(a, b) * common / (alpha + T) ** (r + x)
        if x > 0:
            direct += beta_fn(a + 1, b + x - 1) / beta_fn(a, b) * common / (alpha + t_x) ** (r + x)
        assert bgnbd_log_likelihood(params, [x], [t_x], [T])[0] == pytest.approx(np.log(direct), rel=1e-12)


def test_bgnbd_fit_recovers_simulated_parameters():
    truth = {"r": 0.8, "alpha": 5.0, "a": 0.9, "b": 3.0}
    data = simulate_bgnbd(5000, **truth, T=52.0, seed=3)
    model = BetaGeoModel().fit(data.frequency, data.recency, data["T"])
    for name, value in truth.items():
        assert model.params_[name] == pytest.approx(value, rel=0.25), name
    assert np.isfinite(model.report_.log_likelihood)


@pytest.fixture(scope="module")
def fitted() -> BetaGeoModel:
    data = simulate_bgnbd(2000, r=0.5, alpha=4.0, a=0.8, b=2.5, T=39.0, seed=1)
    return BetaGeoModel().fit(data.frequency, data.recency, data["T"])


def test_expected_purchases_grow_with_time(fitted):
    horizon = np.array([0.0, 1.0, 5.0, 20.0, 52.0, 104.0])
    unconditional = fitted.expected_repeat_purchases(horizon)
    conditional = fitted.conditional_expected_purchases(horizon, 3, 30.0, 39.0)
    assert unconditional[0] == 0 and conditional[0] == 0
    assert np.all(np.diff(unconditional) > 0)
    assert np.all(np.diff(conditional) > 0)


def test_probability_alive_is_one_without_repeat_purchases_and_falls_with_silence(fitted):
    assert fitted.probability_alive([0, 0], [0.0, 0.0], [1.0, 100.0]).tolist() == [1.0, 1.0]
    silence = fitted.probability_alive([4] * 4, [10.0] * 4, [10.0, 20.0, 40.0, 80.0])
    # Bought just now: the only doubt left is dropping out right after that purchase.
    a, b = fitted.params_["a"], fitted.params_["b"]
    assert silence[0] == pytest.approx(1 / (1 + a / (b + 4 - 1)))
    assert np.all(np.diff(silence) < 0)
    assert np.all((silence > 0) & (silence <= 1))


def test_bgnbd_needs_customers_and_repeat_buyers():
    with pytest.raises(NotEnoughData, match="at least 20 customers"):
        BetaGeoModel().fit([1, 0], [2.0, 0.0], [5.0, 5.0])
    with pytest.raises(NotEnoughData, match="repeat buyers"):
        BetaGeoModel().fit([0] * 50, [0.0] * 50, [10.0] * 50)


def test_bgnbd_rejects_impossible_summaries():
    with pytest.raises(ValueError, match="recency"):
        BetaGeoModel().fit([1] * 30, [12.0] * 30, [10.0] * 30)


def test_bgnbd_reports_a_fit_that_runs_to_a_boundary():
    # Everybody buys every week until the end: nobody ever drops out, so a/b is driven to 0.
    weeks = 30
    frequency, recency, T = [weeks] * 40, [float(weeks)] * 40, [float(weeks)] * 40
    with pytest.raises(FitFailed):
        BetaGeoModel().fit(frequency, recency, T)


def test_unfitted_model_says_so():
    with pytest.raises(Exception, match="not fitted"):
        BetaGeoModel().probability_alive([1], [1.0], [2.0])


# --------------------------------------------------------------------------- Gamma-Gamma


def test_gamma_gamma_log_likelihood_matches_the_note_formula():
    p, q, g = 6.0, 4.0, 15.0
    x, m = 3.0, 40.0
    direct = (gamma_fn(p * x + q) / (gamma_fn(p * x) * gamma_fn(q)) * g**q * m ** (p * x - 1) * x ** (p * x)
              / (g + m * x) ** (p * x + q))
    assert gamma_gamma_log_likelihood((p, q, g), [x], [m])[0] == pytest.approx(np.log(direct), rel=1e-12)


def test_gamma_gamma_fit_recovers_simulated_parameters_and_shrinks_towards_the_mean():
    rng = np.random.default_rng(7)
    p, q, g = 6.0, 4.0, 15.0
    n = 3000
    frequency = rng.integers(1, 10, n)
    nu = rng.gamma(q, 1 / g, n)
    monetary = np.array([rng.gamma(p, 1 / v, x).mean() for v, x in zip(nu, frequency, strict=True)])
    model = GammaGammaModel().fit(frequency, monetary)
    assert model.params_["p"] == pytest.approx(p, rel=0.2)
    assert model.params_["q"] == pytest.approx(q, rel=0.2)
    assert model.params_["gamma"] == pytest.approx(g, rel=0.3)
    population_mean = model.params_["p"] * model.params_["gamma"] / (model.params_["q"] - 1)
    assert model.expected_order_value([0], [0.0])[0] == pytest.approx(population_mean)
    few, many = model.expected_order_value([1, 50], [200.0, 200.0])
    assert population_mean < few < many < 200.0


def test_gamma_gamma_reports_spend_without_heterogeneity():
    # Every customer's spend comes from one distribution: q and gamma run off to infinity together, so the
    # likelihood is a flat ridge; the fit says the data cannot pin them down. With heterogeneous spend they
    # are well identified.
    rng = np.random.default_rng(2)
    homogeneous = GammaGammaModel().fit(rng.integers(1, 6, 200), rng.gamma(5.0, 8.0, 200)).report_.extra
    assert "gamma" in homogeneous["weakly_identified"]
    spend_level = rng.gamma(4.0, 10.0, 2000)
    varied = GammaGammaModel().fit(rng.integers(1, 6, 2000), rng.gamma(5.0, spend_level / 5.0)).report_.extra
    assert varied["weakly_identified"] == []
    assert all(e < 0.5 for e in varied["log_parameter_standard_errors"].values())


def test_gamma_gamma_needs_repeat_buyers():
    with pytest.raises(NotEnoughData, match="repeat buyers"):
        GammaGammaModel().fit([0] * 100 + [1] * 3, [0.0] * 100 + [10.0] * 3)
    with pytest.raises(ValueError, match="positive"):
        GammaGammaModel().fit([1] * 20, [0.0] * 20)


# --------------------------------------------------------------------------- CLV


def test_clv_is_purchases_times_order_value_and_discounting_lowers_it(fitted):
    rng = np.random.default_rng(2)
    frequency = rng.integers(1, 6, 300)
    nus = rng.gamma(4.0, 1 / 15.0, 300)
    monetary = [rng.gamma(6.0, 1 / nu, x).mean() for nu, x in zip(nus, frequency, strict=True)]
    spend = GammaGammaModel().fit(frequency, monetary)
    summary = pd.DataFrame({"frequency": [0, 2, 6], "recency": [0.0, 10.0, 38.0], "T": [39.0, 39.0, 39.0],
                            "monetary": [0.0, 30.0, 80.0]}, index=["new", "lapsing", "loyal"])
    plain = customer_lifetime_value(fitted, spend, summary, time_unit="W")
    assert list(plain.columns) == ["probability_alive", "expected_purchases_12m", "expected_order_value", "clv_12m"]
    np.testing.assert_allclose(plain.clv_12m, plain.expected_purchases_12m * plain.expected_order_value)
    assert plain.loc["loyal", "clv_12m"] > plain.loc["lapsing", "clv_12m"]
    discounted = customer_lifetime_value(fitted, spend, summary, time_unit="W", monthly_discount_rate=0.01)
    assert np.all(discounted.clv_12m < plain.clv_12m)
    assert np.all(discounted.clv_12m > plain.clv_12m / 1.01**12)
    # The unit only changes the clock: the same history in days gives the same CLV with alpha x 7.
    in_days = BetaGeoModel()
    in_days.report_ = type(fitted.report_)({**fitted.params_, "alpha": fitted.params_["alpha"] * 7}, 0.0, 0, 0, 0.0)
    daily = summary.assign(recency=summary.recency * 7, T=summary["T"] * 7)
    np.testing.assert_allclose(customer_lifetime_value(in_days, spend, daily, time_unit="D").clv_12m,
                               plain.clv_12m, rtol=1e-9)


# --------------------------------------------------------------------------- CDNOW through the warehouse


@pytest.fixture(scope="module")
def cdnow_warehouse(tmp_path_factory) -> Path:
    """The CDNOW sample written as landing files and run through the whole pipeline."""
    from benchmarks.clv.reference_data import HOLDOUT_END, write_cdnow_landing
    from cdp.pipeline import run_pipeline

    root = tmp_path_factory.mktemp("cdnow")
    landing = write_cdnow_landing(root / "landing")
    outcome = run_pipeline(landing, root / "cdp.duckdb", root / "exports", as_of=HOLDOUT_END)
    assert outcome.success, outcome.summary()
    return root / "cdp.duckdb"


@pytest.fixture(scope="module")
def cdnow_orders(cdnow_warehouse) -> pd.DataFrame:
    with duckdb.connect(str(cdnow_warehouse), read_only=True) as con:
        # total_amount, not total_amount_reporting: the published figures are in dollars, and the
        # reporting amount is EUR at one static rate, which would scale every spend (and gamma) by 0.926.
        return con.execute(
            "select customer_id, source_customer_id, ordered_at, total_amount as amount, currency_code "
            "from marts.fct_orders where is_completed"
        ).df()


@pytest.mark.e2e
def test_cdnow_orders_arrive_whole_through_the_landing_contract(cdnow_orders):
    from benchmarks.clv.reference_data import cdnow_sample

    sample = cdnow_sample()
    assert len(cdnow_orders) == len(sample) == 6919
    assert set(cdnow_orders.currency_code) == {"USD"}
    assert cdnow_orders.amount.astype(float).sum() == pytest.approx(sample.dollars.sum())
    # Bare customer records (an id, no identifiers) must stay one customer each: nothing to link them on.
    assert cdnow_orders.customer_id.notna().all()
    assert cdnow_orders.customer_id.nunique() == cdnow_orders.source_customer_id.nunique() == 2357


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_orders) -> pd.DataFrame:
    from benchmarks.clv.reference_data import CALIBRATION_END, HOLDOUT_END

    return calibration_holdout_summary(cdnow_orders, CALIBRATION_END, HOLDOUT_END, time_unit="W")


@pytest.mark.e2e
def test_cdnow_summary_matches_hardies_published_summary(cdnow_orders, cdnow_summary):
    from benchmarks.clv.reference_data import hardie_summary

    published = hardie_summary()
    ids = cdnow_orders.drop_duplicates("customer_id").set_index("customer_id").source_customer_id
    ours = cdnow_summary.rename(index=ids).loc[published.index]
    assert (ours.frequency == published.x).all()
    # Hardie's file prints weeks and dollars to two decimals.
    np.testing.assert_allclose(ours.recency, published.t_x, atol=0.005)
    np.testing.assert_allclose(ours["T"], published["T"], atol=0.005)
    np.testing.assert_allclose(ours.monetary, published.zbar, atol=0.005 + 1e-9)


@pytest.mark.e2e
def test_cdnow_bgnbd_reproduces_fader_hardie_lee_2005(cdnow_summary):
    from benchmarks.clv.reference_data import PUBLISHED_BGNBD, PUBLISHED_BGNBD_LOG_LIKELIHOOD

    s = cdnow_summary
    assert len(s) == 2357 and (s.frequency > 0).sum() == 946
    assert s.frequency.sum() == 2457 and s.frequency_holdout.sum() == 1882
    model = BetaGeoModel().fit(s.frequency, s.recency, s["T"])
    for name, published in PUBLISHED_BGNBD.items():
        assert round(model.params_[name], 3) == published, (name, model.params_[name])
    assert round(model.report_.log_likelihood, 1) == PUBLISHED_BGNBD_LOG_LIKELIHOOD
    # Tracking: cumulative repeat purchases at the end of week 78 (1998-06-30), first purchases on the same clock.
    first_week = (s.first_purchase_date - pd.Timestamp("1997-01-01")).dt.days / 7
    forecast = model.population_repeat_purchases(first_week, [78.0])[0]
    actual = s.frequency.sum() + s.frequency_holdout.sum()
    assert actual == 4339
    assert -0.05 < forecast / actual - 1 < -0.03  # the paper: about 4 % under


@pytest.mark.e2e
def test_cdnow_gamma_gamma_reproduces_fader_hardie_2013(cdnow_summary):
    from benchmarks.clv.reference_data import PUBLISHED_GAMMA_GAMMA

    s = cdnow_summary
    model = GammaGammaModel().fit(s.frequency, s.monetary)
    assert model.report_.n_customers == 946
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert round(model.params_[name], 2) == published, (name, model.params_[name])


@pytest.mark.e2e
def test_clv_predictions_from_the_warehouse(cdnow_warehouse):
    from ml.clv_predictions import COLUMNS, predict_clv

    with duckdb.connect(str(cdnow_warehouse), read_only=True) as con:
        run = predict_clv(con, "1997-09-30")
    table = run.predictions
    assert list(table.columns) == COLUMNS
    assert len(table) == table.customer_id.nunique() == 2357
    assert table.notna().all().all() and (table.clv_12m > 0).all()
    assert ((table.probability_alive > 0) & (table.probability_alive <= 1)).all()
    assert round(run.purchases.params["r"], 3) == 0.243
    # Amounts in EUR at the static USD rate: p and q do not change, gamma scales with the currency
    # (up to the reporting amounts' rounding to cents).
    assert round(run.spend.params["p"], 2) == 6.25 and round(run.spend.params["q"], 2) == 3.74
    assert run.spend.params["gamma"] == pytest.approx(15.44 * 0.925926, rel=2e-3)
    assert run.unpriced_orders == 0 and run.as_of.isoformat() == "1997-09-30"


def test_clv_predictions_say_when_the_warehouse_has_too_little(tmp_path):
    from ml.clv_predictions import predict_clv

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_orders as select * from (values "
            "('c1', true, date '2024-01-01', 10.00::decimal(18,2)), "
            "('c1', true, date '2024-01-05', 12.00), "
            "('c2', true, date '2024-01-02', null), "
            "('c3', false, date '2024-01-03', 5.00)) "
            "as t(customer_id, is_completed, ordered_date, total_amount_reporting)"
        )
        with pytest.raises(NotEnoughData, match="at least 20 customers, got 1"):
            predict_clv(con, "2024-01-31")
