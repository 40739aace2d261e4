"""Rule import_paper_release: map the authors' release onto the native contract and the optional files."""

from analysis.cohort import write_csv, write_native
from analysis.paper_release import RELEASE_FILES, import_release, read_manifest, write_import_record
from analysis.runlog import logged_step

with logged_step(snakemake.log[0], "import_paper_release") as log:
    imported = import_release(
        {role: snakemake.input[role] if role in snakemake.input.keys() else snakemake.params.expected_paths[role] for role in RELEASE_FILES},
        arms=snakemake.params.arms,
        theme_categories=snakemake.params.theme_categories,
        junk_levels=snakemake.params.junk_levels,
        verify_checksums=snakemake.params.verify_checksums,
        manifest=read_manifest(snakemake.input.manifest),
    )
    directory = snakemake.output.participants.rsplit("/", 1)[0]
    write_native(imported.tables, directory)
    write_csv(imported.perception, snakemake.output.perception)
    write_csv(imported.elo, snakemake.output.elo)
    write_csv(imported.themes, snakemake.output.themes)
    write_csv(imported.issues, snakemake.output.issues)
    write_import_record(imported.record, snakemake.output.record)
    log.info("imported %s", imported.record["rows"])
    for name, reason in imported.unavailable.items():
        log.warning("%s.csv unavailable: its analyses are skipped for this cohort (%s)", name, reason)
    log.info("%s value(s) set missing or left out, listed in %s", len(imported.issues), snakemake.output.issues)
