"""Rule plot_agreement_heatmap: kappa by dimension and rater pair."""

import pandas as pd

from analysis.render.agreement import plot_agreement_heatmap
from analysis.render.style import save_figure
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "plot_agreement_heatmap"):
    figure = plot_agreement_heatmap(pd.read_csv(snakemake.input.pairwise), **snakemake.params.keywords)
    save_figure(figure, snakemake.output.png, snakemake.output.pdf)
