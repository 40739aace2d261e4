"""Tidy coefficient tables: the statsmodels fit's own numbers, and Wald z tests from estimates and SEs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from analysis.models.tidy import TIDY_COLUMNS, mean_intervals, model_coefficients, wald_coefficients


def test_model_coefficients_are_the_fits_own_numbers():
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"x": rng.normal(size=50)})
    data["y"] = 1.0 + 0.5 * data["x"] + rng.normal(size=50)
    result = sm.OLS(data["y"], sm.add_constant(data["x"])).fit(cov_type="HC3")
    table = model_coefficients(result, 0.1, outcome="y", n_clusters=50)
    assert list(table.columns) == [*TIDY_COLUMNS, "outcome", "n_clusters"]
    assert table["term"].tolist() == ["const", "x"]
    np.testing.assert_array_equal(table["estimate"], result.params)
    np.testing.assert_array_equal(table["std_error"], result.bse)
    np.testing.assert_array_equal(table["p_value"], result.pvalues)
    np.testing.assert_array_equal(table[["ci_low", "ci_high"]], result.conf_int(alpha=0.1))
    assert table["n_obs"].tolist() == [50, 50]
    assert table["outcome"].tolist() == ["y", "y"]


def test_wald_coefficients_use_the_normal_distribution():
    table = wald_coefficients(["a", "b"], [1.0, -0.5], [0.5, 0.25], 0.05, n_obs=10)
    critical = stats.norm.ppf(0.975)
    np.testing.assert_allclose(table["statistic"], [2.0, -2.0])
    np.testing.assert_allclose(table["p_value"], 2 * stats.norm.sf(2.0))
    np.testing.assert_allclose(table["ci_low"], [1.0 - critical * 0.5, -0.5 - critical * 0.25])
    np.testing.assert_allclose(table["ci_high"], [1.0 + critical * 0.5, -0.5 + critical * 0.25])
    assert table["n_obs"].tolist() == [10, 10]
    assert table["p_value"].iloc[0] == pytest.approx(0.0455, abs=1e-4)  # R: 2 * pnorm(-2)


def test_a_zero_standard_error_gives_no_test():
    table = wald_coefficients(["flat"], [0.0], [0.0], 0.05)
    assert np.isnan(table["statistic"].iloc[0]) and np.isnan(table["p_value"].iloc[0])
    assert table["ci_low"].iloc[0] == table["ci_high"].iloc[0] == 0.0


def test_a_zero_standard_error_can_give_an_infinite_statistic():
    # the mixed models' convention: the plain ratio, so p = 0 for a non-zero estimate
    table = wald_coefficients(["up", "down", "flat", "usual"], [2.0, -1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.5], 0.05, zero_se="inf")
    assert table["statistic"].iloc[0] == np.inf and table["statistic"].iloc[1] == -np.inf
    assert table["p_value"].iloc[:2].tolist() == [0.0, 0.0]
    assert np.isnan(table["statistic"].iloc[2]) and np.isnan(table["p_value"].iloc[2])
    assert table["statistic"].iloc[3] == 2.0
    nan_policy = wald_coefficients(["up"], [2.0], [0.0], 0.05)
    assert np.isnan(nan_policy["statistic"].iloc[0]) and np.isnan(nan_policy["p_value"].iloc[0])


def test_an_unknown_zero_se_policy_is_an_error():
    with pytest.raises(ValueError, match="zero_se must be one of"):
        wald_coefficients(["a"], [1.0], [0.0], 0.05, zero_se="zero")


def test_mean_intervals_equal_scipy_t_intervals_and_leave_single_rows_open():
    """Reference: scipy.stats.t.interval(0.95, n - 1, loc=mean, scale=sd / sqrt(n)) for each row."""
    summary = pd.DataFrame({"n": [5, 40, 1], "mean": [1.0, -0.5, 2.0], "sd": [0.8, 1.3, np.nan]})
    result = mean_intervals(summary, alpha=0.05)
    for row in result.iloc[:2].itertuples():
        low, high = stats.t.interval(0.95, row.n - 1, loc=row.mean, scale=row.sd / np.sqrt(row.n))
        assert (row.ci_low, row.ci_high) == pytest.approx((low, high), rel=1e-12)
    assert np.isnan(result.loc[2, "ci_low"]) and np.isnan(result.loc[2, "ci_high"])
