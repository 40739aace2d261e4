"""Rule render_taxonomy_tables: the mined taxonomy and the phrases' change, as CSV, LaTeX and Markdown."""

import pandas as pd

from analysis.render.tables import render_table, write_rendered_tables
from analysis.render.taxonomy import change_table, taxonomy_table
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "render_taxonomy_tables") as log:
    read = {"keep_default_na": False, "na_values": [""]}
    tables = {
        "taxonomy_phrases": render_table(
            taxonomy_table(pd.read_csv(snakemake.input.taxonomy, dtype={"phrase": str}, **read),
                           snakemake.params.dimensions, snakemake.params.top_n),
            caption=f"Phrases that mark each judged dimension ({snakemake.wildcards.cohort})",
            label="tab:taxonomy-phrases",
            synthetic=snakemake.params.synthetic,
        ),
        "phrase_change": render_table(
            change_table(pd.read_csv(snakemake.input.top, dtype={"expression": str}, **read)),
            caption=f"Phrases whose use rose or fell after training ({snakemake.wildcards.cohort})",
            label="tab:phrase-change",
            synthetic=snakemake.params.synthetic,
        ),
    }
    write_rendered_tables(tables, snakemake.output, log)
