"""Rule assess_agreement: the registered agreement analysis of a rating cohort (kappa, rho, ICC, alpha, crowd)."""

from analysis.adapters.pilot_release import read_crowd_annotations
from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step
from analysis.secondary.agreement import agreement_analysis

with logged_step(snakemake.log[0], "assess_agreement") as log:
    settings = snakemake.params.settings
    # crowd_bootstrap, crowd_worker_min_n and spearman_ci_se are optional in the plan; their defaults are the schema's
    crowd_bootstrap = settings.get("crowd_bootstrap", {})
    results = agreement_analysis(
        read_validated(snakemake.input.scores, "scores"),
        read_crowd_annotations(snakemake.input.crowd_annotations),
        experts=settings["experts"],
        pairs=settings["pairs"],
        dimensions=snakemake.params.dimensions,
        consensus_label=settings["consensus"]["label"],
        consensus_method=settings["consensus"]["method"],
        kappa_weights=settings["kappa_weights"],
        kappa_categories=settings["kappa_categories"],
        rounding=settings["rounding"],
        kappa_z_variance=settings["kappa_z_variance"],
        alpha=settings["alpha"],
        spearman_ci_se=settings.get("spearman_ci_se", "fisher"),
        crowd_bootstrap_resamples=crowd_bootstrap.get("resamples", 2000),
        crowd_bootstrap_seed=crowd_bootstrap.get("seed", 20260306),
        crowd_worker_min_n=settings.get("crowd_worker_min_n", 10),
    )
    for name in ("pairwise", "experts", "crowd_workers", "excluded"):
        write_csv(getattr(results, name), snakemake.output[name])
    write_rule_spec_record(snakemake.params, snakemake.wildcards.cohort, "reliability", results.execution, snakemake.output.spec)
    log.info("%s pair rows, %s records left out (listed in %s)", len(results.pairwise), len(results.excluded), snakemake.output.excluded)
