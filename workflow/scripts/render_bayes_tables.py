"""Rule render_bayes_tables: the Bayesian effects and diagnostics tables as CSV, LaTeX and Markdown."""

import pandas as pd

from analysis.render.bayes import bayes_tables_text
from analysis.runtime.atomic import write_text
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "render_bayes_tables") as log:
    rendered = bayes_tables_text(
        effects=pd.read_csv(snakemake.input.effects),
        diagnostics=pd.read_csv(snakemake.input.diagnostics),
        arms=snakemake.params.arms,
        reference_arm=snakemake.params.reference_arm,
        gates=snakemake.params.gates,
        cohort=snakemake.wildcards.cohort,
        synthetic=snakemake.params.synthetic,
    )
    for name, formats in rendered.items():
        for extension, text in formats.items():
            write_text(snakemake.output[f"{name}_{extension}"], text)
            log.info("wrote %s", snakemake.output[f"{name}_{extension}"])
