# The estimator comparison (docs/bayesian_models.md): each arm's effect in SD units from the
# primary OLS, the linear mixed model and the Bayesian models, side by side. Registered in
# config/prereg.yaml under `bayesian_models.estimator_comparison`.

COMPARISON = PREREG["bayesian_models"]["estimator_comparison"]

register_spec_records(["results/{cohort}/models/spec.json"], analysis_ids=[COMPARISON["id"]])

register_targets(
    [
        "results/{cohort}/models/estimator_comparison.csv",
        "results/{cohort}/models/spec.json",
    ]
    + expand("reports/{{cohort}}/figures/estimator_comparison.{ext}", ext=["png", "pdf"]),
    kinds=("trial",),
)


rule compare_estimators:
    input:
        ols="results/{cohort}/primary/effects_sd.csv",
        lmm="results/{cohort}/mixed/lmm_coefficients.csv",
        bayes="results/{cohort}/bayes/effects.csv",
        code=code("compare_estimators"),
    output:
        comparison="results/{cohort}/models/estimator_comparison.csv",
        spec="results/{cohort}/models/spec.json",
    params:
        analysis_id=COMPARISON["id"],
        confirmatory=PREREG["bayesian_models"]["confirmatory"],
        exclusions=[rule["id"] for rule in PREREG["exclusions"]],
        judge_aggregation=PREREG["judge_aggregation"],
        arms=DESIGN["arms"],
        reference_arm=DESIGN["reference_arm"],
        ordinal_scale=COMPARISON["ordinal_scale"],
        alpha=PREREG["primary_analysis"]["alpha"],
    log:
        "logs/compare_estimators/{cohort}.log",
    benchmark:
        "logs/compare_estimators/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/compare_estimators.py"


rule plot_estimator_comparison:
    input:
        comparison="results/{cohort}/models/estimator_comparison.csv",
        code=code("plot_estimator_comparison"),
    output:
        png=report(
            "reports/{cohort}/figures/estimator_comparison.png",
            caption="../report/estimator_comparison.rst",
            category="Bayesian models",
        ),
        pdf="reports/{cohort}/figures/estimator_comparison.pdf",
    params:
        keywords=lambda wildcards: dict(
            arms=DESIGN["arms"],
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/plot_estimator_comparison/{cohort}.log",
    benchmark:
        "logs/plot_estimator_comparison/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/plot_estimator_comparison.py"
