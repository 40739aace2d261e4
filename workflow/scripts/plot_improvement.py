"""Rule plot_improvement: standardized improvement by arm and the arm effects, with 95% CIs."""

import pandas as pd

from analysis.render.improvement import plot_improvement
from analysis.render.style import save_figure
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "plot_improvement"):
    figure = plot_improvement(
        pd.read_csv(snakemake.input.arm_summary, dtype={"arm": "str"}),
        pd.read_csv(snakemake.input.coefficients),
        **snakemake.params.keywords,
    )
    save_figure(figure, snakemake.output.png, snakemake.output.pdf)
