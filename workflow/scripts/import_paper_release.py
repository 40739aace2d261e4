"""Rule import_paper_release: map the authors' release onto the native contract and the optional files."""

from analysis.cohort import write_csv, write_native
from analysis.paper_release import RELEASE_FILES, import_release, write_import_record
from analysis.runlog import logged_step

with logged_step(snakemake.log[0], "import_paper_release") as log:
    imported = import_release({role: snakemake.input[role] for role in RELEASE_FILES}, arms=snakemake.params.arms)
    directory = snakemake.output.participants.rsplit("/", 1)[0]
    write_native(imported.tables, directory)
    write_csv(imported.perception, snakemake.output.perception)
    write_csv(imported.elo, snakemake.output.elo)
    write_csv(imported.themes, snakemake.output.themes)
    write_csv(imported.issues, snakemake.output.issues)
    write_import_record(imported.record, snakemake.output.record)
    log.info("imported %s", imported.record["rows"])
    log.info("%s value(s) set missing or left out, listed in %s", len(imported.issues), snakemake.output.issues)
