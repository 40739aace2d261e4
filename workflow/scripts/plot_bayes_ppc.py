"""Rule plot_bayes_ppc: posterior predictive check of the score shares by arm and conversation."""

import pandas as pd

from analysis.render.bayes import plot_ppc_proportions
from analysis.render.style import save_figure
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "plot_bayes_ppc"):
    figure = plot_ppc_proportions(
        pd.read_csv(snakemake.input.ppc),
        **snakemake.params.keywords,
    )
    save_figure(figure, snakemake.output.png, snakemake.output.pdf)
