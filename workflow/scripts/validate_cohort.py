"""Rule validate_cohort: check the four native tables against the contract; write typed copies (IDs pseudonymised
where the cohort registers `pseudonymise_ids` and is not a release the import pseudonymised)."""

from analysis.cohorts.contract import load_and_validate
from analysis.cohorts.native import write_csv
from analysis.cohorts.privacy import pseudonymise_cohort
from analysis.runtime.atomic import write_json
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "validate_cohort") as log:
    files = {name: snakemake.input[name] for name in ("participants", "conversations", "messages", "scores")}
    tables, summary = load_and_validate(
        files,
        arms=snakemake.params.arms,
        dimensions=snakemake.params.dimensions,
        conversations_per_participant=snakemake.params.conversations_per_participant,
    )
    tables = dict(tables.items())
    if snakemake.params.pseudonymise:
        key_file = snakemake.params.pseudonymise["key_file"]
        # where the key lies was checked when the DAG was built (common.smk, pseudonym_key_file)
        tables, summary["pseudonymised"] = pseudonymise_cohort(tables, key_file=key_file, protected_dirs=())
        log.info("participant and conversation IDs pseudonymised with the key in %s", key_file)
    for name, frame in tables.items():
        write_csv(frame, snakemake.output[name])
    write_json(snakemake.output.summary, summary)
    log.info("cohort valid: %s", summary["rows"])
