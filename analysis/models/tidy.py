"""Tidy coefficient tables: one row per term, the same columns for every model.

Every coefficient table of the pipeline (the primary DiD, the mixed models, the improvement and
perception models, the expression changes of the taxonomy) carries ``term, estimate, std_error,
statistic, p_value, ci_low, ci_high`` and usually ``n_obs``. These two builders make them: one from
a fitted statsmodels result, one from estimates and standard errors (a Wald z test). Each caller
adds its own columns (outcome, model, n_clusters, odds_ratio, ...) as ``constants`` and selects
its table's columns in its own order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.runtime.lazy_imports import lazy_module

__all__ = ["TIDY_COLUMNS", "model_coefficients", "wald_coefficients"]

stats = lazy_module("scipy.stats")

TIDY_COLUMNS = ["term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high", "n_obs"]


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


def wald_coefficients(terms: Sequence[str], estimate, std_error, alpha: float, **constants) -> pd.DataFrame:
    """Wald z tests and normal confidence intervals from estimates and their standard errors.

    Parameters
    ----------
    terms : sequence of str
        One name per estimate.
    estimate, std_error : array-like of float
        The estimates and their standard errors, in the order of ``terms``.
    alpha : float
        The confidence intervals are ``1 - alpha``: ``estimate -/+ z(1 - alpha/2) * std_error``.
    **constants
        Further columns (e.g. ``n_obs``): a scalar repeated on every row, or one value per term.

    Returns
    -------
    pandas.DataFrame
        ``term, estimate, std_error, statistic, p_value, ci_low, ci_high`` followed by the
        ``constants``. ``statistic`` is ``estimate / std_error``, two-sided ``p_value`` from the
        standard normal; where the standard error is not positive (no variation) both are NaN.
    """
    estimate = np.asarray(estimate, dtype=float)
    std_error = np.asarray(std_error, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.where(std_error > 0, estimate / std_error, np.nan)
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
