"""Rule fit_bayes_composite: the registered Bayesian linear model of the composite (PyMC + nutpie)."""

from analysis.bayes import enforce_gates, fit_composite_model
from analysis.cohort import write_csv
from analysis.outcomes import read_outcomes
from analysis.runlog import logged_step
from analysis.specs import write_rule_spec_record

with logged_step(snakemake.log.log, "fit_bayes_composite") as log:
    gates = snakemake.params.gates
    settings = snakemake.params.settings
    fit = fit_composite_model(
        read_outcomes(snakemake.input.outcomes),
        outcome=settings["outcome"],
        arms=snakemake.params.arms,
        reference_arm=snakemake.params.reference_arm,
        settings=settings,
        sampler=snakemake.params.sampler,
        gates=gates,
        cores=snakemake.threads,
    )
    write_csv(fit.diagnostics, snakemake.log.diagnostics)
    log.info("diagnostics: %s (every element in %s)", fit.execution["diagnostics"], snakemake.log.diagnostics)
    enforce_gates(fit.problems, gates["policy"], snakemake.params.analysis_id)
    fit.idata.to_netcdf(snakemake.output.idata)
    write_rule_spec_record(
        snakemake.params, snakemake.wildcards.cohort, "bayes", fit.execution, snakemake.output.spec
    )
    log.info("wrote %s", snakemake.output.idata)
