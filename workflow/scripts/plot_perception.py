"""Rule plot_perception: share choosing the higher-scored conversation by gap bin, with the fitted logit."""

import pandas as pd

from analysis.render.perception import plot_gap_bins
from analysis.render.style import save_figure
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "plot_perception"):
    figure = plot_gap_bins(
        pd.read_csv(snakemake.input.gap_bins),
        pd.read_csv(snakemake.input.curve),
        pd.read_csv(snakemake.input.logit_fit),
        pd.read_csv(snakemake.input.logit),
        **snakemake.params.keywords,
    )
    save_figure(figure, snakemake.output.png, snakemake.output.pdf)
