"""The estimator comparison: OLS, LMM and Bayesian effects in SD units, on fixture tables.

The fixtures have the layouts of primary/effects_sd.csv, mixed/lmm_coefficients.csv (the primary
table's columns plus variance-component rows) and bayes/effects.csv; the OLS fixture is the real
primary analysis of a small simulated cohort, so its numbers come from analysis.models.did.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.models.bayes import EFFECT_COLUMNS
from analysis.models.did import COEFFICIENT_COLUMNS, primary_analysis
from analysis.models.estimator_comparison import COMPARISON_COLUMNS, ESTIMATORS, compare_estimators
from analysis.render.estimator_comparison import plot_estimator_comparison
from tests.conftest import simulated_outcomes

ARMS = ["control", "video", "coach", "combined"]
OUTCOMES = ["validating_emotions", "advice_giving", "overall_empathy"]


@pytest.fixture(scope="module")
def outcome_data():
    return simulated_outcomes(n_per_arm=20, seed=3)


@pytest.fixture(scope="module")
def ols_effects(outcome_data):
    return primary_analysis(outcome_data, OUTCOMES, ARMS, "control").effects_sd


@pytest.fixture(scope="module")
def lmm_coefficients():
    """mixed/lmm_coefficients.csv layout: every fixed term (scenario rows too) and the variance rows."""
    rows = []
    for index, outcome in enumerate(OUTCOMES):
        terms = ["intercept", "video", "coach", "combined", "post", "video:post", "coach:post", "combined:post",
                 "scenario[T.loss_dad]", "var(participant)", "var(residual)"]
        for position, term in enumerate(terms):
            estimate = 0.1 * (index + 1) + 0.01 * position
            rows.append({"outcome": outcome, "term": term, "estimate": estimate, "std_error": 0.05, "statistic": estimate / 0.05,
                         "p_value": 0.01, "ci_low": estimate - 0.098, "ci_high": estimate + 0.098, "n_obs": 240, "n_clusters": 80})
    return pd.DataFrame(rows, columns=COEFFICIENT_COLUMNS)


@pytest.fixture(scope="module")
def bayes_effects():
    rows = []
    for outcome in OUTCOMES:
        for arm in ARMS:
            term = "post" if arm == "control" else f"{arm}:post"
            scales = ["score"] if outcome == "overall_empathy" else ["log_odds", "expected_score", "expected_score_typical"]
            for number, scale in enumerate(scales):
                median = 0.2 + 0.1 * ARMS.index(arm) + number
                rows.append({"model": "composite" if outcome == "overall_empathy" else "ordinal", "outcome": outcome, "arm": arm,
                             "term": term, "scale": scale, "median": median, "mean": median, "sd": 0.1, "hdi_low": median - 0.2,
                             "hdi_high": median + 0.2, "hdi_prob": 0.95, "beneficial_direction": "increase", "prob_improvement": 0.9})
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


def test_every_estimator_is_put_in_the_primary_sd_units(ols_effects, lmm_coefficients, bayes_effects, outcome_data):
    table = compare_estimators(ols_effects, lmm_coefficients, bayes_effects, ARMS, "control")
    assert list(table.columns) == COMPARISON_COLUMNS
    counts = table.groupby("outcome")["estimator"].value_counts()
    assert counts.loc[("validating_emotions", "bayes_ordinal")] == 4 and ("validating_emotions", "bayes_linear") not in counts.index
    assert counts.loc[("overall_empathy", "bayes_linear")] == 4 and ("overall_empathy", "bayes_ordinal") not in counts.index
    assert len(table) == 3 * 4 * 3
    ols = ols_effects.set_index(["outcome", "arm"])
    # the divisor recomputed from the analysed conversations themselves (sum of squares by hand, n - 1)
    raw_sd = {}
    for outcome in OUTCOMES:
        values = outcome_data[outcome].to_numpy(dtype=float)
        raw_sd[outcome] = float(np.sqrt(((values - values.sum() / len(values)) ** 2).sum() / (len(values) - 1)))
    for row in table.itertuples():
        assert row.outcome_sd == pytest.approx(raw_sd[row.outcome], rel=1e-12)
    # a fixture value known in advance: the LMM's coach:post of advice_giving is 0.2 + 0.01 * 6 (position 6)
    known = table.query("estimator == 'lmm_reml' and outcome == 'advice_giving' and arm == 'coach'").iloc[0]
    assert known.estimate_sd == pytest.approx(0.26 / raw_sd["advice_giving"], rel=1e-12)
    assert known.ci_low_sd == pytest.approx((0.26 - 0.098) / raw_sd["advice_giving"], rel=1e-12)
    ours = table.query("estimator == 'ols_cluster'").set_index(["outcome", "arm"])
    np.testing.assert_allclose(ours["estimate_sd"], ols.loc[ours.index, "estimate_sd"], rtol=1e-14)
    lmm = table.query("estimator == 'lmm_reml' and outcome == 'advice_giving' and arm == 'coach'").iloc[0]
    expected = lmm_coefficients.query("outcome == 'advice_giving' and term == 'coach:post'").iloc[0]
    assert (lmm["term"], lmm["estimate"], lmm["interval"], lmm["interval_prob"]) == ("coach:post", expected["estimate"], "confidence", 0.95)
    control = table.query("estimator == 'lmm_reml' and outcome == 'advice_giving' and arm == 'control'").iloc[0]
    assert control["term"] == "post"
    assert control["estimate"] == lmm_coefficients.query("outcome == 'advice_giving' and term == 'post'")["estimate"].item()
    ordinal = table.query("estimator == 'bayes_ordinal' and outcome == 'validating_emotions' and arm == 'video'").iloc[0]
    assert (ordinal["estimate"], ordinal["interval"]) == (pytest.approx(1.3), "hdi")  # the expected_score row, not log_odds


def test_the_typical_participant_scale_can_be_chosen(ols_effects, lmm_coefficients, bayes_effects):
    table = compare_estimators(ols_effects, lmm_coefficients, bayes_effects, ARMS, "control", ordinal_scale="expected_score_typical")
    assert table.query("estimator == 'bayes_ordinal' and outcome == 'validating_emotions' and arm == 'video'")["estimate"].item() == pytest.approx(2.3)


def test_missing_rows_and_columns_are_named(ols_effects, lmm_coefficients, bayes_effects):
    without = lmm_coefficients[~((lmm_coefficients["outcome"] == "advice_giving") & (lmm_coefficients["term"] == "combined:post"))]
    with pytest.raises(AnalysisError, match=r"mixed/lmm_coefficients.csv has no row for outcome 'advice_giving', term 'combined:post'"):
        compare_estimators(ols_effects, without, bayes_effects, ARMS, "control")
    with pytest.raises(AnalysisError, match=r"mixed/lmm_coefficients.csv has no rows for outcome 'overall_empathy'"):
        compare_estimators(ols_effects, lmm_coefficients.query("outcome != 'overall_empathy'"), bayes_effects, ARMS, "control")
    with pytest.raises(AnalysisError, match=r"bayes/effects.csv lacks column\(s\) \['hdi_low'\]"):
        compare_estimators(ols_effects, lmm_coefficients, bayes_effects.drop(columns="hdi_low"), ARMS, "control")
    partial = bayes_effects.query("not (outcome == 'validating_emotions' and arm == 'coach')")
    with pytest.raises(AnalysisError, match=r"bayes/effects.csv has no row for outcome 'validating_emotions', term 'coach:post'"):
        compare_estimators(ols_effects, lmm_coefficients, partial, ARMS, "control")


@pytest.mark.parametrize("value", [0.0, np.nan, -1.0])
def test_an_outcome_sd_that_is_zero_or_missing_is_refused_not_turned_into_infinities(ols_effects, lmm_coefficients, bayes_effects, value):
    degenerate = ols_effects.copy()
    degenerate.loc[degenerate["outcome"] == "advice_giving", "outcome_sd"] = value
    with pytest.raises(AnalysisError, match=r"outcome 'advice_giving': not estimable in SD units, its outcome_sd in "
                                            r"primary/effects_sd.csv is"):
        compare_estimators(degenerate, lmm_coefficients, bayes_effects, ARMS, "control")


def test_figure_has_one_panel_per_outcome_and_a_legend(ols_effects, lmm_coefficients, bayes_effects):
    table = compare_estimators(ols_effects, lmm_coefficients, bayes_effects, ARMS, "control")
    figure = plot_estimator_comparison(table, ARMS, synthetic=True)
    visible = [axis for axis in figure.axes if axis.axison]
    assert [axis.get_title() for axis in visible] == ["Validating emotions", "Advice giving", "Overall empathy"]
    assert figure._suptitle.get_text().startswith("SYNTHETIC DATA")
    labels = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
    assert labels == list(ESTIMATORS.values())
    assert [label.get_text() for label in visible[0].get_yticklabels()] == ["Control", "Video", "Coach", "Combined"]
