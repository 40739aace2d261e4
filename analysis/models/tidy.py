"""Tidy coefficient tables: one row per term, the same columns for every model.

Every coefficient table of the pipeline (the primary DiD, the mixed models, the improvement and
perception models, the expression changes of the taxonomy) carries ``term, estimate, std_error,
statistic, p_value, ci_low, ci_high`` and usually ``n_obs``. These two builders make them: one from
a fitted statsmodels result, one from estimates and standard errors (a Wald z test). Each caller
adds its own columns (outcome, model, n_clusters, odds_ratio, ...) as ``constants`` and selects
its table's columns in its own order. :func:`mean_intervals` gives the t interval of a group mean,
the summaries' counterpart of an intercept-only model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.runtime.lazy_imports import lazy_module

__all__ = ["TIDY_COLUMNS", "ZERO_SE_POLICIES", "model_coefficients", "wald_coefficients", "mean_intervals"]

stats = lazy_module("scipy.stats")

TIDY_COLUMNS = ["term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high", "n_obs"]
ZERO_SE_POLICIES = ("nan", "inf")  # wald_coefficients(zero_se=...)


def model_coefficients(result, alpha: float, **constants) -> pd.DataFrame:
    """The coefficients of a fitted statsmodels model as a tidy frame.

    Parameters
    ----------
    result
        A fitted statsmodels results object (``params``, ``bse``, ``tvalues``, ``pvalues``,
        ``conf_int``, ``nobs``); its covariance and reference distribution are the fit's own.
    alpha : float
        The confidence intervals are ``1 - alpha``.
    **constants
        Further columns: a scalar repeated on every row, or one value per term.

    Returns
    -------
    pandas.DataFrame
        :data:`TIDY_COLUMNS` (``statistic`` is the fit's t or z, ``n_obs`` its number of
        observations) followed by the ``constants``, one row per term in the model's order.
    """
    interval = result.conf_int(alpha=alpha)
    frame = pd.DataFrame(
        {
            "term": result.params.index,
            "estimate": result.params.to_numpy(),
            "std_error": result.bse.to_numpy(),
            "statistic": result.tvalues.to_numpy(),
            "p_value": result.pvalues.to_numpy(),
            "ci_low": interval[0].to_numpy(),
            "ci_high": interval[1].to_numpy(),
            "n_obs": int(result.nobs),
        }
    )
    return frame.assign(**constants)


def wald_coefficients(
    terms: Sequence[str], estimate, std_error, alpha: float, *, zero_se: str = "nan", **constants
) -> pd.DataFrame:
    """Wald z tests and normal confidence intervals from estimates and their standard errors.

    Parameters
    ----------
    terms : sequence of str
        One name per estimate.
    estimate, std_error : array-like of float
        The estimates and their standard errors, in the order of ``terms``.
    alpha : float
        The confidence intervals are ``1 - alpha``: ``estimate -/+ z(1 - alpha/2) * std_error``.
    zero_se : {"nan", "inf"}, default "nan"
        The test where a standard error is zero. ``"nan"``: no test, ``statistic``
        and ``p_value`` are NaN (any standard error that is not positive).
        ``"inf"``: the plain ratio, so a non-zero estimate gives ``statistic``
        +/-inf and ``p_value`` 0 (a zero estimate still gives NaN); the mixed
        models report their fixed effects this way.
    **constants
        Further columns (e.g. ``n_obs``): a scalar repeated on every row, or one value per term.

    Returns
    -------
    pandas.DataFrame
        ``term, estimate, std_error, statistic, p_value, ci_low, ci_high`` followed by the
        ``constants``. ``statistic`` is ``estimate / std_error``, two-sided ``p_value`` from the
        standard normal; where the standard error is zero, as ``zero_se`` says.

    Raises
    ------
    ValueError
        When ``zero_se`` is not one of :data:`ZERO_SE_POLICIES`.
    """
    if zero_se not in ZERO_SE_POLICIES:
        raise ValueError(f"zero_se must be one of {ZERO_SE_POLICIES}, not {zero_se!r}")
    estimate = np.asarray(estimate, dtype=float)
    std_error = np.asarray(std_error, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = estimate / std_error
    if zero_se == "nan":
        statistic = np.where(std_error > 0, statistic, np.nan)
    half_width = stats.norm.ppf(1 - alpha / 2) * std_error
    frame = pd.DataFrame(
        {
            "term": list(terms),
            "estimate": estimate,
            "std_error": std_error,
            "statistic": statistic,
            "p_value": 2.0 * stats.norm.sf(np.abs(statistic)),
            "ci_low": estimate - half_width,
            "ci_high": estimate + half_width,
        }
    )
    return frame.assign(**constants)


def mean_intervals(summary: pd.DataFrame, *, alpha: float) -> pd.DataFrame:
    """Add the t-based ``1 - alpha`` confidence interval of each row's mean.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per group with its count ``n``, ``mean`` and sample standard deviation ``sd``.
    alpha : float
        The intervals are ``1 - alpha``.

    Returns
    -------
    pandas.DataFrame
        ``summary`` with ``ci_low`` and ``ci_high`` appended: ``mean -/+ t(1 - alpha/2, n - 1) sd / sqrt(n)``,
        NaN where ``n < 2``.
    """
    n = summary["n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        critical = np.where(n > 1, stats.t.ppf(1 - alpha / 2, np.maximum(n - 1, 1)), np.nan)
        half = critical * summary["sd"].to_numpy(dtype=float) / np.sqrt(n)
    return summary.assign(ci_low=summary["mean"] - half, ci_high=summary["mean"] + half)
