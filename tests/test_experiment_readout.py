"""Experiment readout statistics (cdp/measure/experiments.py) against published values,
scipy's independent implementations and seeded simulations; the readout table
(cdp/measure/readouts.py) on a DuckDB warehouse."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.stats.contingency import relative_risk

from cdp.export.assignment import assign
from cdp.export.state import ensure_export_tables
from cdp.measure.config import ReadoutConfig, ReadoutConfigError, load_readout_config
from cdp.measure.experiments import (
    HOLDOUT,
    INSUFFICIENT_DATA,
    NO_HOLDOUT,
    OK,
    SRM,
    ArmSummary,
    SampleRatioCheck,
    compare_conversion,
    compare_revenue,
    expected_arm_shares,
    mde_conversion_abs,
    mde_revenue_abs,
    newcombe_difference_interval,
    read_out,
    sample_ratio_mismatch,
    wilson_interval,
)
from cdp.measure.readouts import COLUMNS, declared_variant_weights, write_experiment_readouts

Z95 = stats.norm.ppf(0.975)
Z80 = stats.norm.ppf(0.8)
NO_SRM = SampleRatioCheck(0.5, False)


def conversion_arm(arm: str, converting: int, customers: int) -> ArmSummary:
    return ArmSummary(arm, customers, converting, None, None)


def revenue_arm(arm: str, values: np.ndarray, converting: int = 0) -> ArmSummary:
    """Aggregates as the outcomes model gives them: mean and var_samp of revenue per customer."""
    variance = float(np.var(values, ddof=1)) if len(values) > 1 else None
    return ArmSummary(arm, len(values), converting, float(np.mean(values)), variance)


# --- conversion -------------------------------------------------------------------------------

@pytest.mark.parametrize(("x1", "n1", "x2", "n2", "low", "high"), [
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (score, no correction)
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (0, 10, 0, 10, -0.2775, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0),
    (10, 10, 0, 10, 0.6075, 1.0),
])
def test_newcombe_interval_matches_the_published_table(x1, n1, x2, n2, low, high):
    got_low, got_high = newcombe_difference_interval(x1, n1, x2, n2)
    assert got_low == pytest.approx(low, abs=6e-5)
    assert got_high == pytest.approx(high, abs=6e-5)


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (3, 40), (57, 1000), (20, 20)])
def test_wilson_interval_matches_scipy(successes, n):
    expected = stats.binomtest(successes, n).proportion_ci(0.95, method="wilson")
    assert wilson_interval(successes, n) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_conversion_comparison_against_independent_computations():
    treatment, holdout = conversion_arm("treatment", 130, 2000), conversion_arm(HOLDOUT, 21, 500)
    result = compare_conversion(treatment, holdout)

    assert result.treatment_value == 0.065 and result.control_value == 0.042
    assert result.lift_abs == pytest.approx(0.023)
    # Katz log-ratio interval as scipy implements it, shifted from ratio to lift
    ratio = relative_risk(130, 2000, 21, 500)
    ratio_ci = ratio.confidence_interval(0.95)
    assert result.lift_rel == pytest.approx(ratio.relative_risk - 1)
    assert result.lift_rel_ci == pytest.approx((ratio_ci.low - 1, ratio_ci.high - 1))
    # Pearson's chi-square without correction is the pooled two-proportion z test squared
    pooled = (130 + 21) / 2500
    z = 0.023 / math.sqrt(pooled * (1 - pooled) * (1 / 2000 + 1 / 500))
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    yates = stats.chi2_contingency([[130, 1870], [21, 479]], correction=True).pvalue
    assert result.p_value < yates


def test_conversion_lift_without_conversions_gives_what_is_defined():
    result = compare_conversion(conversion_arm("treatment", 0, 200), conversion_arm(HOLDOUT, 0, 150))
    assert result.lift_abs == 0
    low, high = result.lift_abs_ci
    assert low < 0 < high  # the Newcombe interval exists without conversions
    assert result.lift_rel is None and result.lift_rel_ci is None and result.p_value is None
    assert any("no conversions in either arm" in note for note in result.notes)

    only_holdout = compare_conversion(conversion_arm("treatment", 0, 200), conversion_arm(HOLDOUT, 4, 150))
    assert only_holdout.lift_rel == -1 and only_holdout.lift_rel_ci is None
    assert only_holdout.p_value is not None


def test_empty_arm_gives_no_comparison_and_says_why():
    result = compare_conversion(conversion_arm("treatment", 0, 0), conversion_arm(HOLDOUT, 3, 50))
    assert result.treatment_value is None and result.lift_abs is None and result.p_value is None
    assert result.control_value == 0.06
    assert "no customers in treatment" in result.notes[0]
    revenue = compare_revenue(ArmSummary("treatment", 0, 0, None, None), ArmSummary(HOLDOUT, 50, 3, 4.0, 9.0))
    assert revenue.lift_abs is None and "no customers in treatment" in revenue.notes[0]


# --- revenue ----------------------------------------------------------------------------------

def test_revenue_comparison_matches_welch_on_the_raw_values():
    rng = np.random.default_rng(7)
    # revenue per customer: mostly zero, a lognormal amount for buyers
    treated = np.where(rng.random(800) < 0.12, rng.lognormal(3.5, 0.8, 800), 0.0)
    held = np.where(rng.random(300) < 0.09, rng.lognormal(3.4, 0.8, 300), 0.0)
    result = compare_revenue(revenue_arm("treatment", treated), revenue_arm(HOLDOUT, held))

    welch = stats.ttest_ind(treated, held, equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert result.lift_abs == pytest.approx(treated.mean() - held.mean())
    assert result.lift_abs_ci == pytest.approx((ci.low, ci.high))
    assert result.p_value == pytest.approx(welch.pvalue)
    # delta method for the ratio of means, written out from the textbook formula
    m1, m2 = treated.mean(), held.mean()
    se = math.sqrt(treated.var(ddof=1) / (800 * m2**2) + m1**2 * held.var(ddof=1) / (300 * m2**4))
    assert result.lift_rel == pytest.approx(m1 / m2 - 1)
    assert result.lift_rel_ci == pytest.approx((m1 / m2 - 1 - Z95 * se, m1 / m2 - 1 + Z95 * se))


def test_revenue_without_variance_has_no_test_and_says_why():
    constant = compare_revenue(ArmSummary("treatment", 100, 0, 0.0, 0.0), ArmSummary(HOLDOUT, 80, 0, 0.0, 0.0))
    assert constant.lift_abs == 0 and constant.lift_abs_ci is None and constant.p_value is None
    assert constant.lift_rel is None  # holdout mean 0: a ratio is undefined
    assert any("does not vary" in note for note in constant.notes)

    one_varies = compare_revenue(ArmSummary("treatment", 100, 10, 5.0, 40.0), ArmSummary(HOLDOUT, 80, 0, 0.0, 0.0))
    assert one_varies.p_value is not None and one_varies.lift_abs_ci is not None and one_varies.lift_rel is None

    single = compare_revenue(ArmSummary("treatment", 100, 10, 5.0, 40.0), ArmSummary(HOLDOUT, 1, 1, 7.0, None))
    assert single.lift_abs == -2 and single.p_value is None
    assert any("fewer than two customers" in note for note in single.notes)


# --- coverage: with a known true effect the 95 % intervals cover it about 95 % of the time ----

SIMULATIONS = 1000


def _coverage(covered: list[bool]) -> float:
    return sum(covered) / len(covered)


def test_conversion_intervals_cover_the_true_lift():
    rng = np.random.default_rng(2024)
    p_treatment, p_holdout, n_treatment, n_holdout = 0.06, 0.04, 3000, 1000
    absolute, relative = [], []
    for _ in range(SIMULATIONS):
        x1, x2 = int(rng.binomial(n_treatment, p_treatment)), int(rng.binomial(n_holdout, p_holdout))
        treatment, holdout = conversion_arm("treatment", x1, n_treatment), conversion_arm(HOLDOUT, x2, n_holdout)
        result = compare_conversion(treatment, holdout)
        absolute.append(result.lift_abs_ci[0] <= p_treatment - p_holdout <= result.lift_abs_ci[1])
        relative.append(result.lift_rel_ci[0] <= p_treatment / p_holdout - 1 <= result.lift_rel_ci[1])
    # ±3 binomial standard errors of 1000 draws around 0.95
    assert 0.93 <= _coverage(absolute) <= 0.97
    assert 0.93 <= _coverage(relative) <= 0.97


def test_newcombe_keeps_its_coverage_where_wald_does_not():
    """Why Newcombe: 2 % against 1 % with a holdout of 100 expects one holdout conversion."""
    rng = np.random.default_rng(8)
    p_treatment, p_holdout, n_treatment, n_holdout = 0.02, 0.01, 900, 100
    newcombe, wald = [], []
    for _ in range(SIMULATIONS):
        x1, x2 = int(rng.binomial(n_treatment, p_treatment)), int(rng.binomial(n_holdout, p_holdout))
        low, high = newcombe_difference_interval(x1, n_treatment, x2, n_holdout)
        newcombe.append(low <= p_treatment - p_holdout <= high)
        p1, p2 = x1 / n_treatment, x2 / n_holdout
        se = math.sqrt(p1 * (1 - p1) / n_treatment + p2 * (1 - p2) / n_holdout)
        wald.append(p1 - p2 - Z95 * se <= p_treatment - p_holdout <= p1 - p2 + Z95 * se)
    assert _coverage(newcombe) >= 0.93
    assert _coverage(wald) < 0.88


def test_revenue_intervals_cover_the_true_lift():
    rng = np.random.default_rng(99)
    # zero-inflated gamma revenue: P(buy) 0.2 and 0.15, mean basket 50 -> true means 10 and 7.5
    n_treatment, n_holdout, true_abs, true_rel = 1500, 500, 10.0 - 7.5, 10.0 / 7.5 - 1
    absolute, relative = [], []
    for _ in range(SIMULATIONS):
        treated = np.where(rng.random(n_treatment) < 0.2, rng.gamma(2.0, 25.0, n_treatment), 0.0)
        held = np.where(rng.random(n_holdout) < 0.15, rng.gamma(2.0, 25.0, n_holdout), 0.0)
        result = compare_revenue(revenue_arm("treatment", treated), revenue_arm(HOLDOUT, held))
        absolute.append(result.lift_abs_ci[0] <= true_abs <= result.lift_abs_ci[1])
        relative.append(result.lift_rel_ci[0] <= true_rel <= result.lift_rel_ci[1])
    assert 0.93 <= _coverage(absolute) <= 0.97
    assert 0.93 <= _coverage(relative) <= 0.97


# --- sample-ratio mismatch --------------------------------------------------------------------

def test_srm_detects_a_fair_split_declared_as_90_10():
    check = sample_ratio_mismatch({"treatment": 500, HOLDOUT: 500}, {"treatment": 0.9, HOLDOUT: 0.1})
    assert check.detected and check.p_value < 1e-100


def test_srm_passes_a_split_drawn_from_the_declared_shares():
    shares = expected_arm_shares(0.2, {"discount_10": 1, "free_shipping": 1})
    counts = np.random.default_rng(5).multinomial(10_000, list(shares.values()))
    check = sample_ratio_mismatch(dict(zip(shares, counts.tolist(), strict=True)), shares)
    assert not check.detected and check.p_value > 0.001


def test_srm_p_value_is_the_goodness_of_fit_chi_square():
    observed = {HOLDOUT: 130, "a": 420, "b": 450}
    shares = {HOLDOUT: 0.1, "a": 0.45, "b": 0.45}
    statistic = sum((observed[arm] - 1000 * share) ** 2 / (1000 * share) for arm, share in shares.items())
    check = sample_ratio_mismatch(observed, shares, threshold=0.01)
    assert check.p_value == pytest.approx(stats.chi2.sf(statistic, df=2))
    assert check.detected == (stats.chi2.sf(statistic, df=2) < 0.01)


def test_srm_flags_customers_in_an_arm_that_should_be_empty():
    check = sample_ratio_mismatch({"treatment": 90, HOLDOUT: 10}, {"treatment": 1.0})
    assert check.detected and "not expected: holdout" in check.notes[0]
    one_arm = sample_ratio_mismatch({"treatment": 90}, {"treatment": 1.0})
    assert one_arm.p_value is None and not one_arm.detected


def test_expected_shares_are_what_the_assignment_draws():
    """The shares of cdp/export/assignment.py's real draws over 40,000 ids are the expected shares."""
    variants = {"discount_10": 2.0, "free_shipping": 1.0}
    shares = expected_arm_shares(0.2, variants)
    assert shares == pytest.approx({HOLDOUT: 0.2, "discount_10": 0.8 * 2 / 3, "free_shipping": 0.8 / 3})
    normalised = {arm: weight / 3 for arm, weight in variants.items()}
    arms = [assign(f"c{i}", "exp_shares", 0.2, normalised) for i in range(40_000)]
    observed = {arm: arms.count(arm) for arm in shares}
    for arm, share in shares.items():
        assert observed[arm] / 40_000 == pytest.approx(share, abs=0.01)
    assert not sample_ratio_mismatch(observed, shares).detected
    assert expected_arm_shares(0.0, {"treatment": 1}) == {"treatment": 1.0}


