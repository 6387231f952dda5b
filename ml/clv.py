"""Customer lifetime value: BG/NBD for purchase counts, Gamma-Gamma for order value, both fitted by maximum likelihood.

Sources (docs/clv.md has the formulas and the CDNOW reproduction):
- Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
  Pareto/NBD Model", Marketing Science 24(2), 275-284 (BG/NBD).
- Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value", note at brucehardie.com.
- Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis",
  Journal of Marketing Research 42(4) (why spend and purchase counts are modelled separately).

The models work on an RFM summary (one row per customer): ``frequency`` (repeat purchase days),
``recency`` (first to last purchase), ``T`` (first purchase to the end of the observation window),
all in one time unit, and ``monetary`` (mean value of the repeat purchase days).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from ml.errors import FitFailed, ModelSkipped, NotEnoughData  # noqa: F401 (re-exported)

TIME_UNIT_DAYS = {"D": 1, "W": 7}
DAYS_PER_MONTH = 365.25 / 12


# Lifetime-value errors are the shared ones: callers catch ``ml.errors.ModelSkipped``.
CLVError = ModelSkipped


# --------------------------------------------------------------------------- summaries


def rfm_summary(
    transactions: pd.DataFrame,
    observation_end: str | pd.Timestamp,
    time_unit: str = "W",
    customer_col: str = "customer_id",
    at_col: str = "ordered_at",
    amount_col: str = "amount",
) -> pd.DataFrame:
    """Per-customer frequency, recency, T and repeat-purchase monetary value up to ``observation_end`` (inclusive).

    Purchases on the same calendar day (UTC) are merged into one purchase with the summed amount, as in
    the BG/NBD papers: a customer buying twice on one day made one purchase occasion. Times are whole
    days divided by the unit's length, so a ``W`` summary has fractional weeks (CDNOW: T = 272/7 = 38.86).
    ``monetary`` is the mean of the repeat purchase days (the first day excluded); 0 when there are none.
    """
    unit_days = _unit_days(time_unit)
    end = pd.Timestamp(observation_end).normalize().tz_localize(None)
    days = _purchase_days(transactions, customer_col, at_col, amount_col)
    days = days[days["day"] <= end]
    if days.empty:
        raise NotEnoughData(f"no purchases on or before {end.date()}")
    grouped = days.groupby("customer_id", sort=True)
    first = grouped["day"].min()
    last = grouped["day"].max()
    count = grouped["day"].size()
    total = grouped["amount"].sum()
    first_amount = days.loc[grouped["day"].idxmin(), ["customer_id", "amount"]].set_index("customer_id")["amount"]
    frequency = count - 1
    repeat_total = total - first_amount
    summary = pd.DataFrame(
        {
            "frequency": frequency.astype(int),
            "recency": (last - first).dt.days / unit_days,
            "T": (end - first).dt.days / unit_days,
            "monetary": np.where(frequency > 0, repeat_total / frequency.where(frequency > 0, 1), 0.0),
            "first_purchase_date": first,
        }
    )
    summary.index.name = "customer_id"
    return summary


def calibration_holdout_summary(
    transactions: pd.DataFrame,
    calibration_end: str | pd.Timestamp,
    holdout_end: str | pd.Timestamp,
    time_unit: str = "W",
    customer_col: str = "customer_id",
    at_col: str = "ordered_at",
    amount_col: str = "amount",
) -> pd.DataFrame:
    """The calibration summary of customers first seen by ``calibration_end``, plus their holdout purchases.

    Adds ``frequency_holdout`` (purchase days in (calibration_end, holdout_end]) and ``duration_holdout``
    (the holdout length in the time unit), for comparing forecasts with what happened.
    """
    unit_days = _unit_days(time_unit)
    cal_end = pd.Timestamp(calibration_end).normalize().tz_localize(None)
    hold_end = pd.Timestamp(holdout_end).normalize().tz_localize(None)
    if hold_end <= cal_end:
        raise ValueError(f"holdout_end {hold_end.date()} must be after calibration_end {cal_end.date()}")
    summary = rfm_summary(transactions, cal_end, time_unit, customer_col, at_col, amount_col)
    days = _purchase_days(transactions, customer_col, at_col, amount_col)
    in_holdout = days[(days["day"] > cal_end) & (days["day"] <= hold_end)]
    summary["frequency_holdout"] = (
        in_holdout.groupby("customer_id").size().reindex(summary.index, fill_value=0).astype(int)
    )
    summary["duration_holdout"] = (hold_end - cal_end).days / unit_days
    return summary


def _unit_days(time_unit: str) -> int:
    if time_unit not in TIME_UNIT_DAYS:
        raise ValueError(f"time_unit must be one of {sorted(TIME_UNIT_DAYS)}, got {time_unit!r}")
    return TIME_UNIT_DAYS[time_unit]


def _purchase_days(transactions: pd.DataFrame, customer_col: str, at_col: str, amount_col: str) -> pd.DataFrame:
    """One row per customer and calendar day (UTC), amounts summed."""
    missing = {customer_col, at_col, amount_col} - set(transactions.columns)
    if missing:
        raise ValueError(f"transactions lack columns {sorted(missing)}")
    at = pd.to_datetime(transactions[at_col], utc=True).dt.tz_localize(None)
    frame = pd.DataFrame(
        {
            "customer_id": transactions[customer_col].to_numpy(),
            "day": at.dt.normalize().to_numpy(),
            "amount": pd.to_numeric(transactions[amount_col]).astype(float).to_numpy(),
        }
    ).dropna(subset=["customer_id", "day"])
    return frame.groupby(["customer_id", "day"], as_index=False, sort=True)["amount"].sum()


# --------------------------------------------------------------------------- fitting helpers


@dataclass
class FitReport:
    """What a fit found and how: parameters, log-likelihood, data size, optimiser outcome, time taken."""

    params: dict[str, float]
    log_likelihood: float
    n_customers: int
    iterations: int
    seconds: float
    extra: dict = field(default_factory=dict)


def _maximise(neg_ll, start: np.ndarray, names: list[str], n: float) -> tuple[np.ndarray, float, int, dict]:
    """Minimise a negative log-likelihood over log-parameters, deterministically; returns the parameters,
    the maximised log-likelihood, the iterations and the identification diagnostics (``_identification``).

    The optimisers see the mean over the ``n`` customers, so their tolerances mean the same for 2,000
    customers as for a million (a total of -1e6 cannot move by the 1e-9 an absolute tolerance asks).

    A quasi-Newton search (BFGS) from the start converges in tens of iterations on well-posed data;
    only when it fails does the slower, derivative-free Nelder-Mead run, polished by BFGS again.
    """
    def mean_neg_ll(log_params):
        return neg_ll(log_params) / n

    with np.errstate(all="ignore"):
        quick = minimize(mean_neg_ll, start, method="BFGS", options={"gtol": 1e-6, "maxiter": 2_000})
        iterations = quick.nit
        if quick.success and np.isfinite(quick.fun):
            best, converged, message = quick, True, quick.message
        else:
            first = minimize(mean_neg_ll, start, method="Nelder-Mead",
                             options={"maxiter": 5_000, "xatol": 1e-7, "fatol": 1e-9})
            polish = minimize(mean_neg_ll, first.x, method="BFGS", options={"gtol": 1e-8, "maxiter": 1_000})
            best = polish if np.isfinite(polish.fun) and polish.fun <= first.fun else first
            converged, message = first.success, first.message
            iterations += first.nit + polish.nit
    params = np.exp(best.x)
    if not (converged and np.isfinite(best.fun) and np.all(np.isfinite(params))):
        raise FitFailed(f"maximum likelihood did not converge ({message}); last parameters "
                        + ", ".join(f"{name}={v:.4g}" for name, v in zip(names, params, strict=True)))
    # A parameter running off to 0 or infinity means the data cannot pin it down (e.g. nobody drops out).
    if np.any(np.abs(best.x) > np.log(1e8)):
        raise FitFailed("maximum likelihood drifted to a boundary, the data cannot identify the model: "
                        + ", ".join(f"{name}={v:.4g}" for name, v in zip(names, params, strict=True)))
    return params, -float(best.fun) * n, int(iterations), _identification(mean_neg_ll, best.x, names, n)


def _identification(mean_neg_ll, log_params: np.ndarray, names: list[str], n: float) -> dict:
    """Standard errors of the log-parameters from the curvature of the likelihood at the optimum. One
    above 1 means the data leave that parameter uncertain by a factor of e or more: a flat ridge, as
    when spend does not differ by customer (q and gamma grow together) or nobody is seen dropping out."""
    k, h = len(log_params), 1e-4
    hessian = np.empty((k, k))
    with np.errstate(all="ignore"):
        for i in range(k):
            for j in range(i, k):
                di, dj = np.eye(k)[i] * h, np.eye(k)[j] * h
                hessian[i, j] = hessian[j, i] = (
                    mean_neg_ll(log_params + di + dj) - mean_neg_ll(log_params + di - dj)
                    - mean_neg_ll(log_params - di + dj) + mean_neg_ll(log_params - di - dj)
                ) / (4 * h * h)
    try:
        variance = np.diag(np.linalg.inv(hessian)) / n
    except np.linalg.LinAlgError:
        variance = np.full(k, np.inf)
    errors = np.where(np.isfinite(variance) & (variance >= 0), np.sqrt(np.abs(variance)), np.inf)
    return {
        "log_parameter_standard_errors": {name: float(e) for name, e in zip(names, errors, strict=True)},
        "weakly_identified": [name for name, e in zip(names, errors, strict=True) if not e <= 1.0],
    }


def _as_arrays(*columns) -> list[np.ndarray]:
    return [np.asarray(c, dtype=float) for c in columns]


# --------------------------------------------------------------------------- BG/NBD


def bgnbd_log_likelihood(params, frequency, recency, T) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood, Fader, Hardie & Lee (2005) eq. 6, in log form.

    L(r, alpha, a, b | x, t_x, T) = B(a, b+x)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+T)^(r+x))
                                  + [x > 0] B(a+1, b+x-1)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+t_x)^(r+x))
    """
    r, alpha, a, b = params
    x, t_x, T = _as_arrays(frequency, recency, T)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    still_alive = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    with np.errstate(all="ignore"):
        dropped_after_last = np.where(
            x > 0, betaln(a + 1, np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x), -np.inf
        )
    return common + np.logaddexp(still_alive, dropped_after_last)


