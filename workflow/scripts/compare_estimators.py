"""Rule compare_estimators: each arm's effect in SD units from OLS, the LMM and the Bayesian models."""

import pandas as pd

from analysis.cohorts.native import write_csv
from analysis.models.estimator_comparison import compare_estimators, comparison_execution
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "compare_estimators") as log:
    params = snakemake.params
    comparison = compare_estimators(
        pd.read_csv(snakemake.input.ols),
        pd.read_csv(snakemake.input.lmm),
        pd.read_csv(snakemake.input.bayes),
        arms=params.arms,
        reference_arm=params.reference_arm,
        ordinal_scale=params.ordinal_scale,
        confidence=1.0 - params.alpha,
    )
    write_csv(comparison, snakemake.output.comparison)
    execution = comparison_execution(comparison, reference_arm=params.reference_arm, alpha=params.alpha, ordinal_scale=params.ordinal_scale)
    write_rule_spec_record(params, snakemake.wildcards.cohort, "models", execution, snakemake.output.spec)
    log.info("compared %s estimators over %s rows", comparison["estimator"].nunique(), len(comparison))
