"""Rule validate_cohort: check the four native tables against the contract; write typed copies."""

import json

from analysis.cohort import write_csv
from analysis.contract import load_and_validate
from analysis.runlog import logged_step

with logged_step(snakemake.log[0], "validate_cohort") as log:
    files = {name: snakemake.input[name] for name in ("participants", "conversations", "messages", "scores")}
    tables, summary = load_and_validate(
        files,
        arms=snakemake.params.arms,
        dimensions=snakemake.params.dimensions,
        conversations_per_participant=snakemake.params.conversations_per_participant,
    )
    for name, frame in tables.items():
        write_csv(frame, snakemake.output[name])
    with open(snakemake.output.summary, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2, sort_keys=True)
        handle.write("\n")
    log.info("cohort valid: %s", summary["rows"])
