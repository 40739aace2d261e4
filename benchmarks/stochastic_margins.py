"""Margins of the sampling tests of tests/test_bayes.py over many sampler seeds.

An MCMC trajectory depends on floating-point details that differ between CPUs, so a sampling test
must pass for any seed, not for the one trajectory of the machine it was written on. This script
refits the tests' data sets (fixed, simulated with numpy) with ``--seeds`` sampler seeds and the
tests' own settings, computes every quantity the tests assert on, and prints per quantity the worst
value over the seeds beside the test's bound. The margins written beside the tests come from here.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/stochastic_margins.py [--seeds 20] [--csv margins.csv]
"""

from __future__ import annotations

import argparse
import logging
from contextlib import contextmanager
from dataclasses import replace

import arviz as az
import numpy as np
import nutpie
import pandas as pd
import statsmodels.formula.api as smf

from analysis.models.bayes import fit_composite_model, fit_ordinal_model, ppc_category_proportions
from analysis.prereg.plan import load_prereg
from tests.conftest import REPO
from tests.test_bayes import (
    ARMS,
    CLMM_REFERENCE,
    GATES,
    RECOVERY_ARMS,
    RECOVERY_DIMENSIONS,
    RECOVERY_GATES,
    RECOVERY_SAMPLER,
    TRUTH,
    WEAK_PRIORS,
    _reference_draws,
    make_composite_data,
    ordinal_settings,
    simulate_ordinal_cohort,
)

__all__ = ["ordinal_recovery", "clmm_agreement", "composite_agreement"]

_COMPILED: dict = {}
_compile = nutpie.compile_pymc_model


@contextmanager
def compiled_once(label: str):
    """Within, nutpie compiles a model once per ``label``: each check refits one model on fixed data with a new
    seed only, so the compiled model is the same and only the sampling differs (as between CPUs)."""

    def cached(model, **kwargs):
        key = (label, tuple(kwargs.get("var_names") or ()))
        if key not in _COMPILED:
            _COMPILED[key] = _compile(model, **kwargs)
        return _COMPILED[key]

    nutpie.compile_pymc_model = cached
    try:
        yield
    finally:
        nutpie.compile_pymc_model = _compile


def _hdi_slack(draws: np.ndarray, truth: np.ndarray) -> float:
    """Smallest distance of a true value inside its 95% HDI from the nearer bound, in posterior SDs (< 0: outside)."""
    low, high = np.moveaxis(az.hdi(draws[None], hdi_prob=0.95), -1, 0)
    return float(np.min(np.minimum(truth - low, high - truth) / draws.std(axis=0)))


def ordinal_recovery(registered: dict, seed: int) -> dict:
    """What test_ordinal_model_recovers_the_true_effects and test_posterior_predictive_shares... assert."""
    data = simulate_ordinal_cohort(n_per_arm=50, seed=2024)
    fit = fit_ordinal_model(
        data, dimensions=RECOVERY_DIMENSIONS, arms=RECOVERY_ARMS, reference_arm="control",
        **ordinal_settings(registered, posterior_predictive_draws=40), sampler=replace(RECOVERY_SAMPLER, seed=seed),
        gates=RECOVERY_GATES, cores=2,
    )
    posterior = fit.idata.posterior
    slack, z, errors = [], [], []
    for name in ("arm_baseline", "post", "arm_post"):
        draws = posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()
        truth = TRUTH[name].reshape(draws.shape[1:])
        slack.append(_hdi_slack(draws, truth))
        z.append(float(np.max(np.abs(draws.mean(axis=0) - truth) / draws.std(axis=0))))
        errors.extend(np.abs(draws.mean(axis=0) - truth).ravel())
    table = ppc_category_proportions(fit.idata, RECOVERY_ARMS, interval_prob=0.95)
    inside = (table["observed_share"] >= table["predicted_low"] - 1e-12) & (table["observed_share"] <= table["predicted_high"] + 1e-12)
    return {
        "ordinal: min HDI slack of the effects (SD; > 0)": min(slack),
        "ordinal: max |z| of the effects (< 2.5)": max(z),
        "ordinal: mean abs error of the effects (< 0.3)": float(np.mean(errors)),
        "ordinal: max abs error of the cutpoints (< 0.6)": float(np.max(np.abs(posterior["cutpoints"].mean(("chain", "draw")).to_numpy() - TRUTH["cutpoints"]))),
        "ordinal: max abs error of participant_sd (< 0.4)": float(np.max(np.abs(posterior["participant_sd"].mean(("chain", "draw")).to_numpy() - TRUTH["participant_sd"]))),
        "ordinal: PPC share inside (> 0.85)": float(inside.mean()),
        "ordinal: min bulk ESS of the gated quantities": float(fit.diagnostics.query("gated")["ess_bulk"].min()),
    }


