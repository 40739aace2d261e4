"""Rule render_mixed_tables: the LMM and responder tables as CSV, LaTeX and Markdown."""

import pandas as pd

from analysis.prereg.specs import read_spec_record
from analysis.render.mixed import mixed_tables_text
from analysis.render.tables import write_rendered_tables
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "render_mixed_tables") as log:
    levels = read_spec_record(snakemake.input.spec)["details"]["scenario_levels"]
    rendered = mixed_tables_text(
        coefficients=pd.read_csv(snakemake.input.coefficients),
        convergence=pd.read_csv(snakemake.input.convergence, keep_default_na=False, na_values={"log_likelihood": [""]}),
        responders=pd.read_csv(snakemake.input.responders),
        reliability=pd.read_csv(snakemake.input.reliability),
        reference_scenario=levels[0] if levels else None,
        **snakemake.params.keywords,
    )
    write_rendered_tables(rendered, snakemake.output, log)
