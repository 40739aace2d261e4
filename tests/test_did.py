"""The primary DiD against a direct statsmodels formula fit and a hand-written sandwich."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analysis.did import COEFFICIENT_COLUMNS, CONTRAST_COLUMNS, EFFECT_COLUMNS, design_matrix, primary_analysis
from analysis.errors import AnalysisError
from analysis.outcomes import derive_outcomes
from tests.conftest import make_small_cohort

ARMS = ["control", "video", "coach", "combined"]
TERM_NAMES = {
    "Intercept": "intercept",
    "post": "post",
    **{f"C(arm, Treatment('control'))[T.{arm}]": arm for arm in ARMS[1:]},
    **{f"C(arm, Treatment('control'))[T.{arm}]:post": f"{arm}:post" for arm in ARMS[1:]},
}


@pytest.fixture(scope="module")
def data(plan):
    cohort = make_small_cohort(n_per_arm=40, judges=("only",), seed=11)
    return derive_outcomes(
        cohort.participants, cohort.conversations, cohort.scores, cohort.conversations,
        plan["outcomes"]["dimensions"], plan["outcomes"]["composite"], {"method": "mean", "judges": "all"},
        plan["design"]["post_conversations"],
    )


@pytest.fixture(scope="module")
def results(data, plan):
    return primary_analysis(data, plan["primary_analysis"]["outcomes"], ARMS, "control", alpha=0.05, contrast_method="holm")


def direct_fit(data, outcome):
    """The reference: statsmodels' formula interface, cluster covariance with its defaults."""
    groups = pd.factorize(data["participant_id"])[0]
    return smf.ols(f"{outcome} ~ C(arm, Treatment('control')) * post", data).fit(
        cov_type="cluster", cov_kwds={"groups": groups}
    )


def test_columns_and_term_names(results):
    assert list(results.coefficients.columns) == COEFFICIENT_COLUMNS
    assert list(results.contrasts.columns) == CONTRAST_COLUMNS
    assert list(results.effects_sd.columns) == EFFECT_COLUMNS
    assert results.coefficients["term"].unique().tolist() == [
        "intercept", "video", "coach", "combined", "post", "video:post", "coach:post", "combined:post",
    ]
    assert (results.coefficients["n_obs"] == 480).all() and (results.coefficients["n_clusters"] == 160).all()


@pytest.mark.parametrize("outcome", ["validating_emotions", "dismissing_emotions", "overall_empathy"])
def test_equals_direct_statsmodels_fit(results, data, outcome):
    reference = direct_fit(data, outcome)
    ours = results.coefficients[results.coefficients["outcome"] == outcome].set_index("term")
    interval = reference.conf_int()
    for name, term in TERM_NAMES.items():
        row = ours.loc[term]
        assert row["estimate"] == pytest.approx(reference.params[name], abs=1e-8)
        assert row["std_error"] == pytest.approx(reference.bse[name], abs=1e-8)
        assert row["statistic"] == pytest.approx(reference.tvalues[name], abs=1e-8)
        assert row["p_value"] == pytest.approx(reference.pvalues[name], abs=1e-8)
        assert row["ci_low"] == pytest.approx(interval.loc[name, 0], abs=1e-8)
        assert row["ci_high"] == pytest.approx(interval.loc[name, 1], abs=1e-8)
    fit = results.fit.set_index("outcome").loc[outcome]
    assert fit["r2"] == pytest.approx(reference.rsquared, abs=1e-12)
    assert fit["r2_adj"] == pytest.approx(reference.rsquared_adj, abs=1e-12)
    assert fit["residual_se"] == pytest.approx(np.sqrt(reference.scale), abs=1e-12)
    assert fit["f_statistic"] == pytest.approx(float(reference.fvalue), abs=1e-8)


