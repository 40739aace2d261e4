"""Rule analyse_perception: choosing the higher-composite conversation, gap bins, Bradley-Terry."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.prereg.specs import spec_record, write_spec_record
from analysis.runtime.runlog import logged_step
from analysis.secondary.perception import load_perception, perception_analysis

with logged_step(snakemake.log[0], "analyse_perception") as log:
    settings = snakemake.params.settings
    results = perception_analysis(
        perception=load_perception(snakemake.input.perception, read_validated(snakemake.input.conversations, "conversations")),
        outcomes=read_outcomes(snakemake.input.outcomes),
        settings=settings,
    )
    for name in ("choices", "logit", "logit_fit", "gap_bins", "curve", "strengths", "rank_correlations", "left_out"):
        write_csv(getattr(results, name), snakemake.output[name])
    record = spec_record(
        analysis_id=settings["id"],
        family="perception",
        cohort=snakemake.wildcards.cohort,
        confirmatory=settings["confirmatory"],
        exclusions=list(snakemake.params.exclusions),
        judge_aggregation=dict(snakemake.params.judge_aggregation),
        **results.execution,
    )
    write_spec_record(record, snakemake.output.spec)
    log.info("sample: %s", results.execution["sample"])
    # a fit that departs from the registered model (scenario term dropped) must be visible in the log
    for note in results.logit_fit["note"]:
        if note:
            log.warning("%s", note)
