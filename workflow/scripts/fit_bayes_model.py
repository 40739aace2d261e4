"""Rules fit_bayes_ordinal and fit_bayes_composite: one registered Bayesian model (PyMC + nutpie),
named by the rule's ``model`` param."""

from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.errors import ConfigError
from analysis.models.bayes import (
    COMPOSITE_MODEL,
    ORDINAL_MODEL,
    Gates,
    Sampler,
    enforce_gates,
    fit_composite_model,
    fit_ordinal_model,
)
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.atomic import write_netcdf
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log.log, snakemake.rule) as log:
    params = snakemake.params
    settings = params.settings  # bayesian_models.<model>
    sampler = Sampler.from_plan(params.sampler)
    gates = Gates.from_plan(params.gates)
    data = read_outcomes(snakemake.input.outcomes)
    if params.model == ORDINAL_MODEL:
        fit = fit_ordinal_model(
            data,
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
    elif params.model == COMPOSITE_MODEL:
        fit = fit_composite_model(
            data,
            outcome=settings["outcome"],
            arms=params.arms,
            reference_arm=params.reference_arm,
            priors=settings["priors"],
            gated=settings["gated"],
            sampler=sampler,
            gates=gates,
            cores=snakemake.threads,
        )
    else:
        raise ConfigError(f"Bayesian model '{params.model}' is not one of {ORDINAL_MODEL}, {COMPOSITE_MODEL}")
    write_csv(fit.diagnostics, snakemake.log.diagnostics)
    log.info("diagnostics: %s (every element in %s)", fit.execution["diagnostics"], snakemake.log.diagnostics)
    enforce_gates(fit.problems, gates=gates, analysis_id=params.analysis_id)
    write_netcdf(fit.idata, snakemake.output.idata)
    write_rule_spec_record(params, snakemake.wildcards.cohort, "bayes", fit.execution, snakemake.output.spec)
    log.info("wrote %s", snakemake.output.idata)