# --- minimum detectable effect ----------------------------------------------------------------

def test_mde_is_the_effect_the_textbook_sample_size_formulas_power():
    """At the per-arm n a textbook formula gives for a lift delta, the MDE is delta.

    Revenue: n = 2 (z_{1-a/2} + z_power)^2 sigma^2 / delta^2. Conversion: Fleiss, Levin
    & Paik (2003), eq. 4.14 without continuity correction,
    n = (z_{1-a/2} sqrt(2 p q) + z_power sqrt(p1 q1 + p2 q2))^2 / delta^2, p the mean rate.
    """
    sigma, delta = 30.0, 4.0
    n = 2 * (Z95 + Z80) ** 2 * sigma**2 / delta**2  # 882.9 per arm
    arm = ArmSummary("treatment", round(n), 0, 10.0, sigma**2)
    holdout = ArmSummary(HOLDOUT, round(n), 0, 10.0, sigma**2)
    assert mde_revenue_abs(arm, holdout) == pytest.approx(delta, rel=1e-3)

    for p2, lift in ((0.05, 0.01), (0.2, 0.05), (0.01, 0.004)):
        p1 = p2 + lift
        p = (p1 + p2) / 2
        n = (Z95 * math.sqrt(2 * p * (1 - p)) + Z80 * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / lift**2
        assert mde_conversion_abs(p2, round(n), round(n)) == pytest.approx(lift, rel=1e-3)


def _power_of_the_chi_square(rng, p_holdout: float, lift: float, n_treatment: int, n_holdout: int) -> float:
    """Share of 4000 simulated experiments with the true lift where the pooled z test
    (the 2x2 chi-square without correction) rejects at 5 %."""
    x1 = rng.binomial(n_treatment, p_holdout + lift, 4000)
    x2 = rng.binomial(n_holdout, p_holdout, 4000)
    pooled = (x1 + x2) / (n_treatment + n_holdout)
    z = (x1 / n_treatment - x2 / n_holdout) / np.sqrt(pooled * (1 - pooled) * (1 / n_treatment + 1 / n_holdout))
    return float(np.mean(np.abs(z) > Z95))


@pytest.mark.parametrize(("p_holdout", "n_treatment", "n_holdout"), [(0.08, 4000, 1000), (0.03, 1000, 1000),
                                                                     (0.02, 9000, 1000)])
def test_an_effect_the_size_of_the_mde_is_detected_with_the_stated_power(p_holdout, n_treatment, n_holdout):
    rng = np.random.default_rng(11)
    mde = mde_conversion_abs(p_holdout, n_treatment, n_holdout)
    # 4000 simulations: the standard error of the power is 0.006
    assert 0.78 <= _power_of_the_chi_square(rng, p_holdout, mde, n_treatment, n_holdout) <= 0.82


def test_the_shortcut_mde_overstates_power_on_an_unbalanced_split():
    """Why the MDE solves Fleiss' equation: with the variance at the holdout's rate in both arms,
    an 80/20 split is promised 0.8 power at a lift it detects about 73 % of the time."""
    p, n_treatment, n_holdout = 0.08, 4000, 1000
    shortcut = (Z95 + Z80) * math.sqrt(p * (1 - p) * (1 / n_treatment + 1 / n_holdout))
    assert mde_conversion_abs(p, n_treatment, n_holdout) > shortcut
    assert _power_of_the_chi_square(np.random.default_rng(3), p, shortcut, n_treatment, n_holdout) < 0.76


def test_mde_revenue_uses_the_pooled_variance():
    treatment, holdout = ArmSummary("treatment", 900, 0, 12.0, 400.0), ArmSummary(HOLDOUT, 100, 0, 10.0, 100.0)
    pooled = (899 * 400.0 + 99 * 100.0) / 998
    assert mde_revenue_abs(treatment, holdout) == pytest.approx((Z95 + Z80) * math.sqrt(pooled * (1 / 900 + 1 / 100)))
    assert mde_revenue_abs(ArmSummary("t", 50, 0, 0.0, 0.0), ArmSummary(HOLDOUT, 50, 0, 0.0, 0.0)) is None
    assert mde_conversion_abs(0.1, 0, 100) is None and mde_conversion_abs(1.0, 100, 100) is None
    assert mde_conversion_abs(0.5, 2, 2) is None  # no lift up to a rate of 1 is detectable


# --- status -----------------------------------------------------------------------------------

def test_status_ok_insufficient_srm_and_no_holdout():
    big = ArmSummary("treatment", 900, 90, 10.0, 400.0)
    holdout = ArmSummary(HOLDOUT, 120, 6, 8.0, 300.0)
    assert read_out(big, holdout, NO_SRM).status == OK
    assert read_out(big, holdout, NO_SRM).message is None

    small_holdout = ArmSummary(HOLDOUT, 40, 2, 8.0, 300.0)
    small = read_out(big, small_holdout, NO_SRM, min_customers_per_arm=100)
    assert small.status == INSUFFICIENT_DATA and "holdout has 40 customers" in small.message
    assert small.conversion.lift_abs == pytest.approx(0.05) and small.mde_conversion_abs is not None

    mismatch = SampleRatioCheck(1e-9, True)
    flagged = read_out(big, holdout, mismatch)
    assert flagged.status == SRM and "sample-ratio mismatch" in flagged.message
    assert flagged.conversion.p_value is not None  # figures are given, the status says not to trust them

    alone = read_out(big, None, SampleRatioCheck(None, False, ("one arm only: no sample-ratio check",)))
    assert alone.status == NO_HOLDOUT and alone.conversion.treatment_value == 0.1
    assert alone.conversion.lift_abs is None and alone.control_customers is None


def test_empty_holdout_is_insufficient_data_and_does_not_crash():
    readout = read_out(ArmSummary("treatment", 500, 20, 3.0, 50.0), ArmSummary(HOLDOUT, 0, 0, None, None), NO_SRM)
    assert readout.status == INSUFFICIENT_DATA
    assert readout.conversion.treatment_value == 0.04 and readout.conversion.lift_abs is None
    assert "no customers in holdout" in readout.message


# --- settings ---------------------------------------------------------------------------------

def test_readout_config_loads_and_names_a_wrong_key(tmp_path: Path):
    assert load_readout_config() == ReadoutConfig(alpha=0.05, power=0.8, srm_alpha=0.001, min_customers_per_arm=100)
    wrong = tmp_path / "readout.yml"
    wrong.write_text("alpha: 5\n", encoding="utf-8")
    with pytest.raises(ReadoutConfigError, match="alpha: 5 must be"):
        load_readout_config(wrong)
    wrong.write_text("min_customers: 10\n", encoding="utf-8")
    with pytest.raises(ReadoutConfigError, match="min_customers: unknown"):
        load_readout_config(wrong)


def test_variant_weights_come_from_the_audience_files():
    weights = declared_variant_weights()
    assert weights["engaged_browsers_braze"] == {"discount_10": 1.0, "free_shipping": 1.0}
    assert weights["champions_newsletter"] == {"treatment": 1.0}


# --- the readout table ------------------------------------------------------------------------

WEIGHTS = {"exp_variants": {"a": 1.0, "b": 1.0}, "exp_single": {"treatment": 1.0},
           "exp_no_holdout": {"treatment": 1.0}, "exp_skewed": {"treatment": 1.0}}
CONFIG = ReadoutConfig(min_customers_per_arm=50)
DAY_1, DAY_2 = date(2026, 9, 15), date(2026, 9, 30)


def _outcomes_table(con) -> None:
    con.execute("""
        create table marts.experiment_outcomes (
            as_of_date date, experiment_id varchar, audience_name varchar, arm varchar,
            customers bigint, converting_customers bigint, revenue_sum double, revenue_mean double,
            revenue_variance double, first_assigned_as_of date, days_observed integer
        )
    """)


def _outcome(as_of, experiment, arm, customers, converting, mean, variance):
    assigned = date(2026, 9, 1)
    return (as_of, experiment, f"aud_{experiment}", arm, customers, converting,
            mean * customers, mean, variance, assigned, (as_of - assigned).days)


def _assign(con, experiment: str, arms: dict[str, int], holdout_share: float) -> None:
    rows = [(experiment, f"aud_{experiment}", f"{experiment}_{arm}_{i}", arm, holdout_share, date(2026, 9, 1), "run")
            for arm, count in arms.items() for i in range(count)]
    con.executemany("insert into marts.experiment_assignments values (?, ?, ?, ?, ?, ?, ?)", rows)


@pytest.fixture
def warehouse(con):
    ensure_export_tables(con)
    _outcomes_table(con)
    _assign(con, "exp_variants", {HOLDOUT: 200, "a": 400, "b": 400}, 0.2)
    _assign(con, "exp_single", {HOLDOUT: 100, "treatment": 900}, 0.1)
    _assign(con, "exp_no_holdout", {"treatment": 300}, 0.0)
    _assign(con, "exp_skewed", {HOLDOUT: 500, "treatment": 500}, 0.1)
    rows = []
    for as_of, grow in ((DAY_1, 0.5), (DAY_2, 1.0)):
        rows += [
            _outcome(as_of, "exp_variants", HOLDOUT, int(200 * grow), int(10 * grow), 4.0, 90.0),
            _outcome(as_of, "exp_variants", "a", int(400 * grow), int(32 * grow), 6.0, 150.0),
            _outcome(as_of, "exp_variants", "b", int(400 * grow), int(20 * grow), 4.5, 100.0),
            _outcome(as_of, "exp_single", HOLDOUT, int(100 * grow), 0, 0.0, 0.0),
            _outcome(as_of, "exp_single", "treatment", int(900 * grow), 0, 0.0, 0.0),
            _outcome(as_of, "exp_no_holdout", "treatment", int(300 * grow), int(15 * grow), 2.0, 30.0),
            _outcome(as_of, "exp_skewed", HOLDOUT, int(500 * grow), int(25 * grow), 3.0, 50.0),
            _outcome(as_of, "exp_skewed", "treatment", int(500 * grow), int(30 * grow), 3.5, 60.0),
        ]
    con.executemany(f"insert into marts.experiment_outcomes values ({', '.join('?' * 11)})", rows)
    return con


def _readouts(con) -> list[tuple]:
    return con.execute("select * from marts.experiment_readouts order by all").fetchall()


def _readout(con, as_of, experiment, arm) -> dict:
    names = [name for name, _ in COLUMNS]
    row = con.execute("select * from marts.experiment_readouts where as_of_date = ? and experiment_id = ? "
                      "and arm = ?", [as_of, experiment, arm]).fetchone()
    return dict(zip(names, row, strict=True))


def test_readouts_compare_every_treatment_like_arm_with_the_holdout(warehouse):
    written = write_experiment_readouts(warehouse, variant_weights=WEIGHTS, config=CONFIG)
    assert written == 2 * 5  # per date: a, b, exp_single, exp_no_holdout, exp_skewed
    arms = warehouse.execute("select distinct experiment_id, arm, control_arm from marts.experiment_readouts "
                             "order by all").fetchall()
    assert arms == [("exp_no_holdout", "treatment", None), ("exp_single", "treatment", HOLDOUT),
                    ("exp_skewed", "treatment", HOLDOUT), ("exp_variants", "a", HOLDOUT),
                    ("exp_variants", "b", HOLDOUT)]

    a = _readout(warehouse, DAY_2, "exp_variants", "a")
    assert a["status"] == OK and a["expected_share"] == pytest.approx(0.4) and a["observed_share"] == 0.4
    assert a["conversion_rate"] == 0.08 and a["control_conversion_rate"] == 0.05
    assert a["conversion_lift_abs_ci_low"] < 0.03 < a["conversion_lift_abs_ci_high"]
    direct = compare_conversion(conversion_arm("a", 32, 400), conversion_arm(HOLDOUT, 10, 200))
    assert a["conversion_p_value"] == pytest.approx(direct.p_value)
    assert a["revenue_lift_abs"] == pytest.approx(2.0) and a["srm_p_value"] == pytest.approx(1.0)
    assert a["days_observed"] == 29 and a["first_assigned_as_of"] == date(2026, 9, 1)
    assert a["confidence_level"] == 0.95 and a["mde_conversion_abs"] > 0 and a["mde_revenue_abs"] > 0

    single = _readout(warehouse, DAY_2, "exp_single", "treatment")  # no conversions, no revenue
    assert single["status"] == OK and single["conversion_p_value"] is None and single["revenue_p_value"] is None
    assert "no conversions in either arm" in single["message"]
    assert single["mde_conversion_abs"] > 0 and single["conversion_lift_abs_ci_low"] < 0

    no_holdout = _readout(warehouse, DAY_2, "exp_no_holdout", "treatment")
    assert no_holdout["status"] == NO_HOLDOUT and no_holdout["control_customers"] is None
    assert no_holdout["conversion_rate"] == 0.05 and no_holdout["conversion_lift_abs"] is None

    skewed = _readout(warehouse, DAY_2, "exp_skewed", "treatment")
    assert skewed["status"] == SRM and skewed["srm_detected"] and skewed["expected_share"] == pytest.approx(0.9)

    early = _readout(warehouse, DAY_1, "exp_variants", "b")  # 100 holdout customers at DAY_1, minimum 50
    assert early["status"] == OK
    strict = write_experiment_readouts(warehouse, DAY_1, variant_weights=WEIGHTS,
                                       config=ReadoutConfig(min_customers_per_arm=150))
    assert strict == 5
    assert _readout(warehouse, DAY_1, "exp_variants", "b")["status"] == INSUFFICIENT_DATA
    assert _readout(warehouse, DAY_2, "exp_variants", "b")["status"] == OK  # another date is untouched


def test_writing_readouts_again_changes_nothing(warehouse):
    write_experiment_readouts(warehouse, variant_weights=WEIGHTS, config=CONFIG)
    first = _readouts(warehouse)
    assert write_experiment_readouts(warehouse, variant_weights=WEIGHTS, config=CONFIG) == len(first)
    assert _readouts(warehouse) == first
    assert write_experiment_readouts(warehouse, DAY_2, variant_weights=WEIGHTS, config=CONFIG) == 5
    assert _readouts(warehouse) == first


def test_readouts_of_a_date_replace_only_that_date(warehouse):
    write_experiment_readouts(warehouse, variant_weights=WEIGHTS, config=CONFIG)
    day_1 = [r for r in _readouts(warehouse) if r[0] == DAY_1]
    warehouse.execute("update marts.experiment_outcomes set converting_customers = converting_customers + 10 "
                      "where arm = 'a'")
    write_experiment_readouts(warehouse, DAY_2, variant_weights=WEIGHTS, config=CONFIG)
    assert [r for r in _readouts(warehouse) if r[0] == DAY_1] == day_1
    assert _readout(warehouse, DAY_2, "exp_variants", "a")["converting_customers"] == 42

    warehouse.execute("delete from marts.experiment_outcomes where as_of_date = ?", [DAY_1])
    assert write_experiment_readouts(warehouse, DAY_1, variant_weights=WEIGHTS, config=CONFIG) == 0
    assert {r[0] for r in _readouts(warehouse)} == {DAY_2}


def test_undeclared_variants_check_the_holdout_share_only(warehouse):
    write_experiment_readouts(warehouse, variant_weights={}, config=CONFIG)
    a = _readout(warehouse, DAY_2, "exp_variants", "a")
    assert a["expected_share"] is None and a["srm_p_value"] == pytest.approx(1.0)
    assert "the sample-ratio check tests the holdout share only" in a["message"]
    single = _readout(warehouse, DAY_2, "exp_single", "treatment")  # one arm: the default, all of the rest
    assert single["expected_share"] == pytest.approx(0.9) and "holdout share only" not in single["message"]
