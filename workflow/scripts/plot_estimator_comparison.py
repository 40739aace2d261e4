"""Rule plot_estimator_comparison: the effects of every estimator side by side, in SD units."""

import pandas as pd

from analysis.render.estimator_comparison import plot_estimator_comparison
from analysis.render.style import save_figure
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "plot_estimator_comparison"):
    figure = plot_estimator_comparison(
        pd.read_csv(snakemake.input.comparison),
        **snakemake.params.keywords,
    )
    save_figure(figure, snakemake.output.png, snakemake.output.pdf)
