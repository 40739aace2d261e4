"""Rule render_improvement_tables: improvement effects with moderation, and baseline heterogeneity."""

import pandas as pd

from analysis.render.primary import write_rendered_tables
from analysis.runtime.runlog import logged_step
from analysis.secondary.improvement import improvement_tables

with logged_step(snakemake.log[0], "render_improvement_tables") as log:
    rendered = improvement_tables(
        pd.read_csv(snakemake.input.coefficients),
        pd.read_csv(snakemake.input.wald),
        pd.read_csv(snakemake.input.heterogeneity),
        pd.read_csv(snakemake.input.standardisers),
        settings=snakemake.params.settings,
        cohort=snakemake.wildcards.cohort,
        synthetic=snakemake.params.synthetic,
    )
    write_rendered_tables(rendered, snakemake.output, log)
