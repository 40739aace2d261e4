"""Rule fit_bayes_ordinal: the registered joint ordinal model of the dimensions (PyMC + nutpie)."""

from analysis.cohorts.outcomes import read_outcomes
from analysis.models.bayes import Gates, Sampler, fit_ordinal_model
from analysis.models.bayes_outputs import write_bayes_fit
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log.log, snakemake.rule) as log:
    params = snakemake.params
    gates = Gates.from_plan(params.gates)
    fit = fit_ordinal_model(
        read_outcomes(snakemake.input.outcomes), **params.keywords, sampler=Sampler.from_plan(params.sampler), gates=gates,
        cores=snakemake.threads,
    )
    write_bayes_fit(
        fit, gates=gates, analysis_id=params.analysis_id, diagnostics=snakemake.log.diagnostics, idata=snakemake.output.idata,
        log=log,
    )
    write_rule_spec_record(params, snakemake.wildcards.cohort, "bayes", fit.execution, snakemake.output.spec)
