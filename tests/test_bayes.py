"""The Bayesian models: likelihood, model structure, derived quantities, gates, summaries, recovery.

Structural tests build the models and draw from the prior only. The sampling tests fit small
simulated cohorts once per module (2 chains x 300 draws) with ``policy: warn`` (a gate never decides
whether a test passes): the ordinal model on data simulated
directly from its generative process (numpy, independent of the model code) and the composite
model, whose posterior means are also compared with statsmodels' MixedLM (REML) estimates. A
single-dimension ordinal fit with weak priors is compared with R's ``ordinal::clmm`` (values stored
in tests/reference/ordinal_clmm_recovery.csv by tests/reference/ordinal_clmm.R).

The data sets are fixed (numpy seeds), but the MCMC trajectory differs between CPUs, so every bound
on a sampled quantity was checked over 20 sampler seeds (0-19) with
``PYTHONPATH=. .venv/bin/python benchmarks/stochastic_margins.py --seeds 20``; the worst value over those
seeds, the seed-to-seed SD and the distance of the bound from the median in those SDs are written
beside each bound.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import contextmanager
from dataclasses import replace

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
import statsmodels.formula.api as smf
import xarray as xr
from scipy import integrate, stats
from scipy.special import expit

from analysis.errors import AnalysisError, ConfigError
from analysis.models import bayes
from analysis.models.bayes import (
    COMPOSITE_QUANTITIES,
    CONTRAST_COLUMNS,
    DIAGNOSTIC_COLUMNS,
    EFFECT_COLUMNS,
    ORDINAL_QUANTITIES,
    PPC_COLUMNS,
    DiagnosticsError,
    Gates,
    Sampler,
    bayes_effects,
    beneficial_directions,
    build_composite_model,
    build_ordinal_model,
    cumulative_logit_logp,
    cumulative_logit_random,
    diagnostics_table,
    discretise_scores,
    enforce_gates,
    expected_score,
    expected_score_effects,
    fit_composite_model,
    fit_ordinal_model,
    gate_problems,
    ppc_category_proportions,
    sample_model,
    thin_posterior,
    trial_design,
)
from tests.conftest import REPO, simulated_outcomes

ARMS = ["control", "video", "coach", "combined"]
DIMENSIONS = [
    "validating_emotions", "encouraging_elaboration", "demonstrating_understanding",
    "advice_giving", "self_oriented", "dismissing_emotions",
]
GATES = Gates(max_r_hat=1.01, min_ess_bulk=400, min_ess_tail=400, max_divergences=0, policy="fail")
# the sampling tests' gates: looser than registered, and a broken gate is only logged
RECOVERY_GATES = replace(GATES, min_ess_bulk=100, min_ess_tail=100, max_r_hat=1.05, policy="warn")


@pytest.fixture(scope="module")
def registered(plan):
    return plan["bayesian_models"]


def ordinal_settings(registered: dict, **overrides) -> dict:
    """The registered ordinal model's keywords of :func:`fit_ordinal_model` (all but data, design,
    sampler and gates), some replaced by ``overrides``."""
    block = registered["ordinal"]
    settings = {
        "priors": block["priors"],
        "gated": block["gated"],
        "discretisation": block["discretisation"],
        "participant_parameterisation": block["participant_parameterisation"],
        "posterior_predictive_draws": block["posterior_predictive_draws"],
    }
    return {**settings, **overrides}


@pytest.fixture(scope="module")
def outcomes():
    return simulated_outcomes(n_per_arm=10, seed=11)


# ---------------------------------------------------------------------------------------------
# Likelihood
# ---------------------------------------------------------------------------------------------


def test_cumulative_logit_logp_and_gradient_equal_pymc_ordered_logistic():
    rng = np.random.default_rng(0)
    eta = rng.normal(0, 2.5, size=(40, 3))
    cutpoints = np.sort(rng.normal(0, 2, size=(3, 4)), axis=1)
    values = rng.integers(1, 6, size=(40, 3))
    ours = cumulative_logit_logp(pt.as_tensor(values), pt.as_tensor(eta), pt.as_tensor(cutpoints)).eval()
    reference = pm.logp(pm.OrderedLogistic.dist(eta=eta, cutpoints=cutpoints[None]), values - 1).eval()
    np.testing.assert_allclose(ours, reference, rtol=1e-10, atol=1e-12)
    eta_var, cut_var = pt.matrix("eta"), pt.matrix("cut")
    ours_sum = cumulative_logit_logp(pt.as_tensor(values), eta_var, cut_var).sum()
    reference_sum = pm.logp(pm.OrderedLogistic.dist(eta=eta_var, cutpoints=cut_var[None]), values - 1).sum()
    ours_grad = pytensor.function([eta_var, cut_var], pytensor.grad(ours_sum, [eta_var, cut_var]))(eta, cutpoints)
    reference_grad = pytensor.function([eta_var, cut_var], pytensor.grad(reference_sum, [eta_var, cut_var]))(eta, cutpoints)
    for mine, theirs in zip(ours_grad, reference_grad):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-10)


def test_cumulative_logit_logp_is_finite_far_in_the_tails():
    eta = np.array([[-30.0, 30.0, 0.0]])
    cutpoints = np.array([[-2.0, -1.0, 1.0, 2.0]] * 3)
    values = np.array([[5, 1, 3]])
    logp = cumulative_logit_logp(pt.as_tensor(values), pt.as_tensor(eta), pt.as_tensor(cutpoints)).eval()
    assert np.isfinite(logp).all()
    # P(y = 5 | eta = -30) = logistic(eta - c_4) = logistic(-32); P(y = 1 | eta = 30) = logistic(c_1 - eta) = logistic(-32)
    assert logp[0, 0] == pytest.approx(-np.logaddexp(0.0, 32.0), rel=1e-14)
    assert logp[0, 1] == pytest.approx(-np.logaddexp(0.0, 32.0), rel=1e-14)


def test_random_draws_follow_the_category_probabilities():
    rng = np.random.default_rng(1)
    eta = np.full((20000, 2), 0.4)
    cutpoints = np.array([[-1.0, 0.0, 0.5, 2.0], [-3.0, -2.0, 1.0, 1.5]])
    draws = cumulative_logit_random(eta, cutpoints, rng=rng)
    assert draws.shape == (20000, 2) and draws.min() >= 1 and draws.max() <= 5
    for column in range(2):
        cumulative = np.concatenate([[0.0], expit(cutpoints[column] - 0.4), [1.0]])
        expected = np.diff(cumulative) * len(eta)
        observed = np.bincount(draws[:, column], minlength=6)[1:]
        assert stats.chisquare(observed, expected).pvalue > 0.001


def test_expected_score_equals_the_mean_of_the_category_probabilities():
    eta = np.array([-1.0, 0.0, 2.3])
    cutpoints = np.array([-1.5, -0.2, 0.9, 2.5])
    cumulative = np.concatenate([np.zeros((3, 1)), expit(cutpoints - eta[:, None]), np.ones((3, 1))], axis=1)
    probabilities = np.diff(cumulative, axis=1)
    np.testing.assert_allclose(expected_score(eta, cutpoints), probabilities @ np.arange(1, 6), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Data preparation
# ---------------------------------------------------------------------------------------------


def test_discretise_scores_rounds_as_registered_and_counts_rounded_values():
    frame = pd.DataFrame({"a": [1.0, 2.5, 3.5, 5.0], "b": [1.5, 2.0, 4.5, 4.0]})
    up, rounded = discretise_scores(frame, ["a", "b"], "round_half_up")
    np.testing.assert_array_equal(up, [[1, 2], [3, 2], [4, 5], [5, 4]])
    assert rounded == {"a": 2, "b": 2}
    down, _ = discretise_scores(frame, ["a", "b"], "round_half_down")
    np.testing.assert_array_equal(down, [[1, 1], [2, 2], [3, 4], [5, 4]])
    with pytest.raises(AnalysisError, match=r"row 1, column 'b': value 1.5; expected an integer"):
        discretise_scores(frame, ["a", "b"], "integer_only")
    with pytest.raises(ConfigError, match="nearest"):
        discretise_scores(frame, ["a"], "nearest")


def test_discretise_scores_rejects_values_off_the_scale_naming_row_and_column():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 6.0]})
    with pytest.raises(AnalysisError, match=r"row 2, column 'b': value 6.0; expected a score in \[1, 5\]"):
        discretise_scores(frame, ["a", "b"], "round_half_up")
    frame.loc[0, "a"] = np.nan
    with pytest.raises(AnalysisError, match=r"row 1, column 'a'"):
        discretise_scores(frame, ["a", "b"], "round_half_up")


def test_trial_design_matches_the_primary_design_and_rejects_bad_arms(outcomes):
    design = trial_design(outcomes, ARMS, "control")
    assert design.fixed_terms == ("video", "coach", "combined", "post", "video:post", "coach:post", "combined:post")
    assert design.cell_design.shape == (8, 7)
    np.testing.assert_array_equal(design.cell_design[design.cell_index], design.fixed_design)
    assert design.participant_ids[design.participant_index].tolist() == outcomes["participant_id"].tolist()
    with pytest.raises(AnalysisError, match="not registered"):
        trial_design(outcomes, ["control", "video", "coach"], "control")
    no_post = outcomes[~((outcomes["arm"] == "coach") & (outcomes["post"] == 1))]
    with pytest.raises(AnalysisError, match=r"coach:post"):
        trial_design(no_post, ARMS, "control")
    with pytest.raises(AnalysisError, match="scenario"):
        trial_design(outcomes.drop(columns="scenario"), ARMS, "control")


def test_beneficial_directions_follow_the_composite():
    composite = {"name": "overall_empathy", "add": DIMENSIONS[:3], "subtract": DIMENSIONS[3:]}
    directions = beneficial_directions(DIMENSIONS, composite=composite)
    assert [directions[d] for d in DIMENSIONS] == ["increase"] * 3 + ["decrease"] * 3
    assert directions["overall_empathy"] == "increase"


# ---------------------------------------------------------------------------------------------
# Model structure (no sampling)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ordinal_model(outcomes, registered):
    design = trial_design(outcomes, ARMS, "control")
    categories, _ = discretise_scores(outcomes, DIMENSIONS, "round_half_up")
    return design, categories, build_ordinal_model(design, categories, DIMENSIONS, registered["ordinal"]["priors"])


def test_ordinal_model_graph_dims_and_shapes(ordinal_model, outcomes):
    design, categories, model = ordinal_model
    free = {variable.name for variable in model.free_RVs}
    assert free == {"cutpoints_centred", "arm_baseline", "post", "arm_post", "participant_chol", "participant_z", "scenario_effect"}
    dims = model.named_vars_to_dims
    assert dims["arm_post"] == ("arm", "dimension")
    assert dims["cutpoints"] == ("dimension", "cutpoint")
    assert dims["participant_corr"] == ("dimension", "dimension_bis")
    assert dims["participant_z"] == ("participant", "dimension")
    assert dims["scenario_effect"] == ("dimension", "scenario")
    assert dims["score"] == ("conversation", "dimension")
    assert list(model.coords["arm"]) == ["video", "coach", "combined"]
    assert list(model.coords["cutpoint"]) == ["1|2", "2|3", "3|4", "4|5"]
    assert len(model.coords["participant"]) == outcomes["participant_id"].nunique()
    assert [variable.name for variable in model.observed_RVs] == ["score"]
    np.testing.assert_array_equal(model.rvs_to_values[model["score"]].data, categories)


def test_ordinal_model_logp_equals_an_independent_computation(ordinal_model, registered):
    """At a random point, the model's likelihood equals OrderedLogistic on eta built by hand."""
    design, categories, model = ordinal_model
    rng = np.random.default_rng(4)
    point = {name: value + rng.normal(0, 0.4, size=np.shape(value)) for name, value in model.initial_point().items()}
    names = ["cutpoints_centred", "arm_baseline", "post", "arm_post", "participant_chol_cholesky-cov-packed__", "participant_z", "scenario_effect"]
    values = model.compile_fn(
        model.replace_rvs_by_values(
            [model["cutpoints_centred"], model["arm_baseline"], model["post"], model["arm_post"], model["participant_chol"],
             model["participant_z"], model["scenario_effect"]]
        )
        + [model.logp(vars=[model["score"]])],
        point_fn=True,
    )(point)
    cut, arm, post, arm_post, chol_packed, z, scenario, logp = values
    assert len(names) == 7
    n_dim = len(DIMENSIONS)
    chol = np.zeros((n_dim, n_dim))
    chol[np.tril_indices(n_dim)] = chol_packed
    coefficients = np.vstack([arm, post[None], arm_post])
    eta = (design.fixed_design - design.design_mean) @ coefficients + (z @ chol.T)[design.participant_index]
    eta += scenario.T[design.scenario_index]
    reference = pm.logp(pm.OrderedLogistic.dist(eta=eta, cutpoints=cut[None]), categories - 1).sum().eval()
    assert float(logp) == pytest.approx(float(reference), rel=1e-10)


