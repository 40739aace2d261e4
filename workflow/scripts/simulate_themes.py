"""Rule simulate_themes: the SYNTHETIC cohort's themes.csv, the planted expressions read back from its messages."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.runtime.runlog import logged_step
from analysis.simulate.cohort import code_planted_themes

with logged_step(snakemake.log[0], "simulate_themes") as log:
    themes = code_planted_themes(read_validated(snakemake.input.messages, "messages"))
    write_csv(themes, snakemake.output.themes)
    log.info("coded %s (message, theme) pairs in %s themes", len(themes), themes["theme"].nunique())
