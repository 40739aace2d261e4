"""Rule plot_responders: every participant's baseline and post composite by arm, sorted by change."""

import logging

import pandas as pd

from analysis.render.mixed import plot_responders
from analysis.render.style import save_figure
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "plot_responders"):
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting chatter
    figure = plot_responders(
        pd.read_csv(snakemake.input.participants, dtype={"participant_id": str, "arm": str}),
        pd.read_csv(snakemake.input.responders),
        threshold=float(pd.read_csv(snakemake.input.reliability)["threshold"].iloc[0]),
        **snakemake.params.keywords,
    )
    save_figure(figure, snakemake.output.png, snakemake.output.pdf)
