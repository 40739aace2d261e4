"""Rule fit_bayes_ordinal: the registered joint ordinal model of the dimensions (PyMC + nutpie)."""

from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.models.bayes import Gates, Sampler, enforce_gates, fit_ordinal_model
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.atomic import write_netcdf
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log.log, snakemake.rule) as log:
    params = snakemake.params
    settings = params.settings  # bayesian_models.ordinal
    sampler = Sampler.from_plan(params.sampler)
    gates = Gates.from_plan(params.gates)
    fit = fit_ordinal_model(
        read_outcomes(snakemake.input.outcomes),
        dimensions=params.dimensions,
        arms=params.arms,
        reference_arm=params.reference_arm,
        priors=settings["priors"],
        gated=settings["gated"],
        discretisation=settings["discretisation"],
        participant_parameterisation=settings["participant_parameterisation"],
        posterior_predictive_draws=settings["posterior_predictive_draws"],
        sampler=sampler,
        gates=gates,
        cores=snakemake.threads,
    )
    write_csv(fit.diagnostics, snakemake.log.diagnostics)
    log.info("diagnostics: %s (every element in %s)", fit.execution["diagnostics"], snakemake.log.diagnostics)
    enforce_gates(fit.problems, gates=gates, analysis_id=params.analysis_id)
    write_netcdf(fit.idata, snakemake.output.idata)
    write_rule_spec_record(params, snakemake.wildcards.cohort, "bayes", fit.execution, snakemake.output.spec)
    log.info("wrote %s", snakemake.output.idata)
