"""Rule render_judge_sensitivity: the per-judge arm x post effects beside the registered primary ones."""

import pandas as pd

from analysis.render.judge_sensitivity import judge_sensitivity_text
from analysis.render.tables import write_rendered_tables
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "render_judge_sensitivity") as log:
    rendered = judge_sensitivity_text(
        pd.read_csv(snakemake.input.effects, dtype={"judge": str}),
        pd.read_csv(snakemake.input.primary),
        **snakemake.params.keywords,
    )
    write_rendered_tables({"judge_sensitivity": rendered}, snakemake.output, log)
