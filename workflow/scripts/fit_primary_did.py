"""Rule fit_primary_did: the registered OLS difference-in-differences for every outcome."""

from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.models.did import primary_analysis
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "fit_primary_did") as log:
    results = primary_analysis(
        read_outcomes(snakemake.input.outcomes),
        outcomes=snakemake.params.outcomes,
        arms=snakemake.params.arms,
        reference_arm=snakemake.params.reference_arm,
        alpha=snakemake.params.alpha,
        contrast_method=snakemake.params.contrast_method,
        hypotheses=snakemake.params.hypotheses,
        composite=snakemake.params.composite,
    )
    write_csv(results.coefficients, snakemake.output.coefficients)
    write_csv(results.fit, snakemake.output.fit)
    write_csv(results.contrasts, snakemake.output.contrasts)
    write_csv(results.effects_sd, snakemake.output.effects_sd)
    write_csv(results.hypotheses, snakemake.output.hypotheses)
    write_rule_spec_record(
        snakemake.params, snakemake.wildcards.cohort, "primary", results.execution, snakemake.output.spec
    )
    log.info("fitted %s outcomes", len(results.fit))