def test_ordinal_prior_predictive_draws_have_the_right_shapes_and_support(ordinal_model):
    design, categories, model = ordinal_model
    with model:
        prior = pm.sample_prior_predictive(draws=50, random_seed=3, var_names=["score", "cutpoints", "participant_corr", "arm_post"])
    scores = prior.prior_predictive["score"]
    assert scores.dims == ("chain", "draw", "conversation", "dimension")
    assert scores.shape == (1, 50, design.n_rows, len(DIMENSIONS))
    assert int(scores.min()) >= 1 and int(scores.max()) <= 5
    # PyMC's forward sampling ignores the ordered transform, so prior draws of the cutpoints are not sorted
    assert prior.prior["cutpoints"].dims == ("chain", "draw", "dimension", "cutpoint")
    corr = prior.prior["participant_corr"].to_numpy()
    np.testing.assert_allclose(np.diagonal(corr, axis1=-2, axis2=-1), 1.0)
    assert prior.prior["arm_post"].shape == (1, 50, 3, len(DIMENSIONS))


@contextmanager
def _prior_draws_as_posterior(model, *, sampler, var_names, cores=1, progress=None):
    """Stand-in for :func:`sampled_trace` in structural tests: prior draws shaped as one chain's posterior."""
    prior = pm.sample_prior_predictive(draws=40, model=model, var_names=list(var_names), random_seed=sampler.seed).prior
    diverging = np.zeros((prior.sizes["chain"], prior.sizes["draw"]), dtype=bool)
    yield az.InferenceData(posterior=prior, sample_stats=xr.Dataset({"diverging": (("chain", "draw"), diverging)}))


