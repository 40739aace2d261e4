"""Rule compare_estimators: each arm's effect in SD units from OLS, the LMM and the Bayesian models."""

import pandas as pd

from analysis.cohorts.native import write_csv
from analysis.models.estimator_comparison import compare_estimators
from analysis.prereg.specs import spec_record, write_spec_record
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
    record = spec_record(
        analysis_id=params.analysis_id,
        family="models",
        cohort=snakemake.wildcards.cohort,
        confirmatory=params.confirmatory,
        estimator="comparison",
        outcomes=list(dict.fromkeys(comparison["outcome"])),
        terms=list(dict.fromkeys(comparison["term"])),
        reference_arm=params.reference_arm,
        alpha=params.alpha,
        sample={"n_rows": int(len(comparison))},
        exclusions=list(params.exclusions),
        judge_aggregation=dict(params.judge_aggregation),
        details={
            "estimators": sorted(set(comparison["estimator"])),
            "standardiser": "outcome_sd of primary/effects_sd.csv",
            "ordinal_scale": params.ordinal_scale,
        },
    )
    write_spec_record(record, snakemake.output.spec)
    log.info("compared %s estimators over %s rows", comparison["estimator"].nunique(), len(comparison))