def clmm_agreement(registered: dict, seed: int) -> dict:
    """What test_single_dimension_ordinal_model_agrees_with_ordinal_clmm asserts."""
    data = simulate_ordinal_cohort(n_per_arm=50, seed=2024)
    reference = pd.read_csv(CLMM_REFERENCE, comment="#", keep_default_na=False).query("dimension == 'validating_emotions'")
    fit = fit_ordinal_model(
        data, dimensions=["validating_emotions"], arms=RECOVERY_ARMS, reference_arm="control",
        **ordinal_settings(registered, priors=WEAK_PRIORS, posterior_predictive_draws=20),
        sampler=replace(RECOVERY_SAMPLER, draws=500, tune=500, seed=seed), gates=replace(GATES, policy="warn"), cores=2,
    )
    posterior = fit.idata.posterior.sel(dimension="validating_emotions")
    shift, ratios, sd_shift = [], [], np.nan
    for row in reference.itertuples():
        draws = _reference_draws(posterior, row.quantity, row.element)
        estimate, spread = float(row.estimate), draws.std()
        if row.quantity == "participant_sd":
            sd_shift = (np.median(draws) - estimate) / spread
            continue
        shift.append(abs(draws.mean() - estimate) / spread)
        if row.std_error:
            ratios.append(spread / float(row.std_error))
    return {
        "clmm: max |mean - estimate| / SD (< 0.3)": max(shift),
        "clmm: min SD / SE (> 0.9)": min(ratios),
        "clmm: max SD / SE (< 1.2)": max(ratios),
        "clmm: participant_sd (median - estimate) / SD (in (0, 0.5))": float(sd_shift),
    }


def composite_agreement(registered: dict, seed: int) -> dict:
    """What test_composite_model_agrees_with_statsmodels_mixedlm asserts."""
    data = make_composite_data()
    reference = smf.mixedlm(
        "overall_empathy ~ C(arm, Treatment('control'), levels=['control', 'video', 'coach', 'combined']) * post",
        data, groups=data["participant_id"],
    ).fit(reml=True)
    fit = fit_composite_model(
        data, outcome="overall_empathy", arms=ARMS, reference_arm="control", priors=registered["composite"]["priors"],
        gated=registered["composite"]["gated"], sampler=replace(RECOVERY_SAMPLER, seed=seed), gates=RECOVERY_GATES, cores=2,
    )
    posterior = fit.idata.posterior
    prefix = "C(arm, Treatment('control'), levels=['control', 'video', 'coach', 'combined'])"
    shift, slack = [], []
    for arm, truth in {"video": 1.5, "coach": 2.8, "combined": 3.5}.items():
        draws = posterior["arm_post"].sel(arm=arm).to_numpy().ravel()
        shift.append(abs(draws.mean() - reference.params[f"{prefix}[T.{arm}]:post"]) / draws.std())
        slack.append(_hdi_slack(draws[:, None], np.array([truth])))
    for name, term in (("post", "post"), ("intercept", "Intercept")):
        draws = posterior[name].to_numpy().ravel()
        shift.append(abs(draws.mean() - reference.params[term]) / draws.std())
    return {
        "composite: max |mean - REML| / SD (< 0.25)": max(shift),
        "composite: min HDI slack of the true effects (SD; > 0)": min(slack),
        "composite: participant_sd rel. error vs REML (< 0.1)": abs(float(posterior["participant_sd"].mean()) / np.sqrt(reference.cov_re.iloc[0, 0]) - 1),
        "composite: residual_sd rel. error vs REML (< 0.05)": abs(float(posterior["residual_sd"].mean()) / np.sqrt(reference.scale) - 1),
        "composite: min bulk ESS of the gated quantities": float(fit.diagnostics.query("gated")["ess_bulk"].min()),
        "composite: min tail ESS of the gated quantities": float(fit.diagnostics.query("gated")["ess_tail"].min()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default=20, type=int)
    parser.add_argument("--csv", help="also write one row per seed and check here")
    arguments = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    registered = load_prereg(REPO / "config" / "prereg.yaml")["bayesian_models"]
    rows = []
    for seed in range(arguments.seeds):
        for check in (ordinal_recovery, clmm_agreement, composite_agreement):
            with compiled_once(check.__name__):
                measured = check(registered, seed)
            for quantity, value in measured.items():
                rows.append({"seed": seed, "quantity": quantity, "value": value})
        print(f"seed {seed} done", flush=True)
        # written after every seed, so an interrupted run keeps what it measured
        if arguments.csv:
            pd.DataFrame(rows).to_csv(arguments.csv, index=False)
    table = pd.DataFrame(rows)
    summary = table.groupby("quantity", sort=False)["value"].agg(["min", "median", "max"])
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(summary.to_string(float_format=lambda value: f"{value:.3f}"))


if __name__ == "__main__":
    main()
