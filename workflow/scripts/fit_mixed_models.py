"""Rule fit_mixed_models: the registered linear mixed model (REML) for every outcome."""

from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.models.mixed import mixed_analysis
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "fit_mixed_models") as log:
    results = mixed_analysis(read_outcomes(snakemake.input.outcomes), **snakemake.params.keywords)
    write_csv(results.coefficients, snakemake.output.coefficients)
    write_csv(results.convergence, snakemake.output.convergence)
    write_rule_spec_record(
        snakemake.params, snakemake.wildcards.cohort, "mixed", results.execution, snakemake.output.spec
    )
    for row in results.convergence.itertuples(index=False):
        log.info("%s: converged with %s after %s iteration(s)", row.outcome, row.attempts, row.iterations)
        if row.warnings:
            log.warning("%s: warnings during fitting: %s", row.outcome, row.warnings)
