"""The estimator comparison: OLS, LMM and Bayesian effects in SD units, on fixture tables.

The fixtures have the layouts of primary/effects_sd.csv, mixed/lmm_coefficients.csv (the primary
table's columns plus variance-component rows) and bayes/effects.csv; the OLS fixture is the real
primary analysis of a small simulated cohort, so its numbers come from analysis.did.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.bayes import EFFECT_COLUMNS
from analysis.did import COEFFICIENT_COLUMNS, primary_analysis
from analysis.errors import AnalysisError
from analysis.estimator_comparison import COMPARISON_COLUMNS, ESTIMATORS, compare_estimators, plot_estimator_comparison
from tests.conftest import simulated_outcomes

ARMS = ["control", "video", "coach", "combined"]
OUTCOMES = ["validating_emotions", "advice_giving", "overall_empathy"]


@pytest.fixture(scope="module")
def ols_effects():
    data = simulated_outcomes(n_per_arm=20, seed=3)
    return primary_analysis(data, OUTCOMES, ARMS, "control").effects_sd


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


def test_every_estimator_is_put_in_the_primary_sd_units(ols_effects, lmm_coefficients, bayes_effects):
    table = compare_estimators(ols_effects, lmm_coefficients, bayes_effects, ARMS, "control")
    assert list(table.columns) == COMPARISON_COLUMNS
    counts = table.groupby("outcome")["estimator"].value_counts()
    assert counts.loc[("validating_emotions", "bayes_ordinal")] == 4 and ("validating_emotions", "bayes_linear") not in counts.index
    assert counts.loc[("overall_empathy", "bayes_linear")] == 4 and ("overall_empathy", "bayes_ordinal") not in counts.index
    assert len(table) == 3 * 4 * 3
    ols = ols_effects.set_index(["outcome", "arm"])
    for row in table.itertuples():
        sd = ols.loc[(row.outcome, row.arm), "outcome_sd"]
        assert row.outcome_sd == sd
        assert row.estimate_sd == pytest.approx(row.estimate / sd)
        assert row.ci_low_sd == pytest.approx(row.ci_low / sd) and row.ci_high_sd == pytest.approx(row.ci_high / sd)
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


def test_figure_has_one_panel_per_outcome_and_a_legend(ols_effects, lmm_coefficients, bayes_effects):
    table = compare_estimators(ols_effects, lmm_coefficients, bayes_effects, ARMS, "control")
    figure = plot_estimator_comparison(table, ARMS, synthetic=True)
    visible = [axis for axis in figure.axes if axis.axison]
    assert [axis.get_title() for axis in visible] == ["Validating emotions", "Advice giving", "Overall empathy"]
    assert figure._suptitle.get_text().startswith("SYNTHETIC DATA")
    labels = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
    assert labels == list(ESTIMATORS.values())
    assert [label.get_text() for label in visible[0].get_yticklabels()] == ["Control", "Video", "Coach", "Combined"]
