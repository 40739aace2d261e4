"""Rule apply_exclusions: apply the registered exclusions; list every excluded record; count the flow."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.exclusions import apply_exclusions
from analysis.cohorts.native import write_csv
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "apply_exclusions") as log:
    tables = {name: read_validated(snakemake.input[name], name) for name in ("participants", "conversations", "messages", "scores")}
    result = apply_exclusions(
        **tables,
        rules=snakemake.params.rules,
        dimensions=snakemake.params.dimensions,
        judges=snakemake.params.judges,
        conversations_per_participant=snakemake.params.conversations_per_participant,
        arms=snakemake.params.arms,
    )
    for name in ("included", "exclusions", "flow"):
        write_csv(getattr(result, name), snakemake.output[name])
    log.info("%s conversations analysed, %s records excluded", len(result.included), len(result.exclusions))
