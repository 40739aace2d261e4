"""The primary DiD against a direct statsmodels formula fit and a hand-written sandwich."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from analysis.cohorts.outcomes import derive_outcomes
from analysis.errors import AnalysisError
from analysis.models.did import (
    COEFFICIENT_COLUMNS,
    CONTRAST_COLUMNS,
    EFFECT_COLUMNS,
    HYPOTHESIS_COLUMNS,
    design_matrix,
    hypothesis_tests,
    primary_analysis,
)
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
    # Holm step-down written out for three p-values: sorted p times 3, 2, 1, running maximum, capped at 1
    raw = np.array([e[4] for e in expected])
    order = np.argsort(raw)
    holm = np.empty(3)
    holm[order] = np.minimum(1.0, np.maximum.accumulate(raw[order] * np.array([3.0, 2.0, 1.0])))
    np.testing.assert_allclose(ours["p_adjusted"], holm, atol=1e-12)
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


# ---------------------------------------------------------------------------------------------
# Registered hypothesis decisions (hypothesis_tests)


def _hypothesis(**changes):
    base = {
        "id": "H9", "term": "coach:post",
        "direction": {"validating_emotions": "increase", "advice_giving": "decrease", "overall_empathy": "increase"},
        "outcomes": ["validating_emotions", "advice_giving", "overall_empathy"],
        "correction": "holm", "sided": "two-sided", "rule": "all",
    }
    base.update(changes)
    return base


def _decide(results, *hypotheses, alpha=0.05):
    return hypothesis_tests(results.coefficients, results.contrasts, list(hypotheses), "overall_empathy", alpha)


def test_hypothesis_rows_take_the_primary_coefficients_and_adjust_within_the_family(results):
    table = _decide(results, _hypothesis())
    assert list(table.columns) == HYPOTHESIS_COLUMNS
    tests = table[table["row"] == "test"].set_index("outcome")
    coefficients = results.coefficients[results.coefficients["term"] == "coach:post"].set_index("outcome")
    for outcome in ("validating_emotions", "advice_giving", "overall_empathy"):
        assert tests.loc[outcome, "estimate"] == coefficients.loc[outcome, "estimate"]
        assert tests.loc[outcome, "p_value"] == coefficients.loc[outcome, "p_value"]
    # Holm written out by hand (a second formulation, not multipletests): sorted p times (m - rank + 1),
    # running maximum, capped at 1
    p = tests["p_value"].to_numpy()
    order = np.argsort(p)
    stepped = np.maximum.accumulate(np.minimum(1.0, p[order] * (len(p) - np.arange(len(p)))))
    expected = np.empty_like(p)
    expected[order] = stepped
    np.testing.assert_allclose(tests["p_adjusted"].to_numpy(), expected, rtol=1e-12)
    assert (tests["family"] == "H9").all() and tests["decides"].all()
    assert table.iloc[-1]["row"] == "verdict" and table.iloc[-1]["verdict"] in ("supported", "partly supported", "not supported")


def test_the_contrast_hypothesis_equals_a_refit_with_the_other_arm_as_reference(results, data):
    """H4-style contrast coach:post - video:post, checked against a second formulation: the same model
    refitted with video as the reference arm, where coach:post is that contrast directly."""
    h4 = _hypothesis(id="H4", term="coach:post - video:post", contrast={"arm_a": "coach", "arm_b": "video"},
                     rule="composite_only")
    tests = _decide(results, h4)
    tests = tests[tests["row"] == "test"].set_index("outcome")
    for outcome in ("overall_empathy", "advice_giving"):
        groups = pd.factorize(data["participant_id"])[0]
        refit = smf.ols(f"{outcome} ~ C(arm, Treatment('video')) * post", data).fit(cov_type="cluster", cov_kwds={"groups": groups})
        name = "C(arm, Treatment('video'))[T.coach]:post"
        assert tests.loc[outcome, "estimate"] == pytest.approx(refit.params[name], abs=1e-10)
        assert tests.loc[outcome, "std_error"] == pytest.approx(refit.bse[name], abs=1e-10)
        assert tests.loc[outcome, "p_value"] == pytest.approx(refit.pvalues[name], abs=1e-10)
        low, high = refit.conf_int().loc[name]
        assert (tests.loc[outcome, "ci_low"], tests.loc[outcome, "ci_high"]) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))
    # composite_only: the composite alone decides, unadjusted (a family of one); the dimensions support
    assert tests.loc["overall_empathy", "decides"] and tests.loc["overall_empathy", "family"] == "H4"
    assert tests.loc["overall_empathy", "p_adjusted"] == tests.loc["overall_empathy", "p_value"]
    assert not tests.loc["advice_giving", "decides"] and tests.loc["advice_giving", "family"] == "H4 supporting"


def test_one_sided_p_is_half_the_two_sided_in_the_registered_direction(results):
    two = _decide(results, _hypothesis(correction="none"))
    one = _decide(results, _hypothesis(correction="none", sided="one-sided"))
    two, one = (frame[frame["row"] == "test"].set_index("outcome") for frame in (two, one))
    for outcome in two.index:
        half = two.loc[outcome, "p_value"] / 2
        expected = half if two.loc[outcome, "direction_held"] else 1 - half
        assert one.loc[outcome, "p_value"] == pytest.approx(expected, abs=1e-12)


def _verdict_from(p_values, estimates, rule):
    """A verdict computed on a hand-made coefficient table (three outcomes of one term)."""
    outcomes = ["validating_emotions", "advice_giving", "overall_empathy"]
    coefficients = pd.DataFrame({
        "outcome": outcomes, "term": "coach:post", "estimate": estimates, "std_error": 1.0, "statistic": estimates,
        "p_value": p_values, "ci_low": np.array(estimates) - 2, "ci_high": np.array(estimates) + 2,
    })
    table = hypothesis_tests(coefficients, pd.DataFrame(columns=CONTRAST_COLUMNS),
                             [_hypothesis(rule=rule, correction="none")], "overall_empathy", 0.05)
    return table.iloc[-1]["verdict"]


@pytest.mark.parametrize(("p_values", "estimates", "rule", "verdict"), [
    ([0.01, 0.01, 0.01], [1.0, -1.0, 1.0], "all", "supported"),
    ([0.01, 0.50, 0.01], [1.0, -1.0, 1.0], "all", "partly supported"),
    ([0.01, 0.01, 0.01], [-1.0, 1.0, -1.0], "all", "not supported"),      # significant, wrong way round
    ([0.01, 0.50, 0.50], [1.0, -1.0, 1.0], "any", "supported"),
    ([0.50, 0.50, 0.50], [1.0, -1.0, 1.0], "any", "not supported"),
    ([0.50, 0.50, 0.01], [1.0, -1.0, 1.0], "composite_only", "supported"),
    ([0.01, 0.01, 0.50], [1.0, -1.0, 1.0], "composite_only", "not supported"),
])
def test_verdicts_follow_the_registered_rule(p_values, estimates, rule, verdict):
    assert _verdict_from(p_values, estimates, rule) == verdict


def test_a_hypothesis_without_its_term_is_an_error(results):
    with pytest.raises(AnalysisError, match="H9: the primary analysis has no coefficient 'age:post' for outcome 'validating_emotions'"):
        _decide(results, _hypothesis(term="age:post"))


# ---------------------------------------------------------------------------------------------
# Degenerate data: a clear error naming the outcome and the reason, never an infinity


def test_a_constant_outcome_is_not_estimable(data):
    constant = data.assign(self_oriented=3.0)
    with pytest.raises(AnalysisError, match=r"outcome 'self_oriented': not estimable, every analysed conversation has the same value \(3.0\)"):
        primary_analysis(constant, ["self_oriented"], ARMS, "control")


def test_an_arm_emptied_by_the_exclusions_is_not_estimable(data):
    emptied = data[data["arm"] != "combined"]
    with pytest.raises(AnalysisError, match=r"outcome 'overall_empathy': not estimable, arm\(s\) \['combined'\] have no analysed conversation"):
        primary_analysis(emptied, ["overall_empathy"], ARMS, "control")


def test_a_dimension_never_scored_is_not_estimable(data):
    never = data.assign(dismissing_emotions=np.nan)
    with pytest.raises(AnalysisError, match=r"outcome 'dismissing_emotions': not estimable, no analysed conversation has a score"):
        primary_analysis(never, ["dismissing_emotions"], ARMS, "control")
    with pytest.raises(AnalysisError, match=r"outcome 'dismissing_emotions': not estimable, the column is missing"):
        primary_analysis(data.drop(columns="dismissing_emotions"), ["dismissing_emotions"], ARMS, "control")


# R 4.2.2: p <- c(0.0021, 0.013, 0.04, 0.0405, 0.2, 0.61)
#          for (m in c("holm", "bonferroni", "hochberg")) cat(m, sprintf("%.17g", p.adjust(p, method = m)), "\n")
R_P_ADJUST = {
    "holm": [0.0126, 0.065000000000000002, 0.16, 0.16, 0.40000000000000002, 0.60999999999999999],
    "bonferroni": [0.0126, 0.078, 0.23999999999999999, 0.24299999999999999, 1.0, 1.0],
    "hochberg": [0.0126, 0.065000000000000002, 0.1215, 0.1215, 0.40000000000000002, 0.60999999999999999],
    "none": [0.0021, 0.013, 0.04, 0.0405, 0.2, 0.61],
}


@pytest.mark.parametrize("correction", sorted(R_P_ADJUST))
def test_hypothesis_corrections_equal_r_p_adjust(plan, correction):
    dimensions = plan["outcomes"]["dimensions"]
    p_values = [0.0021, 0.013, 0.04, 0.0405, 0.2, 0.61]
    coefficients = pd.DataFrame({
        "outcome": dimensions, "term": "coach:post", "estimate": 1.0, "std_error": 1.0, "statistic": 1.0, "p_value": p_values,
        "ci_low": 0.0, "ci_high": 2.0,
    })
    hypothesis = _hypothesis(outcomes=dimensions, direction=dict.fromkeys(dimensions, "increase"), correction=correction)
    table = hypothesis_tests(coefficients, pd.DataFrame(columns=CONTRAST_COLUMNS), [hypothesis], "overall_empathy", 0.05)
    tests = table[table["row"] == "test"]
    np.testing.assert_allclose(tests["p_adjusted"].to_numpy(dtype=float), R_P_ADJUST[correction], rtol=1e-12)
    assert (tests["method"] == correction).all()
    # at alpha 0.05 one outcome survives Holm, Bonferroni and Hochberg, four survive no correction
    assert int(tests["significant"].sum()) == (4 if correction == "none" else 1)
    assert table.iloc[-1]["verdict"] == "partly supported"
