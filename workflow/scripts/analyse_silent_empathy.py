"""Rule analyse_silent_empathy: trait empathy and self-ratings against the judged scores."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step
from analysis.secondary.silent_empathy import silent_empathy_analysis

with logged_step(snakemake.log[0], "analyse_silent_empathy") as log:
    results = silent_empathy_analysis(
        participants=read_validated(snakemake.input.participants, "participants"),
        conversations=read_validated(snakemake.input.conversations, "conversations"),
        outcomes=read_outcomes(snakemake.input.outcomes),
        **snakemake.params.keywords,
    )
    for name in ("trait_correlations", "trait_levels", "participants", "self_judged", "distributions", "high_rating_gap", "left_out"):
        write_csv(getattr(results, name), snakemake.output[name])
    write_rule_spec_record(snakemake.params, snakemake.wildcards.cohort, "silent_empathy", results.execution, snakemake.output.spec)
    log.info("%s records left out (listed in %s)", len(results.left_out), snakemake.output.left_out)