@pytest.mark.parametrize(("parameterisation", "text"), [("non_centred", "non-centred"), ("centred", "centred")])
def test_spec_record_names_the_participant_parameterisation(monkeypatch, outcomes, registered, parameterisation, text):
    monkeypatch.setattr(bayes, "sampled_trace", _prior_draws_as_posterior)
    fit = fit_ordinal_model(
        outcomes, dimensions=DIMENSIONS, arms=ARMS, reference_arm="control",
        **ordinal_settings(registered, participant_parameterisation=parameterisation, posterior_predictive_draws=10),
        sampler=RECOVERY_SAMPLER, gates=replace(GATES, policy="warn"),
    )
    assert fit.execution["details"]["parameterisation"] == (
        f"fixed effects centred for sampling; participant effects {text} (LKJCholeskyCov)"
    )


def test_the_registered_parameterisation_keeps_its_spec_record_text(registered):
    # the text every released spec record carries
    assert registered["ordinal"]["participant_parameterisation"] == "non_centred"


def test_centred_parameterisation_is_offered_and_unknown_ones_are_rejected(outcomes, registered):
    design = trial_design(outcomes, ARMS, "control")
    categories, _ = discretise_scores(outcomes, DIMENSIONS, "round_half_up")
    centred = build_ordinal_model(design, categories, DIMENSIONS, registered["ordinal"]["priors"], parameterisation="centred")
    assert "participant_effect" in centred.named_vars and "participant_z" not in centred.named_vars
    with pytest.raises(ConfigError, match="parameterisation"):
        build_ordinal_model(design, categories, DIMENSIONS, registered["ordinal"]["priors"], parameterisation="partial")


def test_one_scenario_drops_the_scenario_effects(outcomes, registered):
    single = outcomes.assign(scenario="job_loss")
    design = trial_design(single, ARMS, "control")
    categories, _ = discretise_scores(single, DIMENSIONS, "round_half_up")
    model = build_ordinal_model(design, categories, DIMENSIONS, registered["ordinal"]["priors"])
    assert "scenario_effect" not in model.named_vars


def test_composite_model_graph(outcomes, registered):
    design = trial_design(outcomes, ARMS, "control")
    model = build_composite_model(design, outcomes["overall_empathy"].to_numpy(float), registered["composite"]["priors"])
    assert {variable.name for variable in model.free_RVs} == {
        "intercept_centred", "arm_baseline", "post", "arm_post", "participant_sd", "residual_sd", "participant_z",
    }
    assert model.named_vars_to_dims["overall_empathy"] == ("conversation",)
    priors = {name: prior for name, prior in registered["composite"]["priors"].items() if name != "residual_sd"}
    with pytest.raises(ConfigError, match=r"composite.priors lacks \['residual_sd'\]"):
        build_composite_model(design, outcomes["overall_empathy"].to_numpy(float), priors)
    with model:
        prior = pm.sample_prior_predictive(draws=20, random_seed=2, var_names=["overall_empathy", "intercept"])
    assert prior.prior_predictive["overall_empathy"].shape == (1, 20, len(outcomes))


# ---------------------------------------------------------------------------------------------
# Derived quantities
# ---------------------------------------------------------------------------------------------


def _fake_posterior(rng, n_chains=2, n_draws=30, dims=("validating_emotions", "advice_giving"), arms=("video", "coach")):
    n_dim = len(dims)
    cut = np.sort(rng.normal(0, 1.5, size=(n_chains, n_draws, n_dim, 4)), axis=-1)
    return xr.Dataset(
        {
            "cutpoints": (("chain", "draw", "dimension", "cutpoint"), cut),
            "arm_baseline": (("chain", "draw", "arm", "dimension"), rng.normal(0, 0.3, size=(n_chains, n_draws, len(arms), n_dim))),
            "post": (("chain", "draw", "dimension"), rng.normal(0.2, 0.3, size=(n_chains, n_draws, n_dim))),
            "arm_post": (("chain", "draw", "arm", "dimension"), rng.normal(0.5, 0.3, size=(n_chains, n_draws, len(arms), n_dim))),
            "participant_sd": (("chain", "draw", "dimension"), rng.uniform(0.5, 2.0, size=(n_chains, n_draws, n_dim))),
            "scenario_effect": (("chain", "draw", "dimension", "scenario"), np.zeros((n_chains, n_draws, n_dim, 3))),
        },
        coords={"dimension": list(dims), "arm": list(arms), "cutpoint": ["1|2", "2|3", "3|4", "4|5"], "scenario": ["a", "b", "c"]},
    )


