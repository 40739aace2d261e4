"""Rule render_primary_tables: the primary DiD and contrast tables as CSV, LaTeX and Markdown."""

import pandas as pd

from analysis.render.primary import primary_tables_text
from analysis.render.tables import write_rendered_tables
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "render_primary_tables") as log:
    rendered = primary_tables_text(
        coefficients=pd.read_csv(snakemake.input.coefficients),
        fit=pd.read_csv(snakemake.input.fit),
        contrasts=pd.read_csv(snakemake.input.contrasts),
        **snakemake.params.keywords,
    )
    write_rendered_tables(rendered, snakemake.output, log)
