"""Rule analyse_perception_elo: agreement with the LLM's Elo preference; Bradley-Terry versus Elo."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.optional import load_elo
from analysis.runtime.runlog import logged_step
from analysis.secondary.perception import elo_analysis, read_choices, read_strengths
from analysis.secondary.perception_outputs import write_perception_results

with logged_step(snakemake.log[0], "analyse_perception_elo") as log:
    results = elo_analysis(
        choices=read_choices(snakemake.input.choices),
        strengths=read_strengths(snakemake.input.strengths),
        elo=load_elo(snakemake.input.elo, read_validated(snakemake.input.conversations, "conversations")),
        **snakemake.params.keywords,
    )
    write_perception_results(results, outputs=snakemake.output, params=snakemake.params, cohort=snakemake.wildcards.cohort, log=log)
