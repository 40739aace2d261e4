"""Rule plot_bayes_effects: forest plot of the ordinal model's effects by dimension and arm."""

import pandas as pd

from analysis.render.bayes import plot_bayes_effects
from analysis.render.style import save_figure
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "plot_bayes_effects"):
    figure = plot_bayes_effects(
        pd.read_csv(snakemake.input.effects),
        **snakemake.params.keywords,
    )
    save_figure(figure, snakemake.output.png, snakemake.output.pdf)
