"""Rule assess_agreement: the registered agreement analysis of a rating cohort (kappa, rho, ICC, alpha, crowd)."""

from analysis.adapters.pilot_release import read_crowd_annotations
from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.prereg.specs import spec_record, write_spec_record
from analysis.runtime.runlog import logged_step
from analysis.secondary.agreement import agreement_analysis

with logged_step(snakemake.log[0], "assess_agreement") as log:
    settings = snakemake.params.settings
    results = agreement_analysis(
        read_validated(snakemake.input.scores, "scores"),
        read_crowd_annotations(snakemake.input.crowd_annotations),
        settings,
        snakemake.params.dimensions,
    )
    write_csv(results.pairwise, snakemake.output.pairwise)
    write_csv(results.experts, snakemake.output.experts)
    write_csv(results.crowd_workers, snakemake.output.crowd_workers)
    write_csv(results.excluded, snakemake.output.excluded)
    record = spec_record(
        analysis_id=settings["id"],
        family="reliability",
        cohort=snakemake.wildcards.cohort,
        confirmatory=settings["confirmatory"],
        **results.execution,
    )
    write_spec_record(record, snakemake.output.spec)
    log.info("%s pair rows, %s records left out (listed in %s)", len(results.pairwise), len(results.excluded), snakemake.output.excluded)
