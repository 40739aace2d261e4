"""Rule analyse_perception_elo: agreement with the LLM's Elo preference; Bradley-Terry versus Elo."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.cohorts.optional import load_elo
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step
from analysis.secondary.perception import elo_analysis, read_choices, read_strengths

with logged_step(snakemake.log[0], "analyse_perception_elo") as log:
    results = elo_analysis(
        choices=read_choices(snakemake.input.choices),
        strengths=read_strengths(snakemake.input.strengths),
        elo=load_elo(snakemake.input.elo, read_validated(snakemake.input.conversations, "conversations")),
        **snakemake.params.keywords,
    )
    for name in ("logit", "logit_fit", "rank_correlations", "left_out"):
        write_csv(getattr(results, name), snakemake.output[name])
    write_rule_spec_record(snakemake.params, snakemake.wildcards.cohort, "perception", results.execution, snakemake.output.spec)
    log.info("sample: %s", results.execution["sample"])
    # a fit that departs from the registered model (scenario term dropped) must be visible in the log
    for note in results.logit_fit["note"]:
        if note:
            log.warning("%s", note)
