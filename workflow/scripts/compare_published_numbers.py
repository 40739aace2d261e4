"""Rule compare_published_numbers: each published number beside its reproduced value."""

from pathlib import Path

import pandas as pd

from analysis.adapters.paper_release import compare_published, read_comparisons, read_text_csv
from analysis.cohorts.native import write_csv
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "compare_published_numbers") as log:
    prefix = f"results/{snakemake.wildcards.cohort}/"
    comparison = compare_published(
        read_comparisons(snakemake.input.comparisons),
        published={Path(path).name: read_text_csv(path) for path in snakemake.input.published},
        results={path.removeprefix(prefix): pd.read_csv(path, keep_default_na=False) for path in snakemake.input.results},
        unavailable=dict(snakemake.params.unavailable),
    )
    write_csv(comparison, snakemake.output.comparison)
    log.info("%s of %s published numbers agree at the published precision", int(comparison["agrees"].sum()), len(comparison))
