"""Rule fit_judge_sensitivity: the registered primary DiD rerun once per judge."""

import pandas as pd

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step
from analysis.secondary.judge_sensitivity import judge_sensitivity

with logged_step(snakemake.log[0], "fit_judge_sensitivity") as log:
    results = judge_sensitivity(
        **{name: read_validated(snakemake.input[name], name) for name in ("participants", "conversations", "messages", "scores")},
        primary_coefficients=pd.read_csv(snakemake.input.primary),
        **snakemake.params.keywords,
    )
    write_csv(results.effects, snakemake.output.effects)
    write_csv(results.exclusions, snakemake.output.exclusions)
    write_rule_spec_record(snakemake.params, snakemake.wildcards.cohort, "primary", results.execution, snakemake.output.spec)
    log.info("%s", results.execution["details"]["note"])
    for entry in results.execution["details"]["not_estimable"]:
        log.warning("not estimable: %s", entry["reason"])
