"""Rule simulate_power: power, sample size and minimal detectable effects for the next cohort."""

import pandas as pd

from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.planning.power import design_analysis
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "simulate_power") as log:
    settings = snakemake.params.settings
    results = design_analysis(
        outcomes=read_outcomes(snakemake.input.outcomes),
        lmm_coefficients=pd.read_csv(snakemake.input.lmm),
        dimensions=snakemake.params.dimensions,
        composite=snakemake.params.composite,
        arms=snakemake.params.arms,
        reference_arm=snakemake.params.reference_arm,
        plan_hypotheses=snakemake.params.hypotheses,
        alpha=snakemake.params.alpha,
        contrast_method=snakemake.params.contrast_method,
        n_per_arm=settings["n_per_arm"],
        allocation=settings.get("allocation"),
        post_conversations=settings.get("post_conversations"),
        attrition=settings["attrition"],
        judges=settings.get("judges"),
        judge_agreement=settings["judge_agreement"],
        smallest_effect_sd=settings["smallest_effect_sd"],
        target_power=settings["target_power"],
        mde_power=settings["mde"]["power"],
        mde_effect_grid_sd=settings["mde"]["effect_grid_sd"],
        simulations=settings["simulations"],
        seed=settings["seed"],
        discretisation=settings["discretisation"],
    )
    for name in ("power", "sample_size", "mde"):
        write_csv(getattr(results, name), snakemake.output[name])
    execution = dict(results.execution)
    execution["details"] = {**execution["details"], "overrides": dict(snakemake.params.overrides)}
    write_rule_spec_record(snakemake.params, snakemake.wildcards.cohort, "design", execution, snakemake.output.spec)
    if snakemake.params.overrides:
        log.warning("planner's overrides of the registered settings: %s", dict(snakemake.params.overrides))
    for row in results.sample_size[results.sample_size["kind"] == "hypothesis"].itertuples(index=False):
        log.info("%s (%s): power %.2f at %s participants per arm (%s)", row.name, row.scenario, row.target_power,
                 "n/a" if pd.isna(row.n_per_arm) else f"{row.n_per_arm:.0f}", row.status)