class BetaGeoModel:
    """BG/NBD (Fader, Hardie & Lee 2005): Poisson purchasing at a gamma(r, alpha)-distributed rate while alive;
    after each purchase the customer drops out with a beta(a, b)-distributed probability.

    Times are in the summary's unit; alpha scales with it (alpha in days = 7 x alpha in weeks).
    """

    param_names = ["r", "alpha", "a", "b"]

    def __init__(self, min_customers: int = 20, min_repeat_buyers: int = 5):
        self.min_customers = min_customers
        self.min_repeat_buyers = min_repeat_buyers
        self.report_: FitReport | None = None

    @property
    def params_(self) -> dict[str, float]:
        if self.report_ is None:
            raise CLVError("BetaGeoModel is not fitted; call fit() first")
        return self.report_.params

    def fit(self, frequency, recency, T) -> BetaGeoModel:
        """Maximum-likelihood fit on customers' (frequency, recency, T); identical rows are weighted, not repeated."""
        x, t_x, T = _as_arrays(frequency, recency, T)
        _check_summary(x, t_x, T)
        if len(x) < self.min_customers:
            raise NotEnoughData(f"BG/NBD needs at least {self.min_customers} customers, got {len(x)}")
        repeat_buyers = int((x > 0).sum())
        if repeat_buyers < self.min_repeat_buyers:
            raise NotEnoughData(
                f"BG/NBD needs at least {self.min_repeat_buyers} repeat buyers to separate purchase rate "
                f"from drop-out, got {repeat_buyers} of {len(x)} customers"
            )
        rows, weights = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
        ux, ut_x, uT = rows.T

        def neg_ll(log_params):
            ll = bgnbd_log_likelihood(np.exp(log_params), ux, ut_x, uT)
            total = float(weights @ ll)
            return -total if np.isfinite(total) else np.inf

        # Start where the NBD part matches the observed repeat rate (r/alpha = x/T): scale-free in the time unit.
        alpha0 = max(T.mean(), 1e-6) / max(x.mean(), 1e-3)
        started = time.perf_counter()
        params, ll, iterations, identification = _maximise(
            neg_ll, np.log([1.0, alpha0, 1.0, 1.0]), self.param_names, len(x)
        )
        self.report_ = FitReport(
            dict(zip(self.param_names, params.tolist(), strict=True)), ll, len(x), iterations,
            time.perf_counter() - started, {"repeat_buyers": repeat_buyers, **identification},
        )
        return self

    def expected_repeat_purchases(self, t) -> np.ndarray:
        """E[X(t)]: repeat purchases a new customer makes in t units after the first one (FHL 2005 eq. 7)."""
        r, alpha, a, b = self._params()
        t = np.asarray(t, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = t / (alpha + t)
            value = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))
        return np.where(t > 0, value, 0.0)

    def population_repeat_purchases(self, first_purchase_offsets, at) -> np.ndarray:
        """Expected cumulative repeat purchases of a cohort at times ``at`` (the tracking curve).

        ``first_purchase_offsets`` are each customer's first purchase times on the same clock as ``at``
        (e.g. weeks since the cohort's start); a customer contributes E[X(at - first)] once acquired.
        """
        first = np.asarray(first_purchase_offsets, dtype=float)
        offsets, counts = np.unique(first, return_counts=True)
        at = np.atleast_1d(np.asarray(at, dtype=float))
        return np.array([counts @ self.expected_repeat_purchases(np.maximum(moment - offsets, 0.0)) for moment in at])

    def conditional_expected_purchases(self, t, frequency, recency, T) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: purchases expected in the next t units given the history (FHL 2005 eq. 10)."""
        r, alpha, a, b = self._params()
        x, t_x, T = _as_arrays(frequency, recency, T)
        t = np.asarray(t, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = t / (alpha + T + t)
            growth = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
            numerator = (a + b + x - 1) / (a - 1) * growth
            value = numerator * self.probability_alive(x, t_x, T)
        return np.where(t > 0, value, 0.0)

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(alive | x, t_x, T) (FHL 2005 eq. 11); 1 for customers without a repeat purchase."""
        r, alpha, a, b = self._params()
        x, t_x, T = _as_arrays(frequency, recency, T)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_odds_dead = np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) + (r + x) * (
                np.log(alpha + T) - np.log(alpha + t_x)
            )
        return np.where(x > 0, 1.0 / (1.0 + np.exp(np.minimum(log_odds_dead, 700.0))), 1.0)

    def _params(self) -> tuple[float, float, float, float]:
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]


