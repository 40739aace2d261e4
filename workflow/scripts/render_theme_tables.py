"""Rule render_theme_tables: the themes whose use changed after training, as CSV, LaTeX and Markdown."""

import pandas as pd

from analysis.render.tables import render_table
from analysis.render.taxonomy import change_table
from analysis.runtime.atomic import write_text
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "render_theme_tables") as log:
    rendered = render_table(
        change_table(pd.read_csv(snakemake.input.top, keep_default_na=False, na_values=[""], dtype={"expression": str})),
        caption=f"Themes whose use rose or fell after training ({snakemake.wildcards.cohort})",
        label="tab:theme-change",
        synthetic=snakemake.params.synthetic,
    )
    for extension, text in rendered.items():
        write_text(snakemake.output[extension], text)
        log.info("wrote %s", snakemake.output[extension])
