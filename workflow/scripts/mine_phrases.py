"""Rule mine_phrases: route 2 of the taxonomy, recurring supporter phrases ranked per dimension."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step
from analysis.secondary.taxonomy import SplitRule, TextNormalisation, mine_phrases

with logged_step(snakemake.log[0], "mine_phrases") as log:
    taxonomy = snakemake.params.settings
    mining = taxonomy["mining"]
    results = mine_phrases(
        read_validated(snakemake.input.messages, "messages"),
        read_outcomes(snakemake.input.outcomes),
        dimensions=snakemake.params.dimensions,
        min_participants=taxonomy["min_participants"],
        text=TextNormalisation.from_plan(taxonomy["text"]),
        ngram_range=taxonomy["ngram_range"],
        drop_nested_share=taxonomy["drop_nested_share"],
        split=SplitRule.from_plan(mining["split"]),
        prior_type=mining["prior"]["type"],
        prior_background=mining["prior"]["background"],
        prior_scale=mining["prior"]["scale"],
        z_threshold=mining["z_threshold"],
    )
    write_csv(results.phrase_scores, snakemake.output.phrase_scores)
    write_csv(results.taxonomy, snakemake.output.taxonomy)
    write_csv(results.left_out, snakemake.output.left_out)
    write_rule_spec_record(
        snakemake.params, snakemake.wildcards.cohort, "taxonomy", results.execution, snakemake.output.spec
    )
    log.info("%s phrases kept, %s mark a dimension", len(results.taxonomy), int(results.taxonomy["marks"].sum()))
