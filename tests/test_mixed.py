"""The registered linear mixed models against R's lme4, a direct statsmodels fit and hand computation.

The lme4 reference values are in tests/reference/mixed_lme4_*.csv, written by

    Rscript tests/reference/mixed_lme4.R <conversation_scores.csv> <output.csv> <data fingerprint>

which fits, per outcome, ``lmer(score ~ arm * post + scenario + (1 | participant_id), REML = TRUE)`` with
arm levels control (reference), video, coach, combined and scenario levels in sorted order (R 4.2.2, lme4
1.1.31; each file's header holds the exact call). The data are the small unbalanced test cohort
(tests/reference/mixed_small_cohort.csv), the default cohort paper_sim, generated here with
:func:`paper_sim_outcomes` exactly as the pipeline does (the file given to R was
``paper_sim_outcomes().to_csv("paper_sim_conversation_scores.csv", index=False)``), and the same simulation at
10x the trial (``paper_sim_outcomes(scale=10)``: every arm size and first-scenario count times 10, same seed;
written the same way to ``paper_sim_10x_conversation_scores.csv``). Each reference file records a fingerprint of
its data; when the data change, the tests say to regenerate the file.

statsmodels' MixedLM is the second, independent fit: its formula interface and its own REML log-likelihood
(``MixedLM.loglike``) are compared with the module's profiled criterion.
"""

from __future__ import annotations

import hashlib
from functools import cache

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
import yaml
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLMParams

from analysis.cohorts.outcomes import derive_outcomes
from analysis.constants import OUTCOMES
from analysis.errors import AnalysisError
from analysis.models.did import COEFFICIENT_COLUMNS
from analysis.models.mixed import (
    CONVERGENCE_COLUMNS,
    SINGULAR_RATIO,
    MixedFit,
    Optimizer,
    ProfiledREML,
    coefficient_rows,
    fit_mixed_model,
    fixed_effects_design,
    mixed_analysis,
    model_formula,
)
from analysis.prereg.plan import load_prereg
from analysis.prereg.specs import spec_record
from analysis.simulate.cohort import simulate_cohort
from tests.conftest import REPO

ARMS = ["control", "video", "coach", "combined"]
REFERENCE_DIR = REPO / "tests" / "reference"
TOLERANCE = 1e-4  # the agreement target with lme4 (measured: at most 4.3e-7, see docs/mixed_models.md)
VARIANCE_ROWS = ("var(participant)", "var(residual)")
FIXED_TERMS = [
    "intercept", "video", "coach", "combined", "post", "video:post", "coach:post", "combined:post",
    "scenario[loss_dad]", "scenario[mom_unwell]", "scenario[promotion]", "scenario[undervalued]",
]


def mixed_plan() -> dict:
    return load_prereg(REPO / "config" / "prereg.yaml")["mixed_models"]


@cache
def paper_sim_outcomes(scale: int = 1) -> pd.DataFrame:
    """The default cohort's conversation scores, simulated and derived as the pipeline does
    (simulate_cohort with config/config.yaml's paper_sim block; no exclusion applies to it); ``scale``
    multiplies every arm size and first-scenario count (same seed)."""
    plan = load_prereg(REPO / "config" / "prereg.yaml")
    with open(REPO / "config" / "config.yaml", encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)["cohorts"]["paper_sim"]["simulation"]
    cohort = simulate_cohort(
        {arm: scale * size for arm, size in spec["arm_sizes"].items()}, seed=spec["seed"], judges=spec["judges"],
        first_scenario_counts={scenario: scale * count for scenario, count in spec["first_scenario_counts"].items()},
        messages_per_conversation=spec["messages_per_conversation"], reference_arm=plan["design"]["reference_arm"],
    )
    return derive_outcomes(
        cohort.participants, cohort.conversations, cohort.scores, cohort.conversations,
        plan["outcomes"]["dimensions"], plan["outcomes"]["composite"], plan["judge_aggregation"],
        plan["design"]["post_conversations"],
    )