def test_expected_score_effects_equal_numerical_integration():
    rng = np.random.default_rng(5)
    posterior = _fake_posterior(rng, n_chains=1, n_draws=2)
    posterior["scenario_effect"][:] = np.array([0.4, -0.1, -0.3])
    effects = expected_score_effects(posterior)
    draw = posterior.isel(chain=0, draw=1).sel(dimension="advice_giving")
    cut = draw["cutpoints"].to_numpy()
    tau = float(draw["participant_sd"])
    shifts = draw["scenario_effect"].to_numpy()

    def marginal(eta):
        return np.mean([integrate.quad(lambda u: expected_score(np.array(eta + s + u), cut) * stats.norm.pdf(u, 0, tau), -np.inf, np.inf)[0]
                        for s in shifts])

    post = float(draw["post"])
    baseline = float(draw["arm_baseline"].sel(arm="coach"))
    did = float(draw["arm_post"].sel(arm="coach"))
    reference_change = marginal(post) - marginal(0.0)
    expected_did = marginal(baseline + post + did) - marginal(baseline) - reference_change
    # Gauss-Hermite quadrature with 24 nodes: within 1e-6 of adaptive quadrature on the 1-5 scale
    assert float(effects["expected_score_post"].isel(chain=0, draw=1).sel(dimension="advice_giving")) == pytest.approx(reference_change, abs=1e-6)
    assert float(effects["expected_score_did"].isel(chain=0, draw=1).sel(dimension="advice_giving", arm="coach")) == pytest.approx(expected_did, abs=1e-6)
    typical = expected_score(np.array(baseline + post + did), cut) - expected_score(np.array(baseline), cut)
    typical -= expected_score(np.array(post), cut) - expected_score(np.array(0.0), cut)
    assert float(effects["expected_score_did_typical"].isel(chain=0, draw=1).sel(dimension="advice_giving", arm="coach")) == pytest.approx(typical, abs=1e-12)
    assert effects["expected_score_did"].dims == ("chain", "draw", "arm", "dimension")


def test_thin_posterior_spreads_draws_over_every_chain():
    posterior = xr.Dataset({"x": (("chain", "draw"), np.arange(4000).reshape(4, 1000))})
    thinned = thin_posterior(posterior, 200)
    assert thinned.sizes == {"chain": 4, "draw": 50}
    assert thinned["x"].isel(chain=1).to_numpy()[:3].tolist() == [1000, 1020, 1040]


# ---------------------------------------------------------------------------------------------
# Diagnostics gates
# ---------------------------------------------------------------------------------------------


def _fake_idata(rng, stuck=False, sticky=False, divergences=0):
    n_chains, n_draws = 4, 500
    good = rng.normal(size=(n_chains, n_draws, 2))
    if stuck:
        good[:, :, 1] += np.arange(n_chains)[:, None] * 3.0  # chains disagree: large R-hat
    if sticky:
        walk = np.cumsum(rng.normal(size=(n_chains, n_draws)), axis=1) * 0.05  # autocorrelated: low ESS
        good[:, :, 0] = walk
    corr = np.broadcast_to(np.eye(2), (n_chains, n_draws, 2, 2)).copy()
    corr[:, :, 1, 0] = corr[:, :, 0, 1] = np.tanh(rng.normal(0.3, 0.1, size=(n_chains, n_draws)))
    diverging = np.zeros((n_chains, n_draws), dtype=bool)
    diverging.flat[:divergences] = True
    return az.from_dict(
        posterior={"arm_post": good, "participant_corr": corr},
        sample_stats={"diverging": diverging},
        coords={"arm": ["video", "coach"], "dimension": ["a", "b"], "dimension_bis": ["a", "b"]},
        dims={"arm_post": ["arm"], "participant_corr": ["dimension", "dimension_bis"]},
    )


def test_diagnostics_table_reports_each_element_and_only_the_lower_triangle():
    table = diagnostics_table(_fake_idata(np.random.default_rng(0)), "ordinal", quantities=["arm_post", "participant_corr", "cutpoints"],
                              gated=["arm_post"], gates=GATES)
    assert list(table.columns) == DIAGNOSTIC_COLUMNS
    assert table["parameter"].tolist() == ["arm_post[video]", "arm_post[coach]", "participant_corr[b, a]"]
    assert table["passed"].all() and (table["divergences"] == 0).all()
    reference = az.rhat(_fake_idata(np.random.default_rng(0)).posterior)["arm_post"].sel(arm="video")
    assert table.loc[0, "r_hat"] == pytest.approx(float(reference))
    assert table["gated"].tolist() == [True, True, False]


def test_bad_rhat_ess_and_divergences_fail_naming_the_parameters():
    idata = _fake_idata(np.random.default_rng(1), stuck=True, sticky=True, divergences=3)
    table = diagnostics_table(idata, "ordinal", quantities=["arm_post", "participant_corr"], gated=["arm_post", "participant_corr"],
                              gates=GATES)
    problems = gate_problems(table, gates=GATES)
    assert any("R-hat above 1.01:" in problem and "arm_post[coach]" in problem for problem in problems)
    assert any(problem.startswith("ordinal: bulk ESS below 400: arm_post[video]") for problem in problems)
    assert any("3 divergent transition(s)" in problem for problem in problems)
    assert not any("participant_corr" in problem for problem in problems)
    with pytest.raises(DiagnosticsError) as error:
        enforce_gates(problems, gates=GATES, analysis_id="bayes_ordinal")
    message = str(error.value)
    assert "bayes_ordinal broke its registered diagnostic gates" in message
    assert "arm_post[coach]" in message and "arm_post[video]" in message and "divergent" in message


def test_warn_policy_logs_instead_of_failing(caplog):
    idata = _fake_idata(np.random.default_rng(1), stuck=True)
    problems = gate_problems(diagnostics_table(idata, "composite", quantities=["arm_post"], gated=["arm_post"], gates=GATES), gates=GATES)
    assert problems
    with caplog.at_level(logging.WARNING):
        enforce_gates(problems, gates=replace(GATES, policy="warn"), analysis_id="bayes_composite")
    assert "arm_post[coach]" in caplog.text
    with pytest.raises(ConfigError):
        enforce_gates(problems, gates=replace(GATES, policy="ignore"), analysis_id="bayes_composite")
    enforce_gates([], gates=GATES, analysis_id="bayes_composite")


def test_ungated_quantities_are_reported_but_never_fail():
    idata = _fake_idata(np.random.default_rng(1), stuck=True)
    table = diagnostics_table(idata, "composite", quantities=["arm_post"], gated=[], gates=GATES)
    assert table["passed"].all() and table["r_hat"].max() > 1.01
    assert gate_problems(table, gates=GATES) == []


def test_long_problem_lists_are_truncated():
    table = pd.DataFrame(
        {"model": "ordinal", "quantity": "z", "parameter": [f"z[{i}]" for i in range(40)], "r_hat": 1.2, "ess_bulk": 1000.0,
         "ess_tail": 1000.0, "gated": True, "passed": False, "divergences": 0, "chains": 4, "draws": 1000, "thin": 1}
    )
    (problem,) = gate_problems(table, gates=GATES)
    assert "z[24] (1.2000)" in problem and "z[25]" not in problem and "and 15 more" in problem


# ---------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------


