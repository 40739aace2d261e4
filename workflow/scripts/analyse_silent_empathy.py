"""Rule analyse_silent_empathy: trait empathy and self-ratings against the judged scores."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.prereg.specs import spec_record, write_spec_record
from analysis.runtime.runlog import logged_step
from analysis.secondary.silent_empathy import silent_empathy_analysis

with logged_step(snakemake.log[0], "analyse_silent_empathy") as log:
    settings = snakemake.params.settings
    results = silent_empathy_analysis(
        participants=read_validated(snakemake.input.participants, "participants"),
        conversations=read_validated(snakemake.input.conversations, "conversations"),
        outcomes=read_outcomes(snakemake.input.outcomes),
        settings=settings,
        composite=snakemake.params.composite,
    )
    for name in ("trait_correlations", "trait_levels", "participants", "self_judged", "distributions", "high_rating_gap", "left_out"):
        write_csv(getattr(results, name), snakemake.output[name])
    record = spec_record(
        analysis_id=settings["id"],
        family="silent_empathy",
        cohort=snakemake.wildcards.cohort,
        confirmatory=settings["confirmatory"],
        exclusions=list(snakemake.params.exclusions),
        judge_aggregation=dict(snakemake.params.judge_aggregation),
        **results.execution,
    )
    write_spec_record(record, snakemake.output.spec)
    log.info("%s records left out (listed in %s)", len(results.left_out), snakemake.output.left_out)
