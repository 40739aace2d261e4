"""Rule pseudonymise_cohort_file: an optional cohort file (perception, elo, themes) of a cohort whose IDs are
pseudonymised at validation, with its IDs replaced by the same pseudonyms, rows in the file's order."""

from analysis.cohorts.contract import read_csv_text
from analysis.cohorts.native import write_csv
from analysis.cohorts.privacy import pseudonymise_cohort
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "pseudonymise_cohort_file") as log:
    table = snakemake.params.table
    key_file = snakemake.params.pseudonymise["key_file"]
    # where the key lies was checked when the DAG was built (common.smk, pseudonym_key_file)
    # the cohort's raw conversations join the collision check of the conversation IDs the file refers to
    tables, _ = pseudonymise_cohort(
        {table: read_csv_text(snakemake.input.file), "conversations": read_csv_text(snakemake.input.conversations)},
        key_file=key_file, protected_dirs=(), keep_row_order=True,
    )
    write_csv(tables[table], snakemake.output.file)
    log.info("%s: %s rows, IDs pseudonymised with the key in %s", snakemake.input.file, len(tables[table]), key_file)
