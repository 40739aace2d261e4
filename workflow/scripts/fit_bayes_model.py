"""Rules fit_bayes_ordinal and fit_bayes_composite: one registered Bayesian model (PyMC + nutpie),
named by the rule's ``model`` param."""

from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.models.bayes import enforce_gates, fit_registered_model
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.atomic import write_netcdf
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log.log, snakemake.rule) as log:
    gates = snakemake.params.gates
    fit = fit_registered_model(
        snakemake.params.model,
        read_outcomes(snakemake.input.outcomes),
        dimensions=snakemake.params.dimensions,
        arms=snakemake.params.arms,
        reference_arm=snakemake.params.reference_arm,
        settings=snakemake.params.settings,
        sampler=snakemake.params.sampler,
        gates=gates,
        cores=snakemake.threads,
    )
    write_csv(fit.diagnostics, snakemake.log.diagnostics)
    log.info("diagnostics: %s (every element in %s)", fit.execution["diagnostics"], snakemake.log.diagnostics)
    enforce_gates(fit.problems, gates["policy"], snakemake.params.analysis_id)
    write_netcdf(fit.idata, snakemake.output.idata)
    write_rule_spec_record(snakemake.params, snakemake.wildcards.cohort, "bayes", fit.execution, snakemake.output.spec)
    log.info("wrote %s", snakemake.output.idata)
