"""Rules fit_bayes_ordinal and fit_bayes_composite: a registered Bayesian model (PyMC + nutpie), its diagnostics,
its posterior and its spec record; the rule names the model (`bayesian_models.<model>`)."""

from analysis.cohorts.outcomes import read_outcomes
from analysis.models.bayes import FIT_FUNCTIONS, Gates, Sampler
from analysis.models.bayes_outputs import write_bayes_fit
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log.log, snakemake.rule) as log:
    params = snakemake.params
    gates = Gates.from_plan(params.gates)
    fit = FIT_FUNCTIONS[params.model](
        read_outcomes(snakemake.input.outcomes), **params.keywords, sampler=Sampler.from_plan(params.sampler), gates=gates,
        cores=snakemake.threads,
    )
    write_bayes_fit(
        fit, gates=gates, analysis_id=params.analysis_id, diagnostics=snakemake.log.diagnostics, idata=snakemake.output.idata,
        log=log,
    )
    write_rule_spec_record(params, snakemake.wildcards.cohort, "bayes", fit.execution, snakemake.output.spec)