@cache
def small_cohort_outcomes() -> pd.DataFrame:
    """The small unbalanced test cohort (120 participants, 4 conversations removed; see the file's header)."""
    return pd.read_csv(REFERENCE_DIR / "mixed_small_cohort.csv", comment="#", dtype={"participant_id": str, "arm": str, "scenario": str})


def fingerprint(data: pd.DataFrame) -> str:
    """Short sha256 of the modelled columns, to tell whether data still equal those R saw."""
    columns = ["participant_id", "arm", "conversation_number", "scenario", *OUTCOMES]
    return hashlib.sha256(data[columns].to_csv(index=False, lineterminator="\n").encode()).hexdigest()[:16]


def lme4_reference(name: str) -> tuple[pd.DataFrame, str]:
    """The stored lme4 values and the fingerprint of the data they were computed on."""
    path = REFERENCE_DIR / f"mixed_lme4_{name}.csv"
    header = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("# data_fingerprint:")]
    return pd.read_csv(path, comment="#"), header[0].split(":", 1)[1].strip()


def check_data_unchanged(data: pd.DataFrame, name: str) -> pd.DataFrame:
    reference, expected = lme4_reference(name)
    assert fingerprint(data) == expected, (
        f"the {name} data differ from those the lme4 references were computed on (simulator or outcomes changed?); "
        f"regenerate tests/reference/mixed_lme4_{name}.csv with tests/reference/mixed_lme4.R"
    )
    return reference


def cohort_outcomes(name: str) -> pd.DataFrame:
    """The conversation scores behind tests/reference/mixed_lme4_<name>.csv."""
    return {"paper_sim": paper_sim_outcomes, "paper_sim_10x": lambda: paper_sim_outcomes(10)}.get(name, small_cohort_outcomes)()


@cache
def fitted(name: str):
    return mixed_analysis(cohort_outcomes(name), list(OUTCOMES), ARMS, "control", mixed_plan()["optimizers"])


