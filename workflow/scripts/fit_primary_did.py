"""Rule fit_primary_did: the registered OLS difference-in-differences for every outcome."""

from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.models.did import primary_analysis
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "fit_primary_did") as log:
    results = primary_analysis(read_outcomes(snakemake.input.outcomes), **snakemake.params.keywords)
    for name in ("coefficients", "fit", "contrasts", "effects_sd", "hypotheses"):
        write_csv(getattr(results, name), snakemake.output[name])
    write_rule_spec_record(
        snakemake.params, snakemake.wildcards.cohort, "primary", results.execution, snakemake.output.spec
    )
    log.info("fitted %s outcomes", len(results.fit))
