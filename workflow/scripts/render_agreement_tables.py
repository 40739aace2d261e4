"""Rule render_agreement_tables: the kappa table (companion study's layout) and the expert-reliability table."""

import pandas as pd

from analysis.render.agreement import agreement_tables_text
from analysis.render.tables import write_rendered_tables
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "render_agreement_tables") as log:
    rendered = agreement_tables_text(
        pd.read_csv(snakemake.input.pairwise),
        pd.read_csv(snakemake.input.experts),
        **snakemake.params.keywords,
    )
    write_rendered_tables(rendered, snakemake.output, log)