# --------------------------------------------------------------------------- Gamma-Gamma


def gamma_gamma_log_likelihood(params, frequency, monetary) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of a mean spend m_x over x transactions (Fader & Hardie 2013, eq. 4).

    f(m_x | p, q, gamma, x) = Gamma(px+q) / (Gamma(px) Gamma(q)) * gamma^q m_x^(px-1) x^(px) / (gamma + m_x x)^(px+q)
    """
    p, q, g = params
    x, m = _as_arrays(frequency, monetary)
    return (
        gammaln(p * x + q) - gammaln(p * x) - gammaln(q)
        + q * np.log(g) + (p * x - 1) * np.log(m) + p * x * np.log(x)
        - (p * x + q) * np.log(g + m * x)
    )


class GammaGammaModel:
    """Gamma-Gamma spend model (Fader & Hardie 2013): transaction values are gamma(p, nu), nu ~ gamma(q, gamma).

    Fitted on repeat buyers only (frequency > 0) with ``monetary`` the mean value of their repeat purchases;
    assumes spend is independent of purchase frequency (check the correlation before trusting it).
    """

    param_names = ["p", "q", "gamma"]

    def __init__(self, min_repeat_buyers: int = 10):
        self.min_repeat_buyers = min_repeat_buyers
        self.report_: FitReport | None = None

    @property
    def params_(self) -> dict[str, float]:
        if self.report_ is None:
            raise CLVError("GammaGammaModel is not fitted; call fit() first")
        return self.report_.params

    def fit(self, frequency, monetary) -> GammaGammaModel:
        """Maximum-likelihood fit on the repeat buyers among the rows; others are ignored."""
        x, m = _as_arrays(frequency, monetary)
        keep = x > 0
        if np.any(keep & ~(m > 0)):
            raise ValueError("monetary must be positive for every customer with frequency > 0")
        x, m = x[keep], m[keep]
        if len(x) < self.min_repeat_buyers:
            raise NotEnoughData(
                f"Gamma-Gamma needs at least {self.min_repeat_buyers} repeat buyers with a positive spend, "
                f"got {len(x)}"
            )

        def neg_ll(log_params):
            total = float(gamma_gamma_log_likelihood(np.exp(log_params), x, m).sum())
            return -total if np.isfinite(total) else np.inf

        # Method-of-moments-flavoured start: mean spend p * gamma / (q - 1) with p = 1, q = 2.
        started = time.perf_counter()
        params, ll, iterations, identification = _maximise(
            neg_ll, np.log([1.0, 2.0, max(m.mean(), 1e-6)]), self.param_names, len(x)
        )
        self.report_ = FitReport(
            dict(zip(self.param_names, params.tolist(), strict=True)), ll, len(x), iterations,
            time.perf_counter() - started, {"spend_frequency_correlation": _correlation(x, m), **identification},
        )
        return self

    def expected_order_value(self, frequency, monetary) -> np.ndarray:
        """E[M | p, q, gamma, m_x, x] (Fader & Hardie 2013, eq. 5): the population mean p*gamma/(q-1) shrunk
        towards the customer's own mean spend as x grows; the population mean for x = 0."""
        p, q, g = self.params_["p"], self.params_["q"], self.params_["gamma"]
        if q <= 1:
            raise CLVError(f"q = {q:.3g} <= 1: the population mean spend is infinite, no expected order value")
        x, m = _as_arrays(frequency, monetary)
        m = np.where(x > 0, m, 0.0)
        return (g + m * x) * p / (p * x + q - 1)


