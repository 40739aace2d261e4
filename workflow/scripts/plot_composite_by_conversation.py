"""Rule plot_composite_by_conversation: mean composite by arm and conversation with 95% CIs."""

from analysis.cohorts.outcomes import read_outcomes
from analysis.render.figures import plot_composite_by_conversation
from analysis.render.style import save_figure
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "plot_composite_by_conversation"):
    figure = plot_composite_by_conversation(
        read_outcomes(snakemake.input.outcomes),
        **snakemake.params.keywords,
    )
    save_figure(figure, snakemake.output.png, snakemake.output.pdf)
