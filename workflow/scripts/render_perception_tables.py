"""Rules render_perception_tables and render_perception_elo_table: a choice logit (the perception logit, or
the agreement with the LLM's Elo preference) and its Bradley-Terry rank correlations."""

import pandas as pd

from analysis.render.perception import perception_tables
from analysis.render.tables import write_rendered_tables
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], snakemake.rule) as log:
    rendered = perception_tables(
        pd.read_csv(snakemake.input.logit),
        pd.read_csv(snakemake.input.logit_fit),
        pd.read_csv(snakemake.input.rank_correlations),
        **snakemake.params.keywords,
    )
    write_rendered_tables(rendered, snakemake.output, log)
