"""Rule render_silent_empathy_tables: the silent-empathy tables as CSV, LaTeX and Markdown."""

import pandas as pd

from analysis.render.silent_empathy import silent_empathy_tables
from analysis.render.tables import write_rendered_tables
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "render_silent_empathy_tables") as log:
    rendered = silent_empathy_tables(
        pd.read_csv(snakemake.input.trait_correlations),
        pd.read_csv(snakemake.input.self_judged),
        pd.read_csv(snakemake.input.high_rating_gap),
        **snakemake.params.keywords,
    )
    write_rendered_tables(rendered, snakemake.output, log)
