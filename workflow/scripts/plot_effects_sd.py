"""Rule plot_effects_sd: each arm's post effect per outcome in SD units, with 95% CIs."""

import pandas as pd

from analysis.render.figures import plot_effects_sd
from analysis.render.style import save_figure
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "plot_effects_sd"):
    figure = plot_effects_sd(
        pd.read_csv(snakemake.input.effects_sd),
        **snakemake.params.keywords,
    )
    save_figure(figure, snakemake.output.png, snakemake.output.pdf)
