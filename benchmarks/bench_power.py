"""Benchmark the planning family (analysis.planning.power) at the paper's size, beside a statsmodels loop.

Run ``.venv/bin/python benchmarks/bench_power.py --skip-grid`` (or without ``--skip-grid`` to time the
whole registered default too) after the cohort's mixed models exist (``make power COHORT=paper_sim``
builds them). Prints a Markdown table for docs/performance.md with the load average of the machine;
nothing here is asserted.

* the same simulated trials (968 participants, 2,904 conversations, 7 outcomes) analysed by the batched
  numpy analysis and by a loop of statsmodels ``OLS(...).fit(cov_type="cluster")`` fits, with the
  largest absolute difference of the estimates and SEs;
* the whole registered default (power grid with every scenario, then the MDE grid).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analysis.cohorts.outcomes import read_outcomes  # noqa: E402
from analysis.models.did import design_matrix  # noqa: E402
from analysis.planning import power  # noqa: E402
from analysis.prereg.plan import load_prereg  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cohort", default="paper_sim")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--loop-trials", type=int, default=None, help="trials of the statsmodels loop (default: --trials)")
    parser.add_argument("--skip-grid", action="store_true", help="leave out the whole default grid")
    arguments = parser.parse_args()
    plan = load_prereg(REPO / "config" / "prereg.yaml")
    outcomes = read_outcomes(REPO / "results" / arguments.cohort / "outcomes" / "conversation_scores.csv")
    lmm = pd.read_csv(REPO / "results" / arguments.cohort / "mixed" / "lmm_coefficients.csv")
    arms, reference = plan["design"]["arms"], plan["design"]["reference_arm"]
    model = power.estimate_generating_model(outcomes=outcomes, lmm_coefficients=lmm, dimensions=plan["outcomes"]["dimensions"],
                                             composite=plan["outcomes"]["composite"], arms=arms, reference_arm=reference)
    hypotheses = power.hypotheses_from_plan(plan["hypotheses"], arms=arms, reference_arm=reference, outcomes=model.outcomes)
    alpha, method = plan["primary_analysis"]["alpha"], plan["primary_analysis"]["contrasts"]["method"]
    sizes = [model.cohort_arm_sizes[arm] for arm in arms]
    n_post = model.cohort_post_conversations
    designs = power._arm_designs(arms, reference, n_post)
    batch = power._trial_batch_size(sum(sizes), 1 + n_post, 1, len(model.outcomes))
    rows = []
    load_before = os.getloadavg()

    # 1. The vectorised analysis: simulate, fit, decide, in batches.
    start = time.perf_counter()
    power._simulate_and_count(model, sizes=sizes, n_post=n_post, judges=1, judge_agreement=0.6, attrition=0.0,
                               n_sims=arguments.trials, seed=1, batch_size=batch, scenarios=[model.cell_means],
                               hypotheses_per_scenario=[hypotheses], alpha=alpha, contrast_method=method)
    vectorised = time.perf_counter() - start
    rows.append((f"{arguments.trials} simulated trials at the paper's size, 7 outcomes: simulate + batched OLS/CR1 + "
                 "every test and hypothesis", vectorised))

    # 2. The same trials: batched fit only, and a loop of statsmodels fits.
    loop_trials = arguments.loop_trials or arguments.trials
    scores, kept, arm_index = power.simulate_trials(model, arm_sizes=sizes, n_trials=loop_trials, seed=2)
    start = time.perf_counter()
    fit = power.fit_did_batch(scores, kept, sizes, designs)
    batched_fit = time.perf_counter() - start
    frame = pd.DataFrame({"participant_id": np.repeat(np.arange(sum(sizes)), 1 + n_post),
                          "arm": np.repeat(np.array(arms)[arm_index], 1 + n_post),
                          "post": np.tile(np.r_[0.0, np.ones(n_post)], sum(sizes))})
    exog = design_matrix(frame, arms, reference)
    groups = frame["participant_id"].to_numpy()
    largest = 0.0
    start = time.perf_counter()
    for r in range(loop_trials):
        for o in range(scores.shape[3]):
            result = sm.OLS(scores[r, :, :, o].ravel(), exog).fit(cov_type="cluster", cov_kwds={"groups": groups})
            largest = max(largest, float(np.max(np.abs(result.params.to_numpy() - fit["beta"][r, o]))),
                          float(np.max(np.abs(result.bse.to_numpy() - np.sqrt(np.diagonal(fit["cov"][r, o]))))))
    loop = time.perf_counter() - start
    rows.append((f"the same {loop_trials} trials x 7 outcomes: batched OLS + CR1 sandwich only", batched_fit))
    rows.append((f"the same {loop_trials} trials x 7 outcomes: loop of statsmodels OLS cluster fits "
                 f"(largest absolute difference of estimates and SEs: {largest:.1e})", loop))

    # 3. The whole registered default: power grid (every scenario) and the MDE grid.
    if not arguments.skip_grid:
        settings = plan["power_analysis"]
        start = time.perf_counter()
        power.design_analysis(
            outcomes=outcomes, lmm_coefficients=lmm, dimensions=plan["outcomes"]["dimensions"],
            composite=plan["outcomes"]["composite"], arms=arms, reference_arm=reference, plan_hypotheses=plan["hypotheses"],
            alpha=alpha, contrast_method=method, n_per_arm=settings["n_per_arm"], allocation=settings["allocation"],
            post_conversations=settings["post_conversations"], attrition=settings["attrition"], judges=settings["judges"],
            judge_agreement=settings["judge_agreement"], smallest_effect_sd=settings["smallest_effect_sd"],
            target_power=settings["target_power"], mde_power=settings["mde"]["power"],
            mde_effect_grid_sd=settings["mde"]["effect_grid_sd"], simulations=settings["simulations"], seed=settings["seed"],
            discretisation=settings["discretisation"])
        rows.append((f"whole registered default: {len(settings['n_per_arm'])} grid points x {1 + len(hypotheses)} scenarios "
                     f"+ MDE ({len(settings['mde']['effect_grid_sd'])} effects x {len(hypotheses)} hypotheses), "
                     f"{settings['simulations']} trials each", time.perf_counter() - start))
    load_after = os.getloadavg()
    print(f"load average (1 min) before {load_before[0]:.1f}, after {load_after[0]:.1f}; {os.cpu_count()} cores\n")
    print("| step | seconds |\n|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
