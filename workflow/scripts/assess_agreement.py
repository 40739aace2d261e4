"""Rule assess_agreement: the registered agreement analysis of a rating cohort (kappa, rho, ICC, alpha, crowd)."""

from analysis.adapters.pilot_release import read_crowd_annotations
from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step
from analysis.secondary.agreement import agreement_analysis

with logged_step(snakemake.log[0], "assess_agreement") as log:
    results = agreement_analysis(
        read_validated(snakemake.input.scores, "scores"),
        read_crowd_annotations(snakemake.input.crowd_annotations),
        **snakemake.params.keywords,
    )
    for name in ("pairwise", "experts", "crowd_workers", "excluded"):
        write_csv(getattr(results, name), snakemake.output[name])
    write_rule_spec_record(snakemake.params, snakemake.wildcards.cohort, "reliability", results.execution, snakemake.output.spec)
    log.info("%s pair rows, %s records left out (listed in %s)", len(results.pairwise), len(results.excluded), snakemake.output.excluded)