def test_effects_and_contrasts_summarise_the_draws():
    rng = np.random.default_rng(7)
    posterior = _fake_posterior(rng, n_chains=2, n_draws=400)
    posterior = xr.merge([posterior, expected_score_effects(posterior)])
    ordinal = az.InferenceData(posterior=posterior)
    composite = az.InferenceData(
        posterior=xr.Dataset(
            {"post": (("chain", "draw"), rng.normal(0.5, 1, (2, 400))), "arm_post": (("chain", "draw", "arm"), rng.normal(-0.2, 1, (2, 400, 2)))},
            coords={"arm": ["video", "coach"]},
        )
    )
    directions = {"validating_emotions": "increase", "advice_giving": "decrease", "overall_empathy": "increase"}
    effects, contrasts = bayes_effects(ordinal, composite, ["control", "video", "coach"], "control", directions, "overall_empathy", 0.9)
    assert list(effects.columns) == EFFECT_COLUMNS and list(contrasts.columns) == CONTRAST_COLUMNS
    assert len(effects) == 2 * 3 * 3 + 3 and len(contrasts) == 2 * 3 + 1
    row = effects.query("outcome == 'advice_giving' and arm == 'coach' and scale == 'log_odds'").iloc[0]
    draws = posterior["arm_post"].sel(arm="coach", dimension="advice_giving").to_numpy().ravel()
    assert row["term"] == "coach:post"
    assert row["median"] == pytest.approx(np.median(draws))
    assert [row["hdi_low"], row["hdi_high"]] == pytest.approx(list(az.hdi(draws, hdi_prob=0.9)))
    assert row["prob_improvement"] == pytest.approx(np.mean(draws < 0))
    control = effects.query("outcome == 'validating_emotions' and arm == 'control' and scale == 'expected_score'").iloc[0]
    assert control["term"] == "post"
    assert control["median"] == pytest.approx(float(np.median(posterior["expected_score_post"].sel(dimension="validating_emotions"))))
    contrast = contrasts.query("outcome == 'overall_empathy'").iloc[0]
    difference = (composite.posterior["arm_post"].sel(arm="video") - composite.posterior["arm_post"].sel(arm="coach")).to_numpy().ravel()
    assert (contrast["arm_a"], contrast["arm_b"]) == ("video", "coach")
    assert contrast["mean"] == pytest.approx(difference.mean())
    assert contrast["prob_improvement"] == pytest.approx(np.mean(difference > 0))


def test_ppc_proportions_equal_a_pandas_groupby():
    rng = np.random.default_rng(8)
    n, dims = 24, ["a", "b"]
    arm = np.repeat(["control", "coach"], 12)
    number = np.tile([1, 2, 3], 8)
    observed = rng.integers(1, 6, size=(n, 2))
    predicted = rng.integers(1, 6, size=(2, 5, n, 2))
    conversation = [f"c{i}" for i in range(n)]
    idata = az.InferenceData(
        observed_data=xr.Dataset({"score": (("conversation", "dimension"), observed)}, coords={"conversation": conversation, "dimension": dims}),
        constant_data=xr.Dataset({"arm_name": ("conversation", arm), "conversation_number": ("conversation", number)}, coords={"conversation": conversation}),
        posterior_predictive=xr.Dataset({"score": (("chain", "draw", "conversation", "dimension"), predicted)}, coords={"conversation": conversation, "dimension": dims}),
    )
    table = ppc_category_proportions(idata, ["control", "coach"], interval_prob=0.8)
    assert list(table.columns) == PPC_COLUMNS
    assert len(table) == 2 * 2 * 3 * 5
    frame = pd.DataFrame({"arm": arm, "number": number, "score": observed[:, 1]})
    share = (frame.query("arm == 'coach' and number == 2")["score"] == 4).mean()
    row = table.query("dimension == 'b' and arm == 'coach' and conversation_number == 2 and category == 4").iloc[0]
    assert row["observed_share"] == pytest.approx(share) and row["n_conversations"] == 4
    shares = [(predicted[c, d][(arm == "coach") & (number == 2), 1] == 4).mean() for c in range(2) for d in range(5)]
    assert row["predicted_median"] == pytest.approx(np.median(shares))
    assert row["predicted_high"] == pytest.approx(np.quantile(shares, 0.9))
    assert table["dimension"].iloc[0] == "a" and table["arm"].iloc[0] == "control"
    sums = table.groupby(["dimension", "arm", "conversation_number"])["observed_share"].sum()
    np.testing.assert_allclose(sums, 1.0)


# ---------------------------------------------------------------------------------------------
# Recovery (sampling; fitted once per module)
# ---------------------------------------------------------------------------------------------

RECOVERY_DIMENSIONS = ["validating_emotions", "advice_giving", "dismissing_emotions"]
RECOVERY_ARMS = ["control", "coach"]
TRUTH = {
    "cutpoints": np.array([[-1.6, -0.3, 0.9, 2.2], [-1.2, 0.0, 1.1, 2.4], [-1.9, -0.6, 0.7, 1.8]]),
    "arm_baseline": np.array([[0.1, -0.2, 0.05]]),
    "post": np.array([0.3, -0.2, 0.1]),
    "arm_post": np.array([[1.1, -0.9, -0.7]]),
    "participant_sd": np.array([1.2, 0.7, 1.0]),
    "participant_corr": np.array([[1.0, -0.4, -0.5], [-0.4, 1.0, 0.3], [-0.5, 0.3, 1.0]]),
    "scenario_effect": np.array([[0.3, -0.1, -0.2], [0.0, 0.2, -0.2], [-0.25, 0.05, 0.2]]),
}
RECOVERY_SAMPLER = Sampler(engine="nutpie", backend="numba", chains=2, draws=300, tune=300, target_accept=0.8, seed=17)


def simulate_ordinal_cohort(n_per_arm: int, seed: int) -> pd.DataFrame:
    """Scores drawn from the ordinal model's generative process with the parameters in TRUTH (numpy only)."""
    rng = np.random.default_rng(seed)
    n = n_per_arm * len(RECOVERY_ARMS)
    arm = np.repeat(RECOVERY_ARMS, n_per_arm)
    scenarios = np.array(["job_loss", "loss_dad", "promotion"])
    scenario = np.array([rng.permutation(3) for _ in range(n)]).ravel()
    post = np.tile([0, 1, 1], n)
    treated = np.repeat(arm == "coach", 3).astype(float)
    covariance = np.outer(TRUTH["participant_sd"], TRUTH["participant_sd"]) * TRUTH["participant_corr"]
    participant = rng.multivariate_normal(np.zeros(3), covariance, size=n)
    eta = (
        treated[:, None] * TRUTH["arm_baseline"][0]
        + post[:, None] * (TRUTH["post"] + treated[:, None] * TRUTH["arm_post"][0])
        + np.repeat(participant, 3, axis=0)
        + TRUTH["scenario_effect"].T[scenario]
    )
    below = expit(TRUTH["cutpoints"][None] - eta[..., None])
    scores = 1 + (rng.uniform(size=eta.shape)[..., None] > below).sum(axis=-1)
    ids = np.array([f"S{i:03d}" for i in range(n)])
    frame = pd.DataFrame(
        {
            "conversation_id": [f"{p}-C{t}" for p in ids for t in (1, 2, 3)],
            "participant_id": np.repeat(ids, 3),
            "arm": np.repeat(arm, 3),
            "conversation_number": np.tile([1, 2, 3], n),
            "post": post,
            "scenario": scenarios[scenario],
        }
    )
    for column, dimension in enumerate(RECOVERY_DIMENSIONS):
        frame[dimension] = scores[:, column].astype(float)
    return frame