def test_cluster_covariance_matches_hand_written_sandwich(results, data):
    """CR1 sandwich: (X'X)^-1 (sum_g X_g'u_g u_g'X_g) (X'X)^-1 * G/(G-1) * (N-1)/(N-K)."""
    X = design_matrix(data, ARMS, "control").to_numpy()
    y = data["overall_empathy"].to_numpy()
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    residuals = y - X @ beta
    bread = np.linalg.inv(X.T @ X)
    scores = pd.DataFrame(X * residuals[:, None]).groupby(data["participant_id"].to_numpy()).sum().to_numpy()
    n, k, g = X.shape[0], X.shape[1], scores.shape[0]
    covariance = bread @ scores.T @ scores @ bread * g / (g - 1) * (n - 1) / (n - k)
    ours = results.coefficients[results.coefficients["outcome"] == "overall_empathy"]
    np.testing.assert_allclose(ours["estimate"], beta, atol=1e-10)
    np.testing.assert_allclose(ours["std_error"], np.sqrt(np.diag(covariance)), atol=1e-10)


def test_contrasts_are_wald_tests_with_holm(results, data):
    reference = direct_fit(data, "encouraging_elaboration")
    names = list(reference.params.index)
    outcome_sd = data["encouraging_elaboration"].std(ddof=1)
    expected = []
    for a, b in combinations(ARMS[1:], 2):
        vector = np.zeros(len(names))
        vector[names.index(f"C(arm, Treatment('control'))[T.{a}]:post")] = 1
        vector[names.index(f"C(arm, Treatment('control'))[T.{b}]:post")] = -1
        estimate = vector @ reference.params.to_numpy()
        se = np.sqrt(vector @ reference.cov_params().to_numpy() @ vector)
        expected.append((a, b, estimate, se, 2 * stats.norm.sf(abs(estimate / se))))
    ours = results.contrasts[results.contrasts["outcome"] == "encouraging_elaboration"]
    assert list(zip(ours["arm_a"], ours["arm_b"])) == [(a, b) for a, b, *_ in expected]
    np.testing.assert_allclose(ours["estimate"], [e[2] for e in expected], atol=1e-10)
    np.testing.assert_allclose(ours["std_error"], [e[3] for e in expected], atol=1e-10)
    np.testing.assert_allclose(ours["p_value"], [e[4] for e in expected], atol=1e-10)
    np.testing.assert_allclose(ours["p_adjusted"], multipletests([e[4] for e in expected], method="holm")[1], atol=1e-12)
    np.testing.assert_allclose(ours["estimate_sd"], ours["estimate"] / outcome_sd, atol=1e-12)
    np.testing.assert_allclose(ours["ci_low_sd"], (ours["estimate"] - 1.959963984540054 * ours["std_error"]) / outcome_sd, atol=1e-9)


def test_effects_in_sd_units(results, data):
    effects = results.effects_sd[results.effects_sd["outcome"] == "advice_giving"].set_index("arm")
    coefficients = results.coefficients[results.coefficients["outcome"] == "advice_giving"].set_index("term")
    outcome_sd = data["advice_giving"].std(ddof=1)
    assert effects.loc["control", "term"] == "post"
    assert effects.loc["coach", "estimate_sd"] == pytest.approx(coefficients.loc["coach:post", "estimate"] / outcome_sd)
    assert effects.loc["control", "ci_high_sd"] == pytest.approx(coefficients.loc["post", "ci_high"] / outcome_sd)


def test_other_multiplicity_methods(data):
    none = primary_analysis(data, ["self_oriented"], ARMS, "control", contrast_method="none").contrasts
    assert (none["p_adjusted"] == none["p_value"]).all()
    bonferroni = primary_analysis(data, ["self_oriented"], ARMS, "control", contrast_method="bonferroni").contrasts
    np.testing.assert_allclose(bonferroni["p_adjusted"], np.minimum(1, 3 * bonferroni["p_value"]))


def test_arm_without_post_data_is_an_error(data):
    broken = data[~((data["arm"] == "coach") & (data["post"] == 1))]
    with pytest.raises(AnalysisError, match=r"no observations for term\(s\) \['coach:post'\]"):
        primary_analysis(broken, ["self_oriented"], ARMS, "control")


def test_unregistered_arm_is_an_error(data):
    with pytest.raises(AnalysisError, match=r"arms \['placebo'\] are not registered"):
        primary_analysis(data.assign(arm=data["arm"].replace("video", "placebo")), ["self_oriented"], ARMS, "control")
