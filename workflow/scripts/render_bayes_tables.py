"""Rule render_bayes_tables: the Bayesian effects and diagnostics tables as CSV, LaTeX and Markdown."""

import pandas as pd

from analysis.render.bayes import bayes_tables_text
from analysis.render.tables import write_rendered_tables
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "render_bayes_tables") as log:
    rendered = bayes_tables_text(
        effects=pd.read_csv(snakemake.input.effects),
        diagnostics=pd.read_csv(snakemake.input.diagnostics),
        **snakemake.params.keywords,
    )
    write_rendered_tables(rendered, snakemake.output, log)