@pytest.fixture(scope="module")
def ordinal_fit(registered):
    data = simulate_ordinal_cohort(n_per_arm=50, seed=2024)
    return data, fit_ordinal_model(
        data, dimensions=RECOVERY_DIMENSIONS, arms=RECOVERY_ARMS, reference_arm="control",
        **ordinal_settings(registered, posterior_predictive_draws=40), sampler=RECOVERY_SAMPLER, gates=RECOVERY_GATES, cores=2,
    )


def test_ordinal_model_recovers_the_true_effects(ordinal_fit):
    """Every true effect lies within 2.5 posterior SDs of its posterior mean. (In this data set one true value
    lies 1.9 posterior SDs from the estimate, on the edge of its 95% HDI: a 95%-HDI check failed for 9 of 20
    sampler seeds, so the distance is bounded instead.)"""
    _, fit = ordinal_fit
    posterior = fit.idata.posterior
    errors = []
    for name in ("arm_baseline", "post", "arm_post"):
        draws = posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()
        truth = TRUTH[name].reshape(draws.shape[1:])
        z = np.abs(draws.mean(axis=0) - truth) / draws.std(axis=0)
        # largest |z| over 20 seeds: 1.69-2.14 (median 1.91, SD 0.12): bound 4.9 SDs above the median
        assert (z < 2.5).all(), (name, z)
        errors.extend(np.abs(draws.mean(axis=0) - truth).ravel())
    # 20 seeds: 0.254-0.281 (median 0.265, SD 0.006): bound 5.8 SDs above the median
    assert np.mean(errors) < 0.3
    cutpoints = posterior["cutpoints"].mean(("chain", "draw")).to_numpy()
    # largest error over 20 seeds: 0.29-0.35 (SD 0.015)
    np.testing.assert_allclose(cutpoints, TRUTH["cutpoints"], atol=0.6)
    sds = posterior["participant_sd"].mean(("chain", "draw")).to_numpy()
    # largest error over 20 seeds: 0.20-0.25 (SD 0.014)
    np.testing.assert_allclose(sds, TRUTH["participant_sd"], atol=0.4)


def test_ordinal_fit_returns_named_inference_data(ordinal_fit):
    data, fit = ordinal_fit
    idata = fit.idata
    assert {"posterior", "sample_stats", "observed_data", "constant_data", "posterior_predictive"} <= set(idata.groups())
    for name in ORDINAL_QUANTITIES:
        assert name in idata.posterior, name
    assert "participant_z" not in idata.posterior and "participant_chol" not in idata.posterior
    assert idata.posterior["arm_post"].dims == ("chain", "draw", "arm", "dimension")
    assert list(idata.posterior.coords["arm"].values) == ["coach"]
    assert idata.observed_data["score"].dims == ("conversation", "dimension")
    np.testing.assert_array_equal(idata.observed_data["score"].to_numpy(), data[RECOVERY_DIMENSIONS].to_numpy(int))
    assert idata.constant_data["arm_name"].to_numpy().tolist() == data["arm"].tolist()
    assert idata.posterior_predictive["score"].sizes == {"chain": 2, "draw": 20, "conversation": len(data), "dimension": 3}
    assert idata.posterior.attrs["engine"] == "nutpie" and idata.posterior.attrs["sampling_seconds"] > 0
    assert fit.execution["sample"]["n_participants"] == 100 and fit.execution["sample"]["rounded_scores"] == dict.fromkeys(RECOVERY_DIMENSIONS, 0)
    assert fit.execution["diagnostics"]["divergences"] == int(idata.sample_stats["diverging"].sum())


def test_posterior_predictive_shares_cover_the_observed_ones(ordinal_fit):
    _, fit = ordinal_fit
    table = ppc_category_proportions(fit.idata, RECOVERY_ARMS, interval_prob=0.95)
    inside = (table["observed_share"] >= table["predicted_low"] - 1e-12) & (table["observed_share"] <= table["predicted_high"] + 1e-12)
    # 20 seeds: 0.944-0.989 (median 0.967, SD 0.013): bound 9 SDs below the median
    assert inside.mean() > 0.85


CLMM_REFERENCE = REPO / "tests" / "reference" / "ordinal_clmm_recovery.csv"
WEAK_PRIORS = {
    "cutpoints": {"distribution": "normal", "mu": 0, "sigma": 10},
    "arm_baseline": {"distribution": "normal", "mu": 0, "sigma": 10},
    "post": {"distribution": "normal", "mu": 0, "sigma": 10},
    "arm_post": {"distribution": "normal", "mu": 0, "sigma": 10},
    "participant_sd": {"distribution": "half_normal", "sigma": 5},
    "participant_corr": {"distribution": "lkj", "eta": 1},
    "scenario_effect": {"distribution": "zero_sum_normal", "sigma": 10},
}