def differences_from_lme4(results, reference: pd.DataFrame) -> pd.DataFrame:
    lmm = reference[(reference["model"] == "lmm") & (reference["term"] != "reml_criterion")]
    merged = results.coefficients.merge(lmm, on=["outcome", "term"], how="outer", suffixes=("", "_lme4"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", ["outcome", "term", "_merge"]]
    return merged


@pytest.mark.parametrize("name", ["small_cohort", "paper_sim", "paper_sim_10x"])
def test_agrees_with_lme4(name):
    reference = check_data_unchanged(cohort_outcomes(name), name)
    merged = differences_from_lme4(fitted(name), reference)
    fixed = merged[~merged["term"].str.startswith("var(")]
    variances = merged[merged["term"].str.startswith("var(")]
    assert len(fixed) == 7 * 12 and len(variances) == 7 * 2
    assert np.abs(fixed["estimate"] - fixed["estimate_lme4"]).max() < TOLERANCE
    assert np.abs(fixed["std_error"] - fixed["std_error_lme4"]).max() < TOLERANCE
    assert np.abs(variances["estimate"] - variances["estimate_lme4"]).max() < TOLERANCE
    criterion = reference[(reference["model"] == "lmm") & (reference["term"] == "reml_criterion")].set_index("outcome")["estimate"]
    log_likelihood = fitted(name).convergence.set_index("outcome")["log_likelihood"]
    np.testing.assert_allclose(-2 * log_likelihood[criterion.index], criterion, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("name", ["small_cohort", "paper_sim", "paper_sim_10x"])
def test_reliability_model_agrees_with_lme4(name):
    # The reliability model of tests/test_reliable_change.py, fitted here directly with fit_mixed_model (at 10x too).
    data = cohort_outcomes(name)
    reference = check_data_unchanged(data, name)
    lme4 = reference[reference["model"] == "reliability"].set_index("term")["estimate"]
    control = data[data["arm"] == "control"]
    design = fixed_effects_design(control, ["post"], ["control"], "control")
    optimizers = [Optimizer.from_plan(entry) for entry in mixed_plan()["optimizers"]]
    fit = fit_mixed_model(control["overall_empathy"], design, control["participant_id"], optimizers, "reliability")
    assert fit.participant_variance == pytest.approx(lme4["var(participant)"], abs=TOLERANCE)
    assert fit.residual_variance == pytest.approx(lme4["var(residual)"], abs=TOLERANCE)
    np.testing.assert_allclose(fit.fixed_effects.to_numpy(), lme4[["intercept", "post"]].to_numpy(), atol=TOLERANCE)
    assert -2 * fit.log_likelihood == pytest.approx(lme4["reml_criterion"], abs=TOLERANCE)


def test_statsmodels_default_standard_errors_would_not_match_lme4():
    # Why statsmodels' MixedLM, when used as a cross-check, is compared on its estimates and not on bse_fe: bse_fe
    # inverts the whole Hessian (fixed effects and variance parameters) and misses lme4's vcov beyond the tolerance.
    data = small_cohort_outcomes()
    reference = check_data_unchanged(data, "small_cohort")
    lme4 = reference[(reference["model"] == "lmm") & (reference["outcome"] == "overall_empathy")].set_index("term")
    design = fixed_effects_design(data, mixed_plan()["terms"], ARMS, "control")
    result = sm.MixedLM(data["overall_empathy"].to_numpy(), design, groups=data["participant_id"].to_numpy()).fit(
        reml=True, method=["bfgs"], gtol=1e-8
    )
    assert np.abs(result.fe_params - lme4.loc[design.columns, "estimate"]).max() < TOLERANCE
    assert np.abs(result.bse_fe - lme4.loc[design.columns, "std_error"]).max() > TOLERANCE


def test_columns_terms_and_variance_rows():
    results = fitted("small_cohort")
    assert list(results.coefficients.columns) == COEFFICIENT_COLUMNS
    assert list(results.convergence.columns) == CONVERGENCE_COLUMNS
    one = results.coefficients[results.coefficients["outcome"] == "advice_giving"]
    assert one["term"].tolist() == [*FIXED_TERMS, "var(participant)", "var(residual)"]
    assert results.coefficients["outcome"].unique().tolist() == list(OUTCOMES)
    variances = results.coefficients[results.coefficients["term"].str.startswith("var(")]
    assert variances[["std_error", "statistic", "p_value", "ci_low", "ci_high"]].isna().all().all()
    assert (variances["estimate"] > 0).all()
    assert (results.coefficients["n_obs"] == 356).all() and (results.coefficients["n_clusters"] == 120).all()
    assert results.convergence["converged"].all()
    assert (results.convergence["optimizer"] == "profiled_bounded").all() and (results.convergence["warnings"] == "").all()


def test_equals_direct_statsmodels_formula_fit_and_hand_computed_covariance():
    data = small_cohort_outcomes()
    ours = fitted("small_cohort").coefficients.query("outcome == 'overall_empathy'").set_index("term")
    direct = smf.mixedlm(
        "overall_empathy ~ C(arm, Treatment('control')) * post + C(scenario)", data, groups=data["participant_id"]
    ).fit(reml=True, method=["bfgs"], gtol=1e-8)
    names = {"Intercept": "intercept", "post": "post"}
    names.update({f"C(arm, Treatment('control'))[T.{arm}]": arm for arm in ARMS[1:]})
    names.update({f"C(arm, Treatment('control'))[T.{arm}]:post": f"{arm}:post" for arm in ARMS[1:]})
    names.update({f"C(scenario)[T.{level}]": f"scenario[{level}]" for level in ["loss_dad", "mom_unwell", "promotion", "undervalued"]})
    fe = direct.fe_params.rename(index=names)
    np.testing.assert_allclose(ours.loc[fe.index, "estimate"], fe, atol=1e-7)
    assert ours.loc["var(participant)", "estimate"] == pytest.approx(float(direct.cov_re.iloc[0, 0]), abs=1e-6)
    assert ours.loc["var(residual)", "estimate"] == pytest.approx(direct.scale, abs=1e-6)

    # Hand computation: V = s2u Z Z' + s2e I, Cov(beta) = (X' V^-1 X)^-1, beta = GLS estimate.
    design = fixed_effects_design(data, mixed_plan()["terms"], ARMS, "control").to_numpy()
    same = (data["participant_id"].to_numpy()[:, None] == data["participant_id"].to_numpy()[None, :]).astype(float)
    marginal = ours.loc["var(participant)", "estimate"] * same + ours.loc["var(residual)", "estimate"] * np.eye(len(data))
    weighted = np.linalg.solve(marginal, design)
    covariance = np.linalg.inv(design.T @ weighted)
    beta = covariance @ weighted.T @ data["overall_empathy"].to_numpy()
    np.testing.assert_allclose(ours.loc[FIXED_TERMS, "estimate"], beta, atol=1e-9)
    np.testing.assert_allclose(ours.loc[FIXED_TERMS, "std_error"], np.sqrt(np.diag(covariance)), atol=1e-9)


def test_wald_statistics_and_intervals():
    ours = fitted("small_cohort").coefficients.dropna(subset=["std_error"])
    z = ours["estimate"] / ours["std_error"]
    np.testing.assert_allclose(ours["statistic"], z, rtol=1e-12)
    np.testing.assert_allclose(ours["p_value"], 2 * stats.norm.sf(np.abs(z)), rtol=1e-10)
    np.testing.assert_allclose(ours["ci_high"] - ours["estimate"], stats.norm.ppf(0.975) * ours["std_error"], rtol=1e-10)
    np.testing.assert_allclose(ours["estimate"] - ours["ci_low"], stats.norm.ppf(0.975) * ours["std_error"], rtol=1e-10)


def test_registered_scenario_reference_changes_only_the_scenario_coding():
    data = small_cohort_outcomes()
    default = fitted("small_cohort").coefficients.query("outcome == 'overall_empathy'").set_index("term")
    recoded = mixed_analysis(data, ["overall_empathy"], ARMS, "control", mixed_plan()["optimizers"], scenario_reference="promotion")
    table = recoded.coefficients.set_index("term")
    assert "scenario[promotion]" not in table.index and "scenario[job_loss]" in table.index
    for term in ["video:post", "coach:post", "combined:post", "var(participant)", "var(residual)"]:
        assert table.loc[term, "estimate"] == pytest.approx(default.loc[term, "estimate"], abs=1e-6)
    assert table.loc["scenario[job_loss]", "estimate"] == pytest.approx(-default.loc["scenario[promotion]", "estimate"], abs=1e-6)
    assert recoded.execution["details"]["scenario_levels"][0] == "promotion"
    with pytest.raises(AnalysisError, match="scenario reference 'beach' does not occur"):
        mixed_analysis(data, ["overall_empathy"], ARMS, "control", mixed_plan()["optimizers"], scenario_reference="beach")


def test_nonconvergence_is_an_error_naming_the_outcome():
    with pytest.raises(
        AnalysisError, match=r"mixed model for 'self_oriented' did not converge cleanly .*profiled_bounded .*maxiter': 1.*did not converge"
    ):
        mixed_analysis(small_cohort_outcomes(), ["self_oriented"], ARMS, "control", [{"method": "profiled_bounded", "maxiter": 1}])


def test_registered_second_attempt_is_used_and_recorded():
    data = small_cohort_outcomes()
    reference = check_data_unchanged(data, "small_cohort")
    results = mixed_analysis(
        data, ["overall_empathy"], ARMS, "control",
        [{"method": "profiled_bounded", "maxiter": 1}, {"method": "profiled_bounded", "maxiter": 500, "xatol": 1e-10}],
    )
    row = results.convergence.iloc[0]
    assert (row["optimizer"], row["attempts"], bool(row["converged"])) == ("profiled_bounded", "profiled_bounded>profiled_bounded", True)
    assert "profiled_bounded: Brent's method did not converge" in row["warnings"]
    assert results.execution["diagnostics"]["n_warnings"]["overall_empathy"] >= 1
    merged = differences_from_lme4(results, reference[reference["outcome"] == "overall_empathy"])
    assert np.abs(merged["estimate"] - merged["estimate_lme4"]).max() < TOLERANCE


def test_participant_variance_on_the_boundary_is_an_error():
    data = small_cohort_outcomes().copy()
    noise = np.random.default_rng(0).normal(size=len(data))
    # every participant has the same mean: the between-participant variance is estimated at zero
    data["flat"] = noise - pd.Series(noise).groupby(data["participant_id"].to_numpy()).transform("mean").to_numpy()
    with pytest.raises(AnalysisError, match="between-participant variance is estimated at \\(or near\\) zero"):
        mixed_analysis(data, ["flat"], ARMS, "control", mixed_plan()["optimizers"])


def test_residual_variance_of_zero_is_an_error():
    data = small_cohort_outcomes().copy()
    codes = pd.factorize(data["participant_id"])[0]
    # every conversation of a participant has the same score: no variation within participants
    data["between_only"] = np.random.default_rng(1).normal(size=codes.max() + 1)[codes]
    with pytest.raises(AnalysisError, match="'between_only' did not converge cleanly.*residual variance is estimated at \\(or near\\) zero"):
        mixed_analysis(data, ["between_only"], ARMS, "control", mixed_plan()["optimizers"])


def test_bad_data_is_rejected_with_clear_messages():
    data = small_cohort_outcomes().copy()
    optimizers = mixed_plan()["optimizers"]
    with_gap = data.assign(overall_empathy=data["overall_empathy"].where(data.index != 7))
    with pytest.raises(AnalysisError, match="'overall_empathy' has 1 missing value.*row 8"):
        mixed_analysis(with_gap, ["overall_empathy"], ARMS, "control", optimizers)
    with pytest.raises(AnalysisError, match=r"arms \['placebo'\] are not registered"):
        mixed_analysis(data.assign(arm=data["arm"].replace("video", "placebo")), ["overall_empathy"], ARMS, "control", optimizers)
    no_post = data[~((data["arm"] == "coach") & (data["post"] == 1))]
    with pytest.raises(AnalysisError, match=r"no observations for term\(s\) \['coach:post'\]"):
        mixed_analysis(no_post, ["overall_empathy"], ARMS, "control", optimizers)
    with pytest.raises(AnalysisError, match="lack column"):
        mixed_analysis(data.drop(columns="post"), ["overall_empathy"], ARMS, "control", optimizers)
    with pytest.raises(AnalysisError, match="optimizer method 'lbfgs'"):
        mixed_analysis(data, ["overall_empathy"], ARMS, "control", [{"method": "lbfgs", "maxiter": 10}])


def test_collinear_design_is_rejected():
    data = small_cohort_outcomes()
    # scenario identical to arm: the scenario dummies are linear combinations of the arm dummies
    confounded = data.assign(scenario=data["arm"])
    with pytest.raises(AnalysisError, match="has rank .* some effects are not identified"):
        fixed_effects_design(confounded, ["arm", "post", "arm:post", "scenario"], ARMS, "control")


def test_optimizer_settings_reach_statsmodels_only_where_they_apply():
    assert Optimizer.from_plan({"method": "profiled_bounded", "maxiter": 5, "xatol": 1e-7}).fit_options() == {"maxiter": 5, "xatol": 1e-7}
    assert Optimizer.from_plan({"method": "profiled_bounded", "maxiter": 3}).fit_options() == {"maxiter": 3}
    with pytest.raises(AnalysisError, match="optimizer method 'bfgs' is not one of"):
        Optimizer.from_plan({"method": "bfgs", "maxiter": 3})
    assert model_formula(["arm", "post", "arm:post", "scenario"]) == "score ~ arm + post + arm:post + scenario + (1 | participant_id)"
    assert model_formula([]) == "score ~ 1 + (1 | participant_id)"


def test_deterministic_and_spec_record_is_valid():
    first = fitted("small_cohort")
    again = mixed_analysis(small_cohort_outcomes(), list(OUTCOMES), ARMS, "control", mixed_plan()["optimizers"])
    assert first.coefficients.to_csv(index=False) == again.coefficients.to_csv(index=False)
    assert first.convergence.to_csv(index=False) == again.convergence.to_csv(index=False)
    record = spec_record(analysis_id=mixed_plan()["id"], family="mixed", cohort="small", confirmatory=False, **first.execution)
    assert record["terms"] == FIXED_TERMS
    assert record["estimator"] == "mixedlm_reml" and record["covariance"]["type"] == "model_based_reml"
    assert record["sample"] == {"unit": "conversation", "n_obs": 356, "n_conversations": 356, "n_participants": 120}
    assert record["details"]["formula"] == "score ~ arm + post + arm:post + scenario + (1 | participant_id)"
    assert set(record["diagnostics"]["converged"]) == set(OUTCOMES)


def test_sufficient_statistics_add_up_to_the_cross_products():
    # Within-participant plus between-participant cross-products are the plain cross-products of [X, y].
    data = small_cohort_outcomes()
    design = fixed_effects_design(data, mixed_plan()["terms"], ARMS, "control")
    profile = ProfiledREML.from_data(data["overall_empathy"].to_numpy(), design.to_numpy(), data["participant_id"].to_numpy())
    values = np.column_stack([design.to_numpy(), data["overall_empathy"].to_numpy()])
    np.testing.assert_allclose(profile.within + profile.between.sum(axis=0), values.T @ values, rtol=1e-12, atol=1e-10)
    assert profile.sizes.tolist() == [2.0, 3.0] and profile.size_counts.tolist() == [4.0, 116.0]
    assert (profile.n_obs, profile.n_groups) == (356, 120)


def reml_model(endog: pd.Series, design: pd.DataFrame, groups: pd.Series) -> sm.MixedLM:
    """A statsmodels MixedLM set up to evaluate its REML log-likelihood without fitting (what fit() sets first)."""
    model = sm.MixedLM(endog.to_numpy(), design, groups=groups.to_numpy())
    model.reml, model.cov_pen, model.fe_pen = True, None, None
    return model


@pytest.mark.parametrize("ratio", [1e-3, 0.1, 1.0, 10.0, 1e3])
def test_profiled_criterion_equals_statsmodels_reml_log_likelihood(ratio):
    # A second formulation of the criterion at any variance ratio: statsmodels' MixedLM.loglike (REML, fixed
    # effects and scale profiled out) at cov_re = sigma2_u / sigma2_e.
    data = small_cohort_outcomes()
    design = fixed_effects_design(data, mixed_plan()["terms"], ARMS, "control")
    for outcome in ["overall_empathy", "advice_giving"]:
        profile = ProfiledREML.from_data(data[outcome].to_numpy(), design.to_numpy(), data["participant_id"].to_numpy())
        model = reml_model(data[outcome], design, data["participant_id"])
        params = MixedLMParams.from_components(fe_params=np.zeros(design.shape[1]), cov_re=np.array([[ratio]]))
        assert profile.criterion(np.log(ratio)) == pytest.approx(-2 * model.loglike(params, profile_fe=True), abs=1e-8)


def test_statsmodels_mixedlm_cross_check_on_the_default_cohort():
    # statsmodels' own optimiser (BFGS, tight tolerance) reaches the same REML estimates on paper_sim.
    data = paper_sim_outcomes()
    ours = fitted("paper_sim").coefficients.query("outcome == 'overall_empathy'").set_index("term")
    design = fixed_effects_design(data, mixed_plan()["terms"], ARMS, "control")
    result = sm.MixedLM(data["overall_empathy"].to_numpy(), design, groups=data["participant_id"].to_numpy()).fit(
        reml=True, method=["bfgs"], gtol=1e-8
    )
    assert np.abs(result.fe_params - ours.loc[design.columns, "estimate"]).max() < 1e-6
    assert float(result.cov_re.iloc[0, 0]) == pytest.approx(ours.loc["var(participant)", "estimate"], abs=1e-5)
    assert result.scale == pytest.approx(ours.loc["var(residual)", "estimate"], abs=1e-5)


@pytest.mark.parametrize("true_ratio", [1e-2, 1e2])
def test_estimate_minimises_statsmodels_criterion_at_extreme_variance_ratios(true_ratio):
    # No start value to choose: data with a participant variance far below or far above the residual variance
    # are fitted at a ratio where statsmodels' REML log-likelihood is at its maximum (checked on either side).
    rng = np.random.default_rng(11)
    data = small_cohort_outcomes().copy()
    codes = pd.factorize(data["participant_id"])[0]
    data["y"] = rng.normal(scale=np.sqrt(true_ratio), size=codes.max() + 1)[codes] + rng.normal(size=len(data))
    fit = mixed_analysis(data, ["y"], ARMS, "control", mixed_plan()["optimizers"]).coefficients.set_index("term")
    ratio = fit.loc["var(participant)", "estimate"] / fit.loc["var(residual)", "estimate"]
    assert ratio > SINGULAR_RATIO
    design = fixed_effects_design(data, mixed_plan()["terms"], ARMS, "control")
    model = reml_model(data["y"], design, data["participant_id"])

    def log_likelihood(value):
        return model.loglike(MixedLMParams.from_components(fe_params=np.zeros(design.shape[1]), cov_re=np.array([[value]])))

    best = log_likelihood(ratio)
    assert best >= log_likelihood(ratio * 1.001) and best >= log_likelihood(ratio / 1.001)


def test_rescaled_outcome_rescales_the_estimates():
    data = small_cohort_outcomes()
    base = fitted("small_cohort").coefficients.query("outcome == 'overall_empathy'").set_index("term")
    scaled = mixed_analysis(
        data.assign(overall_empathy=1000 * data["overall_empathy"]), ["overall_empathy"], ARMS, "control", mixed_plan()["optimizers"]
    ).coefficients.set_index("term")
    np.testing.assert_allclose(scaled.loc[FIXED_TERMS, "estimate"], 1000 * base.loc[FIXED_TERMS, "estimate"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(scaled.loc[FIXED_TERMS, "std_error"], 1000 * base.loc[FIXED_TERMS, "std_error"], rtol=1e-6)
    np.testing.assert_allclose(scaled.loc[list(VARIANCE_ROWS), "estimate"], 1e6 * base.loc[list(VARIANCE_ROWS), "estimate"], rtol=1e-6)


def test_a_single_scenario_cohort_is_refused_for_the_scenario_term():
    """Degenerate data: with one scenario the registered scenario term has no contrast; fitting without it
    silently would change the registered model."""
    data = small_cohort_outcomes().assign(scenario="job_loss")
    with pytest.raises(AnalysisError, match=r"term 'scenario' is not estimable: every conversation has the same scenario \['job_loss'\]"):
        mixed_analysis(data, ["overall_empathy"], ARMS, "control", mixed_plan()["optimizers"])
    terms = [term for term in mixed_plan()["terms"] if term != "scenario"]
    fitted_without = mixed_analysis(data, ["overall_empathy"], ARMS, "control", mixed_plan()["optimizers"], terms=terms)
    assert not fitted_without.coefficients["term"].str.startswith("scenario").any()


def test_a_fixed_effect_without_variation_has_an_infinite_statistic():
    # the mixed models keep the plain Wald ratio: z = +/-inf and p = 0 where the standard error is zero
    terms = ["intercept", "post"]
    fit = MixedFit(
        fixed_effects=pd.Series([1.5, -0.5], index=terms),
        fixed_covariance=pd.DataFrame([[0.25, 0.0], [0.0, 0.0]], index=terms, columns=terms),
        participant_variance=0.1, residual_variance=0.2, log_likelihood=-1.0,
        optimizer="brent", attempts=["brent"], iterations=1, function_calls=1,
    )
    rows = coefficient_rows(fit, "composite", 0.05, n_obs=10, n_clusters=5).set_index("term")
    assert rows.loc["intercept", "statistic"] == pytest.approx(3.0)
    assert rows.loc["post", "statistic"] == -np.inf
    assert rows.loc["post", "p_value"] == 0.0
