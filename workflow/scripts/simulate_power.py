"""Rule simulate_power: power, sample size and minimal detectable effects for the next cohort."""

import pandas as pd

from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.planning.power import design_analysis
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "simulate_power") as log:
    results = design_analysis(
        outcomes=read_outcomes(snakemake.input.outcomes),
        lmm_coefficients=pd.read_csv(snakemake.input.lmm),
        **snakemake.params.keywords,
        workers=snakemake.threads,
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
