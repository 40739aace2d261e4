"""Rule import_paper_release: map the authors' release onto the native contract and the optional files (IDs
pseudonymised where the cohort registers `pseudonymise_ids`)."""

from analysis.adapters.paper_release import RELEASE_FILES, import_release, read_manifest, write_import_record
from analysis.cohorts.native import CohortTables, write_csv, write_native
from analysis.cohorts.privacy import pseudonymise_cohort
from analysis.constants import NATIVE_FILES
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "import_paper_release") as log:
    imported = import_release(
        {role: snakemake.input[role] if role in snakemake.input.keys() else snakemake.params.expected_paths[role] for role in RELEASE_FILES},
        arms=snakemake.params.arms,
        conversations_per_participant=snakemake.params.conversations_per_participant,
        withhold_values=bool(snakemake.params.pseudonymise),
        theme_categories=snakemake.params.theme_categories,
        junk_levels=snakemake.params.junk_levels,
        verify_checksums=snakemake.params.verify_checksums,
        manifest=read_manifest(snakemake.input.manifest),
    )
    tables = {**dict(imported.tables.items()), "perception": imported.perception, "elo": imported.elo, "themes": imported.themes}
    record = imported.record
    if snakemake.params.pseudonymise:
        key_file = snakemake.params.pseudonymise["key_file"]
        # where the key lies was checked when the DAG was built (common.smk, pseudonym_key_file)
        tables, pseudonymised = pseudonymise_cohort(tables, key_file=key_file, protected_dirs=())
        record = {**record, "pseudonymised": pseudonymised}
        log.info("participant, conversation, rater and pair IDs pseudonymised with the key in %s", key_file)
    directory = snakemake.output.participants.rsplit("/", 1)[0]
    write_native(CohortTables(**{name: tables[name] for name in NATIVE_FILES}), directory)
    write_csv(tables["perception"], snakemake.output.perception)
    write_csv(tables["elo"], snakemake.output.elo)
    write_csv(tables["themes"], snakemake.output.themes)
    write_csv(imported.issues, snakemake.output.issues)
    write_import_record(record, snakemake.output.record)
    log.info("imported %s", imported.record["rows"])
    for name, reason in imported.unavailable.items():
        log.warning("%s.csv unavailable: its analyses are skipped for this cohort (%s)", name, reason)
    log.info("%s value(s) set missing or left out, listed in %s", len(imported.issues), snakemake.output.issues)