@pytest.fixture(scope="module")
def clmm_comparison(registered):
    """The stored clmm values for validating_emotions and a one-dimension fit of the same data with weak priors.

    Reference made with (R 4.2.2, ordinal 2022.11.16; the exact call is in the file's header)::

        simulate_ordinal_cohort(n_per_arm=50, seed=2024).to_csv("ordinal_recovery_cohort.csv", index=False)
        Rscript tests/reference/ordinal_clmm.R ordinal_recovery_cohort.csv ordinal_clmm_recovery.csv <fingerprint>

    i.e. ``clmm(ordered(y) ~ arm * post + scenario + (1 | participant_id), link = "logit", nAGQ = 10)`` with
    sum-to-zero scenario contrasts, the ordinal model's parameterisation.
    """
    data = simulate_ordinal_cohort(n_per_arm=50, seed=2024)
    header = [line for line in CLMM_REFERENCE.read_text(encoding="utf-8").splitlines() if line.startswith("# data_fingerprint:")]
    fingerprint = hashlib.sha256(data.to_csv(index=False, lineterminator="\n").encode()).hexdigest()[:16]
    assert header[0].split(":", 1)[1].strip() == fingerprint, (
        "the recovery cohort differs from the data the clmm reference was computed on; regenerate "
        "tests/reference/ordinal_clmm_recovery.csv with tests/reference/ordinal_clmm.R"
    )
    reference = pd.read_csv(CLMM_REFERENCE, comment="#", keep_default_na=False).query("dimension == 'validating_emotions'")
    fit = fit_ordinal_model(
        data, dimensions=["validating_emotions"], arms=RECOVERY_ARMS, reference_arm="control",
        **ordinal_settings(registered, priors=WEAK_PRIORS, posterior_predictive_draws=20),
        sampler=replace(RECOVERY_SAMPLER, draws=500, tune=500, seed=5), gates=replace(GATES, policy="warn"), cores=2,
    )
    return reference, fit.idata.posterior.sel(dimension="validating_emotions")


def _reference_draws(posterior: xr.Dataset, quantity: str, element: str) -> np.ndarray:
    selection = {"cutpoints": "cutpoint", "arm_baseline": "arm", "arm_post": "arm", "scenario_effect": "scenario"}
    variable = posterior[quantity]
    if quantity in selection:
        variable = variable.sel({selection[quantity]: element})
    return variable.to_numpy().ravel()


def test_single_dimension_ordinal_model_agrees_with_ordinal_clmm(clmm_comparison):
    """With weak priors the posterior of a one-dimension fit sits on clmm's maximum likelihood fit: every
    cutpoint, effect and scenario effect within 0.35 posterior SD of the clmm estimate, posterior SDs within
    20% of clmm's standard errors. The participant SD's posterior median lies above its ML estimate (0.99 vs
    0.91), as a variance component's ML estimate is biased low; within 0.65 posterior SD.

    Over 20 sampler seeds: largest |mean - estimate| / SD 0.11-0.25 (median 0.17, SD 0.03; bound 6.5 SDs above
    the median); SD/SE 0.91-1.11 (median about 1.0, SD 0.03; bounds 5.7 and 4.9 SDs away); participant SD
    (median - estimate) / SD 0.19-0.44 (median 0.32, SD 0.065; bounds 4.9 and 5.1 SDs away)."""
    reference, posterior = clmm_comparison
    for row in reference.itertuples():
        draws = _reference_draws(posterior, row.quantity, row.element)
        estimate, spread = float(row.estimate), draws.std()
        label = f"{row.quantity}[{row.element}]"
        if row.quantity == "participant_sd":
            assert 0 < np.median(draws) - estimate < 0.65 * spread, label
            continue
        assert abs(draws.mean() - estimate) < 0.35 * spread, label
        if row.std_error:
            assert 0.8 < spread / float(row.std_error) < 1.2, label


def make_composite_data() -> pd.DataFrame:
    """A composite outcome drawn from a linear mixed model with known effects (numpy only)."""
    rng = np.random.default_rng(99)
    n_per_arm = 40
    arms = np.repeat(ARMS, n_per_arm)
    n = len(arms)
    effect = {"control": 0.0, "video": 1.5, "coach": 2.8, "combined": 3.5}
    baseline = {"control": 0.0, "video": 0.3, "coach": -0.2, "combined": 0.1}
    participant = rng.normal(0, 3.0, n)
    post = np.tile([0, 1, 1], n)
    arm = np.repeat(arms, 3)
    y = (-0.5 + np.vectorize(baseline.get)(arm) + post * (0.2 + np.vectorize(effect.get)(arm)) + np.repeat(participant, 3)
         + rng.normal(0, 2.3, 3 * n))
    ids = np.array([f"Q{i:03d}" for i in range(n)])
    return pd.DataFrame(
        {
            "conversation_id": [f"{p}-C{t}" for p in ids for t in (1, 2, 3)],
            "participant_id": np.repeat(ids, 3),
            "arm": arm,
            "conversation_number": np.tile([1, 2, 3], n),
            "post": post,
            "scenario": "job_loss",
            "overall_empathy": y,
        }
    )


@pytest.fixture(scope="module")
def composite_data():
    return make_composite_data()


@pytest.fixture(scope="module")
def composite_model(composite_data, registered):
    """One composite model, sampled by several tests: nutpie compiles it once (analysis.models.bayes keeps the
    compiled form per model and kept variables)."""
    design = trial_design(composite_data, ARMS, "control")
    return build_composite_model(design, composite_data["overall_empathy"].to_numpy(), registered["composite"]["priors"])


# The variables the tests that sample `composite_model` keep (the same list: one compilation).
SAMPLED_COMPOSITE = ["arm_post", "participant_sd", "participant_z"]


@pytest.fixture(scope="module")
def composite_fit(composite_data, registered):
    return fit_composite_model(
        composite_data, outcome="overall_empathy", arms=ARMS, reference_arm="control", priors=registered["composite"]["priors"],
        gated=registered["composite"]["gated"], sampler=RECOVERY_SAMPLER, gates=RECOVERY_GATES, cores=2,
    )


def test_composite_model_agrees_with_statsmodels_mixedlm(composite_data, composite_fit):
    """Weak priors: posterior means of the fixed effects within half a posterior SD of the REML estimates,
    every true effect inside its 95% HDI.

    Over 20 sampler seeds: largest |mean - REML| / SD 0.11-0.32 (median 0.22, SD 0.06; a quarter-SD bound
    failed for 7 of 20 seeds; this bound is 4.7 SDs above the median); smallest distance of a true effect
    inside its HDI 0.42-1.03 posterior SDs (median 0.82, SD 0.14; 5.8 SDs from 0); participant and residual
    SD within 1.2% and 0.8% of REML (bounds 10% and 5%)."""
    reference = smf.mixedlm(
        "overall_empathy ~ C(arm, Treatment('control'), levels=['control', 'video', 'coach', 'combined']) * post",
        composite_data, groups=composite_data["participant_id"],
    ).fit(reml=True)
    posterior = composite_fit.idata.posterior
    prefix = "C(arm, Treatment('control'), levels=['control', 'video', 'coach', 'combined'])"
    for arm, truth in {"video": 1.5, "coach": 2.8, "combined": 3.5}.items():
        draws = posterior["arm_post"].sel(arm=arm).to_numpy().ravel()
        assert draws.mean() == pytest.approx(reference.params[f"{prefix}[T.{arm}]:post"], abs=0.5 * draws.std())
        low, high = az.hdi(draws, hdi_prob=0.95)
        assert low <= truth <= high
    assert float(posterior["post"].mean()) == pytest.approx(reference.params["post"], abs=0.5 * float(posterior["post"].std()))
    assert float(posterior["intercept"].mean()) == pytest.approx(reference.params["Intercept"], abs=0.5 * float(posterior["intercept"].std()))
    assert float(posterior["participant_sd"].mean()) == pytest.approx(np.sqrt(reference.cov_re.iloc[0, 0]), rel=0.1)
    assert float(posterior["residual_sd"].mean()) == pytest.approx(np.sqrt(reference.scale), rel=0.05)
    for name in COMPOSITE_QUANTITIES:
        assert name in posterior
    assert "participant_z" not in posterior
    assert composite_fit.idata.observed_data["overall_empathy"].dims == ("conversation",)


