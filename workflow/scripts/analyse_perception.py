"""Rule analyse_perception: choosing the higher-composite conversation, gap bins, Bradley-Terry."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.cohorts.optional import load_perception
from analysis.cohorts.outcomes import read_outcomes
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step
from analysis.secondary.perception import perception_analysis

with logged_step(snakemake.log[0], "analyse_perception") as log:
    results = perception_analysis(
        perception=load_perception(snakemake.input.perception, read_validated(snakemake.input.conversations, "conversations")),
        outcomes=read_outcomes(snakemake.input.outcomes),
        **snakemake.params.keywords,
    )
    for name in ("choices", "logit", "logit_fit", "gap_bins", "curve", "strengths", "rank_correlations", "left_out"):
        write_csv(getattr(results, name), snakemake.output[name])
    write_rule_spec_record(snakemake.params, snakemake.wildcards.cohort, "perception", results.execution, snakemake.output.spec)
    log.info("sample: %s", results.execution["sample"])
    # a fit that departs from the registered model (scenario term dropped) must be visible in the log
    for note in results.logit_fit["note"]:
        if note:
            log.warning("%s", note)
