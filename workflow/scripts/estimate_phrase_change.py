"""Rule estimate_phrase_change: how training changed the use of the mined phrases (DiD of proportions)."""

import pandas as pd

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step
from analysis.secondary.taxonomy import phrase_change

with logged_step(snakemake.log[0], "estimate_phrase_change") as log:
    results = phrase_change(
        read_validated(snakemake.input.messages, "messages"),
        read_outcomes(snakemake.input.outcomes),
        pd.read_csv(snakemake.input.taxonomy, keep_default_na=False, na_values=[""], dtype={"phrase": str}),
        **snakemake.params.keywords,
    )
    for name in ("shares", "change", "top", "left_out"):
        write_csv(getattr(results, name), snakemake.output[name])
    write_rule_spec_record(
        snakemake.params, snakemake.wildcards.cohort, "taxonomy", results.execution, snakemake.output.spec
    )
    log.info("%s significant changes after FDR", int(results.change["significant"].sum()))
