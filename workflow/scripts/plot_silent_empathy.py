"""Rule plot_silent_empathy: the trait panel and the self-versus-judged panel."""

import pandas as pd

from analysis.render.silent_empathy import plot_self_vs_judged, plot_trait_panel
from analysis.render.style import save_figure
from analysis.runtime.runlog import logged_step
from analysis.secondary.silent_empathy import read_participant_traits

with logged_step(snakemake.log[0], "plot_silent_empathy"):
    traits = plot_trait_panel(
        read_participant_traits(snakemake.input.participants),
        pd.read_csv(snakemake.input.trait_correlations),
        pd.read_csv(snakemake.input.trait_levels),
        **snakemake.params.trait_keywords,
    )
    save_figure(traits, snakemake.output.traits_png, snakemake.output.traits_pdf)
    self_vs_judged = plot_self_vs_judged(
        pd.read_csv(snakemake.input.distributions),
        pd.read_csv(snakemake.input.high_rating_gap),
        **snakemake.params.self_vs_judged_keywords,
    )
    save_figure(self_vs_judged, snakemake.output.self_png, snakemake.output.self_pdf)
