"""Rules plot_phrase_change and plot_theme_change: top rising and falling expressions (mined phrases or coded
themes) per trouble type, coloured by category."""

import pandas as pd

from analysis.render.style import save_figure
from analysis.render.taxonomy import plot_expression_change
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], snakemake.rule):
    figure = plot_expression_change(
        pd.read_csv(snakemake.input.top, keep_default_na=False, na_values=[""], dtype={"expression": str}),
        **snakemake.params.keywords,
    )
    save_figure(figure, snakemake.output.png, snakemake.output.pdf)
