"""Experiment readout statistics on per-arm aggregates (docs/experiments.md).

Every function takes counts, means and variances per arm, never raw rows, and
returns plain floats, or ``None`` where a figure is not defined for the data
(an empty arm, no conversions, no variance); the reason is given in ``notes``.
Intervals are two-sided at level ``1 - alpha``.

- conversion: Newcombe's hybrid score interval for the difference of two
  proportions (Wilson limits of each arm); the log-ratio (Katz) interval for the
  relative lift; Pearson's chi-square on the 2x2 table without continuity
  correction;
- revenue per customer: Welch's interval (Welch–Satterthwaite degrees of
  freedom) and Welch's t-test for the difference of means, the delta method for
  the ratio of means;
- sample-ratio mismatch: chi-square goodness of fit of the arm counts against the
  shares the assignment draws (``expected_arm_shares``);
- minimum detectable effect of each test at the current arm sizes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from scipy import optimize, stats

HOLDOUT = "holdout"

OK = "ok"
INSUFFICIENT_DATA = "insufficient_data"
NO_HOLDOUT = "no_holdout"
SRM = "srm"


@dataclass(frozen=True)
class ArmSummary:
    """One arm's aggregates: customers, how many converted, revenue per customer.

    ``revenue_variance`` is the sample variance (n - 1) of revenue per customer,
    zeros included; ``None`` when the arm has fewer than two customers.
    """

    arm: str
    customers: int
    converting_customers: int
    revenue_mean: float | None
    revenue_variance: float | None

    @property
    def conversion_rate(self) -> float | None:
        return self.converting_customers / self.customers if self.customers > 0 else None


@dataclass(frozen=True)
class Comparison:
    """A treatment-like arm against the control for one metric."""

    treatment_value: float | None
    control_value: float | None
    lift_abs: float | None = None
    lift_abs_ci: tuple[float, float] | None = None
    lift_rel: float | None = None
    lift_rel_ci: tuple[float, float] | None = None
    p_value: float | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SampleRatioCheck:
    p_value: float | None
    detected: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArmReadout:
    """Everything the readout table says about one arm against the holdout."""

    arm: str
    customers: int
    control_customers: int | None
    conversion: Comparison
    revenue: Comparison
    mde_conversion_abs: float | None
    mde_revenue_abs: float | None
    status: str
    message: str | None


def _z(alpha: float) -> float:
    """The two-sided normal quantile, 1.96 at alpha 0.05."""
    return float(stats.norm.ppf(1 - alpha / 2))


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson's score interval for a proportion (defined for 0 and n successes too)."""
    if n <= 0:
        raise ValueError("a proportion needs at least one trial")
    z = _z(alpha)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def newcombe_difference_interval(x1: int, n1: int, x2: int, n2: int, alpha: float = 0.05) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p2 (method 10 of Newcombe 1998).

    Chosen over Wald's p1 - p2 ± z·se: conversion rates are small, where Wald's
    coverage falls well under nominal and its width collapses to zero when an arm
    has no conversions. Newcombe's interval stays close to nominal at small rates
    and counts, is closed form and never leaves [-1, 1].
    """
    p1, p2 = x1 / n1, x2 / n2
    low1, high1 = wilson_interval(x1, n1, alpha)
    low2, high2 = wilson_interval(x2, n2, alpha)
    difference = p1 - p2
    below = math.sqrt((p1 - low1) ** 2 + (high2 - p2) ** 2)
    above = math.sqrt((high1 - p1) ** 2 + (p2 - low2) ** 2)
    return difference - below, difference + above


def log_ratio_interval(x1: int, n1: int, x2: int, n2: int, alpha: float = 0.05) -> tuple[float, float]:
    """Interval for the risk ratio p1 / p2 from the delta method on its log (Katz et al. 1978).

    se(log RR) = sqrt(1/x1 - 1/n1 + 1/x2 - 1/n2). Chosen over Fieller's interval,
    which is unbounded whenever the control rate is not clearly above zero; on the
    log scale the interval is asymmetric like the ratio itself and never
    negative. Needs a conversion in each arm.
    """
    if x1 <= 0 or x2 <= 0:
        raise ValueError("the log-ratio interval needs a conversion in each arm")
    log_ratio = math.log((x1 / n1) / (x2 / n2))
    se = math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    z = _z(alpha)
    return math.exp(log_ratio - z * se), math.exp(log_ratio + z * se)


def compare_conversion(treatment: ArmSummary, control: ArmSummary, alpha: float = 0.05) -> Comparison:
    """Conversion rates, absolute and relative lift with intervals, chi-square p-value.

    The p-value is Pearson's chi-square on the 2x2 table without Yates'
    continuity correction: it equals the square of the pooled two-proportion z
    test, whose size is close to nominal at experiment sizes, while Yates'
    correction makes the test conservative (p-values too large) and disagrees
    with the interval.
    """
    t_rate, c_rate = treatment.conversion_rate, control.conversion_rate
    if t_rate is None or c_rate is None:
        empty = [a.arm for a in (treatment, control) if a.customers <= 0]
        return Comparison(t_rate, c_rate, notes=(f"no customers in {' and '.join(empty)}: no conversion comparison",))
    x1, n1 = treatment.converting_customers, treatment.customers
    x2, n2 = control.converting_customers, control.customers
    notes: list[str] = []
    lift_abs = t_rate - c_rate
    lift_abs_ci = newcombe_difference_interval(x1, n1, x2, n2, alpha)

    lift_rel = lift_rel_ci = None
    if x2 == 0:
        notes.append("no conversions in the holdout: relative conversion lift undefined")
    else:
        lift_rel = t_rate / c_rate - 1
        if x1 == 0:
            notes.append(f"no conversions in {treatment.arm}: no interval for the relative conversion lift")
        else:
            low, high = log_ratio_interval(x1, n1, x2, n2, alpha)
            lift_rel_ci = (low - 1, high - 1)

    p_value = None
    if x1 + x2 == 0:
        notes.append("no conversions in either arm: no chi-square test")
    elif x1 + x2 == n1 + n2:
        notes.append("every customer converted in both arms: no chi-square test")
    else:
        table = [[x1, n1 - x1], [x2, n2 - x2]]
        p_value = _finite(stats.chi2_contingency(table, correction=False).pvalue)
    return Comparison(t_rate, c_rate, lift_abs, lift_abs_ci, lift_rel, lift_rel_ci, p_value, tuple(notes))


def welch_degrees_of_freedom(var1: float, n1: int, var2: float, n2: int) -> float:
    """Welch–Satterthwaite degrees of freedom of a difference of two means."""
    a, b = var1 / n1, var2 / n2
    return (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))


def compare_revenue(treatment: ArmSummary, control: ArmSummary, alpha: float = 0.05) -> Comparison:
    """Revenue per customer: difference with Welch's interval and t-test, ratio by the delta method.

    Relative lift m1/m2 - 1 has the delta-method standard error
    sqrt(v1/(n1·m2²) + m1²·v2/(n2·m2⁴)) and a normal interval: the ratio of means
    is asymptotically normal, and unlike the log scale this allows an arm whose
    mean is zero.
    """
    m1, m2 = treatment.revenue_mean, control.revenue_mean
    if treatment.customers <= 0 or control.customers <= 0 or m1 is None or m2 is None:
        empty = [a.arm for a in (treatment, control) if a.customers <= 0 or a.revenue_mean is None]
        return Comparison(m1, m2, notes=(f"no customers in {' and '.join(empty)}: no revenue comparison",))
    notes: list[str] = []
    lift_abs = m1 - m2
    lift_rel = m1 / m2 - 1 if m2 != 0 else None
    if m2 == 0:
        notes.append("no revenue in the holdout: relative revenue lift undefined")
    v1, v2 = treatment.revenue_variance, control.revenue_variance
    n1, n2 = treatment.customers, control.customers
    if n1 < 2 or n2 < 2 or v1 is None or v2 is None:
        notes.append("fewer than two customers in an arm: no revenue variance, interval or test")
        return Comparison(m1, m2, lift_abs, None, lift_rel, None, None, tuple(notes))
    if v1 == 0 and v2 == 0:
        notes.append("revenue per customer does not vary in either arm: no revenue interval or test")
        return Comparison(m1, m2, lift_abs, None, lift_rel, None, None, tuple(notes))

    se = math.sqrt(v1 / n1 + v2 / n2)
    df = welch_degrees_of_freedom(v1, n1, v2, n2)
    t = float(stats.t.ppf(1 - alpha / 2, df))
    lift_abs_ci = (lift_abs - t * se, lift_abs + t * se)
    p_value = _finite(
        stats.ttest_ind_from_stats(m1, math.sqrt(v1), n1, m2, math.sqrt(v2), n2, equal_var=False).pvalue
    )
    lift_rel_ci = None
    if lift_rel is not None:
        se_rel = math.sqrt(v1 / (n1 * m2**2) + m1**2 * v2 / (n2 * m2**4))
        z = _z(alpha)
        lift_rel_ci = (lift_rel - z * se_rel, lift_rel + z * se_rel)
    return Comparison(m1, m2, lift_abs, lift_abs_ci, lift_rel, lift_rel_ci, p_value, tuple(notes))


def expected_arm_shares(holdout_share: float, variant_weights: Mapping[str, float]) -> dict[str, float]:
    """The share of customers each arm should get (cdp/export/assignment.py).

    The holdout draw and the variant draw are independent uniforms: holdout with
    probability ``holdout_share``, otherwise variant v with its normalised weight,
    so P(v) = (1 - holdout_share) · w_v / Σw. A holdout share of 0 has no holdout arm.
    """
    if not 0 <= holdout_share < 1:
        raise ValueError(f"holdout_share {holdout_share!r} must be from 0 up to (not including) 1")
    if not variant_weights or any(w <= 0 for w in variant_weights.values()):
        raise ValueError(f"variant weights must be positive, got {dict(variant_weights)!r}")
    total = float(sum(variant_weights.values()))
    shares = {HOLDOUT: holdout_share} if holdout_share > 0 else {}
    shares.update({arm: (1 - holdout_share) * weight / total for arm, weight in variant_weights.items()})
    return shares


def sample_ratio_mismatch(observed: Mapping[str, int], expected_shares: Mapping[str, float],
                          threshold: float = 0.001) -> SampleRatioCheck:
    """Chi-square goodness of fit of the arm counts against the expected shares.

    A p-value under ``threshold`` means the arms are not the random split they
    were declared to be (a broken assignment, or an arm losing customers on the
    way), and the comparison between them is not trustworthy. The threshold is
    strict because the check runs at every readout.
    """
    arms = sorted(set(observed) | set(expected_shares))
    counts = [int(observed.get(arm, 0)) for arm in arms]
    total = sum(counts)
    unexpected = [arm for arm, count in zip(arms, counts, strict=True)
                  if count > 0 and expected_shares.get(arm, 0) <= 0]
    if unexpected:
        return SampleRatioCheck(0.0, True, (f"customers in arm(s) not expected: {', '.join(unexpected)}",))
    tested = [(arm, count) for arm, count in zip(arms, counts, strict=True) if expected_shares.get(arm, 0) > 0]
    if len(tested) < 2:
        return SampleRatioCheck(None, False, ("one arm only: no sample-ratio check",))
    if total == 0:
        return SampleRatioCheck(None, False, ("no customers: no sample-ratio check",))
    share_total = sum(expected_shares[arm] for arm, _ in tested)
    expected = [total * expected_shares[arm] / share_total for arm, _ in tested]
    p_value = _finite(stats.chisquare([count for _, count in tested], expected).pvalue)
    notes = ()
    if min(expected) < 5:
        notes = ("an arm expects fewer than 5 customers: the sample-ratio p-value is approximate",)
    return SampleRatioCheck(p_value, p_value is not None and p_value < threshold, notes)


def mde_conversion_abs(control_rate: float | None, n_treatment: int, n_control: int,
                       alpha: float = 0.05, power: float = 0.8) -> float | None:
    """Smallest absolute conversion lift over the holdout's rate that the chi-square
    test (alpha two-sided) detects with the given power at the current arm sizes.

    Solves Fleiss' sample-size equation for the lift d, with p_c the holdout's
    rate, p_t = p_c + d and p̄ the rate of both arms together:

        d = z_{1-alpha/2} · sqrt(p̄ (1 - p̄) (1/n_t + 1/n_c)) + z_power · sqrt(p_t (1 - p_t)/n_t + p_c (1 - p_c)/n_c)

    The shortcut (z_{1-alpha/2} + z_power) · sqrt(p_c (1 - p_c) (1/n_t + 1/n_c))
    takes the variance at p_c in both arms; with a large treatment arm (a 90/10
    split) the pooled rate sits near p_t and the test has less power than the
    shortcut promises (0.73 instead of 0.8 at p_c = 0.08, 4000 against 1000).
    ``None`` when an arm is empty, the rate is unknown or 1, or no lift up to a
    rate of 1 is detectable.
    """
    if n_treatment <= 0 or n_control <= 0 or control_rate is None or not 0 <= control_rate < 1:
        return None
    z_alpha, z_power = _z(alpha), float(stats.norm.ppf(power))
    p_c = control_rate

    def shortfall(lift: float) -> float:
        p_t = p_c + lift
        p_both = (n_treatment * p_t + n_control * p_c) / (n_treatment + n_control)
        null_se = math.sqrt(p_both * (1 - p_both) * (1 / n_treatment + 1 / n_control))
        alternative_se = math.sqrt(p_t * (1 - p_t) / n_treatment + p_c * (1 - p_c) / n_control)
        return z_alpha * null_se + z_power * alternative_se - lift

    # the shortfall is positive for tiny lifts (the standard errors shrink like sqrt(lift)
    # at a zero rate); a root exists when the largest lift, to a rate of 1, is detectable
    smallest, largest = 1e-12, 1 - p_c
    if shortfall(largest) > 0:
        return None
    return float(optimize.brentq(shortfall, smallest, largest, xtol=1e-12))


def pooled_variance(treatment: ArmSummary, control: ArmSummary) -> float | None:
    """((n_t - 1) s_t² + (n_c - 1) s_c²) / (n_t + n_c - 2); an arm of one customer adds nothing."""
    degrees = treatment.customers + control.customers - 2
    if degrees <= 0:
        return None
    sums = [(a.customers - 1) * a.revenue_variance for a in (treatment, control)
            if a.customers >= 2 and a.revenue_variance is not None]
    if not sums:
        return None
    return sum(sums) / degrees


def mde_revenue_abs(treatment: ArmSummary, control: ArmSummary,
                    alpha: float = 0.05, power: float = 0.8) -> float | None:
    """Smallest absolute lift in revenue per customer detectable with the given power.

    (z_{1-alpha/2} + z_power) · s_pooled · sqrt(1/n_t + 1/n_c); ``None`` without a
    positive pooled variance.
    """
    variance = pooled_variance(treatment, control)
    if variance is None or variance <= 0 or treatment.customers <= 0 or control.customers <= 0:
        return None
    spread = math.sqrt(variance * (1 / treatment.customers + 1 / control.customers))
    return (_z(alpha) + float(stats.norm.ppf(power))) * spread


def read_out(treatment: ArmSummary, control: ArmSummary | None, srm: SampleRatioCheck, *,
             alpha: float = 0.05, power: float = 0.8, min_customers_per_arm: int = 100) -> ArmReadout:
    """One treatment-like arm against the holdout, with a status saying whether to read it.

    Status, first that applies: ``no_holdout`` (no control, nothing to compare),
    ``insufficient_data`` (an arm under ``min_customers_per_arm``: the figures are
    given where defined, but too noisy to act on), ``srm`` (the arms are not the
    declared split: do not trust the comparison), ``ok``.
    """
    if control is None:
        reasons = ("no holdout: nothing to compare against",)
        if srm.detected:
            reasons += (_mismatch(srm),)
        message = "; ".join(reasons + srm.notes)
        return ArmReadout(
            treatment.arm, treatment.customers, None,
            Comparison(treatment.conversion_rate, None), Comparison(treatment.revenue_mean, None),
            None, None, NO_HOLDOUT, message,
        )
    conversion = compare_conversion(treatment, control, alpha)
    revenue = compare_revenue(treatment, control, alpha)
    mde_conversion = mde_conversion_abs(control.conversion_rate, treatment.customers, control.customers, alpha, power)
    mde_revenue = mde_revenue_abs(treatment, control, alpha, power)
    notes = conversion.notes + revenue.notes + srm.notes
    if mde_conversion is None and control.customers > 0 and treatment.customers > 0:
        notes += ("no conversion MDE: the holdout rate is 1 or no lift is detectable at these sizes",)
    if mde_revenue is None and control.customers > 0 and treatment.customers > 0:
        notes += ("no revenue variance: no revenue MDE",)

    reasons: list[str] = []
    small = [f"{a.arm} has {a.customers}" for a in (treatment, control) if a.customers < min_customers_per_arm]
    if small:
        status = INSUFFICIENT_DATA
        reasons.append(f"{' and '.join(small)} customers, under the minimum of {min_customers_per_arm} per arm")
    elif srm.detected:
        status = SRM
    else:
        status = OK
    if srm.detected:
        reasons.append(_mismatch(srm))
    message = "; ".join(reasons + list(notes)) or None
    return ArmReadout(treatment.arm, treatment.customers, control.customers, conversion, revenue,
                      mde_conversion, mde_revenue, status, message)


def _mismatch(srm: SampleRatioCheck) -> str:
    return f"sample-ratio mismatch (p = {srm.p_value:.2g}): the arms are not the declared split"