def test_thinning_keeps_every_thin_th_draw_and_counts_every_divergence(composite_model):
    """``thin: 3`` with 100 draws keeps iterations 3, 6, ..., 300 of the same chains that an
    unthinned run of 300 draws samples (same seed), relabelled 0..99, in the posterior and the
    sample stats alike; divergences are counted over all 300 iterations."""
    sampler = replace(RECOVERY_SAMPLER, draws=100, thin=3)
    thinned = sample_model(composite_model, sampler=sampler, var_names=SAMPLED_COMPOSITE, cores=2)
    full = sample_model(composite_model, sampler=replace(sampler, draws=300, thin=1), var_names=SAMPLED_COMPOSITE, cores=2)
    assert thinned.posterior.sizes["draw"] == thinned.sample_stats.sizes["draw"] == 100
    assert list(thinned.posterior["draw"].values) == list(range(100))
    np.testing.assert_array_equal(
        thinned.posterior["arm_post"].to_numpy(), full.posterior["arm_post"].isel(draw=slice(2, None, 3)).to_numpy()
    )
    np.testing.assert_array_equal(
        thinned.sample_stats["diverging"].to_numpy(), full.sample_stats["diverging"].isel(draw=slice(2, None, 3)).to_numpy()
    )
    assert thinned.posterior.attrs["thin"] == 3
    assert thinned.posterior.attrs["divergences"] == int(full.sample_stats["diverging"].sum())
    table = diagnostics_table(thinned, "composite", quantities=["arm_post"], gated=["arm_post"], gates=GATES)
    assert (table["thin"] == 3).all() and (table["draws"] == 100).all()


def test_divergences_dropped_by_thinning_still_break_the_gate():
    draws = np.random.default_rng(5).normal(size=(4, 1000))
    idata = az.from_dict(posterior={"post": draws}, sample_stats={"diverging": np.zeros((4, 1000), dtype=bool)})
    idata.posterior.attrs.update({"thin": 4, "divergences": 3})
    table = diagnostics_table(idata, "composite", quantities=["post"], gated=["post"], gates=GATES)
    assert (table["divergences"] == 3).all() and table["passed"].all()
    assert gate_problems(table, gates=GATES) == ["composite: 3 divergent transition(s) after tuning (at most 0 allowed)"]


def test_the_same_seed_gives_identical_draws_and_the_spec_record_names_the_settings(composite_data, composite_fit, registered):
    """A refit with the same seed repeats every draw; the spec record's sampler, priors and gated are those given."""
    refit = fit_composite_model(
        composite_data, outcome="overall_empathy", arms=ARMS, reference_arm="control", priors=registered["composite"]["priors"],
        gated=registered["composite"]["gated"], sampler=RECOVERY_SAMPLER, gates=RECOVERY_GATES, cores=2,
    )
    np.testing.assert_array_equal(refit.idata.posterior["arm_post"].to_numpy(), composite_fit.idata.posterior["arm_post"].to_numpy())
    pd.testing.assert_frame_equal(refit.diagnostics, composite_fit.diagnostics)
    details = refit.execution["details"]
    assert details["sampler"] == {"engine": "nutpie", "backend": "numba", "chains": 2, "draws": 300, "thin": 1, "tune": 300,
                                  "target_accept": 0.8, "mass_matrix": "diagonal"}
    assert details["priors"] == registered["composite"]["priors"] and details["gated"] == registered["composite"]["gated"]
    assert refit.execution["seed"] == 17 and refit.execution["estimator"] == "pymc_nutpie_nuts"
    assert refit.execution["diagnostics"]["policy"] == "warn"


def test_registered_plan_has_the_bayesian_section(registered):
    assert registered["sampler"] == {**registered["sampler"], "chains": 4, "draws": 1000, "thin": 4, "engine": "nutpie"}
    assert registered["diagnostics"] == {"max_r_hat": 1.01, "min_ess_bulk": 400, "min_ess_tail": 400, "max_divergences": 0, "policy": "fail"}
    assert Sampler.from_plan(registered["sampler"]) == Sampler(
        engine="nutpie", backend="numba", chains=4, draws=1000, tune=1000, target_accept=0.8, seed=20260303, thin=4, mass_matrix="diagonal"
    )
    assert Gates.from_plan(registered["diagnostics"]) == GATES
    unset = Sampler.from_plan({name: value for name, value in registered["sampler"].items() if name not in ("thin", "mass_matrix")})
    assert (unset.thin, unset.mass_matrix) == (1, "diagonal")  # the schema's defaults
    assert set(registered["ordinal"]["gated"]) == set(ORDINAL_QUANTITIES)
    assert set(registered["composite"]["gated"]) == set(COMPOSITE_QUANTITIES)
    assert (REPO / "workflow" / "rules" / "bayes.smk").is_file()


def test_a_trace_on_disk_holds_the_same_draws_as_one_in_memory(composite_model, monkeypatch):
    """Second formulation: the same model and sampler with the trace sampled into memory (nutpie's arrow
    store) and written to disk (its zarr store, forced by a zero size limit): the same kept draws and
    sample statistics."""
    sampler = replace(RECOVERY_SAMPLER, draws=100, tune=100)
    in_memory = sample_model(composite_model, sampler=sampler, var_names=SAMPLED_COMPOSITE, cores=2)
    monkeypatch.setattr(bayes, "IN_MEMORY_TRACE_BYTES", 0)
    with bayes.sampled_trace(composite_model, sampler=sampler, var_names=SAMPLED_COMPOSITE, cores=2) as trace:
        on_disk = bayes.loaded(trace)
    assert set(on_disk.posterior.data_vars) == set(in_memory.posterior.data_vars)
    assert set(on_disk.sample_stats.data_vars) == set(in_memory.sample_stats.data_vars)
    for group in ("posterior", "sample_stats"):
        for name in in_memory[group].data_vars:
            np.testing.assert_array_equal(on_disk[group][name].to_numpy(), in_memory[group][name].to_numpy(), err_msg=name)
