"""Rule render_improvement_tables: improvement effects with moderation, and baseline heterogeneity."""

import pandas as pd

from analysis.render.improvement import improvement_tables
from analysis.render.tables import write_rendered_tables
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "render_improvement_tables") as log:
    rendered = improvement_tables(
        pd.read_csv(snakemake.input.coefficients),
        pd.read_csv(snakemake.input.wald),
        pd.read_csv(snakemake.input.heterogeneity),
        pd.read_csv(snakemake.input.standardisers),
        **snakemake.params.keywords,
    )
    write_rendered_tables(rendered, snakemake.output, log)
