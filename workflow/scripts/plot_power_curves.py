"""Rule plot_power_curves: power of every registered hypothesis against participants per arm."""

import logging

import pandas as pd

from analysis.render.power import plot_power_curves
from analysis.render.style import save_figure
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "plot_power_curves"):
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting chatter
    figure = plot_power_curves(
        pd.read_csv(snakemake.input.power),
        **snakemake.params.keywords,
    )
    save_figure(figure, snakemake.output.png, snakemake.output.pdf)
