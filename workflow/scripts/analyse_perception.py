"""Rule analyse_perception: choosing the higher-composite conversation, gap bins, Bradley-Terry."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.optional import load_perception
from analysis.cohorts.outcomes import read_outcomes
from analysis.runtime.runlog import logged_step
from analysis.secondary.perception import perception_analysis
from analysis.secondary.perception_outputs import write_perception_results

with logged_step(snakemake.log[0], "analyse_perception") as log:
    results = perception_analysis(
        perception=load_perception(snakemake.input.perception, read_validated(snakemake.input.conversations, "conversations")),
        outcomes=read_outcomes(snakemake.input.outcomes),
        **snakemake.params.keywords,
    )
    write_perception_results(results, outputs=snakemake.output, params=snakemake.params, cohort=snakemake.wildcards.cohort, log=log)
