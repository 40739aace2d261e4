"""Rule analyse_improvement: standardized improvement by arm, its moderation, baseline heterogeneity."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step
from analysis.secondary.improvement import improvement_analysis

with logged_step(snakemake.log[0], "analyse_improvement") as log:
    results = improvement_analysis(
        outcomes=read_outcomes(snakemake.input.outcomes),
        participants=read_validated(snakemake.input.participants, "participants"),
        **snakemake.params.keywords,
    )
    for name in ("participants", "standardisers", "arm_summary", "coefficients", "wald", "heterogeneity", "group_means", "left_out"):
        write_csv(getattr(results, name), snakemake.output[name])
    write_rule_spec_record(snakemake.params, snakemake.wildcards.cohort, "improvement", results.execution, snakemake.output.spec)
    log.info("%s participants; %s records left out", results.execution["sample"]["n_participants"], len(results.left_out))
