"""Rule mine_phrases: route 2 of the taxonomy, recurring supporter phrases ranked per dimension."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step
from analysis.secondary.taxonomy import mine_phrases

with logged_step(snakemake.log[0], "mine_phrases") as log:
    results = mine_phrases(
        read_validated(snakemake.input.messages, "messages"),
        read_outcomes(snakemake.input.outcomes),
        **snakemake.params.keywords,
    )
    write_csv(results.phrase_scores, snakemake.output.phrase_scores)
    write_csv(results.taxonomy, snakemake.output.taxonomy)
    write_csv(results.left_out, snakemake.output.left_out)
    write_rule_spec_record(
        snakemake.params, snakemake.wildcards.cohort, "taxonomy", results.execution, snakemake.output.spec
    )
    log.info("%s phrases kept, %s mark a dimension", len(results.taxonomy), int(results.taxonomy["marks"].sum()))
