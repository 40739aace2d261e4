"""Rule fit_primary_did: the registered OLS difference-in-differences for every outcome."""

from analysis.cohort import write_csv
from analysis.did import primary_analysis
from analysis.outcomes import read_outcomes
from analysis.runlog import logged_step
from analysis.specs import spec_record, write_spec_record

with logged_step(snakemake.log[0], "fit_primary_did") as log:
    results = primary_analysis(
        read_outcomes(snakemake.input.outcomes),
        outcomes=snakemake.params.outcomes,
        arms=snakemake.params.arms,
        reference_arm=snakemake.params.reference_arm,
        alpha=snakemake.params.alpha,
        contrast_method=snakemake.params.contrast_method,
    )
    write_csv(results.coefficients, snakemake.output.coefficients)
    write_csv(results.fit, snakemake.output.fit)
    write_csv(results.contrasts, snakemake.output.contrasts)
    write_csv(results.effects_sd, snakemake.output.effects_sd)
    record = spec_record(
        analysis_id=snakemake.params.analysis_id,
        family="primary",
        cohort=snakemake.wildcards.cohort,
        confirmatory=snakemake.params.confirmatory,
        exclusions=list(snakemake.params.exclusions),
        judge_aggregation=dict(snakemake.params.judge_aggregation),
        **results.execution,
    )
    write_spec_record(record, snakemake.output.spec)
    log.info("fitted %s outcomes", len(results.fit))
