"""Rule summarise_bayes_models: effects, arm contrasts, diagnostics and posterior predictive shares."""

import arviz as az

from analysis.cohorts.native import write_csv
from analysis.models.bayes import Gates, beneficial_directions, summarise_models
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "summarise_bayes_models") as log:
    params = snakemake.params
    tables = summarise_models(
        az.from_netcdf(snakemake.input.ordinal),
        az.from_netcdf(snakemake.input.composite),
        arms=params.arms,
        reference_arm=params.reference_arm,
        directions=beneficial_directions(params.dimensions, composite=params.composite),
        composite_name=params.composite["name"],
        ordinal_gated=params.ordinal_gated,
        composite_gated=params.composite_gated,
        gates=Gates.from_plan(params.gates),
        hdi_prob=params.hdi_prob,
    )
    for name, table in tables.items():
        write_csv(table, snakemake.output[name])
        log.info("wrote %s (%s rows)", snakemake.output[name], len(table))