def _correlation(x: np.ndarray, m: np.ndarray) -> float:
    if len(x) < 2 or np.std(x) == 0 or np.std(m) == 0:
        return float("nan")
    return float(np.corrcoef(x, m)[0, 1])


# --------------------------------------------------------------------------- lifetime value


def customer_lifetime_value(
    purchases: BetaGeoModel,
    spend: GammaGammaModel,
    summary: pd.DataFrame,
    time_unit: str,
    months: int = 12,
    monthly_discount_rate: float = 0.0,
) -> pd.DataFrame:
    """Per customer: P(alive), expected purchases and order value, and ``months``-month CLV.

    CLV = sum over months m = 1..months of (E[Y(m)] - E[Y(m-1)]) * E[M] / (1 + d)^m, where E[Y(m)] is the
    BG/NBD conditional expectation after m months, E[M] the Gamma-Gamma expected order value and d the
    monthly discount rate (0 = undiscounted: expected purchases over the horizon x expected order value).
    Revenue, not margin: multiply by a margin for profit.
    """
    if monthly_discount_rate < 0:
        raise ValueError("monthly_discount_rate must be >= 0")
    month = DAYS_PER_MONTH / _unit_days(time_unit)
    x, t_x, T = summary["frequency"], summary["recency"], summary["T"]
    cumulative = np.array([purchases.conditional_expected_purchases(m * month, x, t_x, T) for m in range(months + 1)])
    per_month = np.diff(cumulative, axis=0)
    discount = (1.0 + monthly_discount_rate) ** -np.arange(1, months + 1)
    order_value = spend.expected_order_value(x, summary["monetary"])
    return pd.DataFrame(
        {
            "probability_alive": purchases.probability_alive(x, t_x, T),
            f"expected_purchases_{months}m": cumulative[-1],
            "expected_order_value": order_value,
            f"clv_{months}m": (discount @ per_month) * order_value,
        },
        index=summary.index,
    )


def _check_summary(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> None:
    if not (len(x) == len(t_x) == len(T)):
        raise ValueError("frequency, recency and T must have the same length")
    if np.any(~np.isfinite(x) | ~np.isfinite(t_x) | ~np.isfinite(T)):
        raise ValueError("frequency, recency and T must be finite")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T):
        raise ValueError("need frequency >= 0 and 0 <= recency <= T for every customer")
    if np.any((x == 0) & (t_x != 0)):
        raise ValueError("customers without repeat purchases must have recency 0")
