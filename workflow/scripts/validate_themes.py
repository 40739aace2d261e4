"""Rule validate_themes: check the cohort's optional themes.csv against its messages; write a typed copy."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.cohorts.optional import load_themes
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "validate_themes") as log:
    themes = load_themes(snakemake.input.themes, read_validated(snakemake.input.messages, "messages"))
    write_csv(themes, snakemake.output.themes)
    log.info("themes valid: %s codes, %s themes", len(themes), themes["theme"].nunique())
