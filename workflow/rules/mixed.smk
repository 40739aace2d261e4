# Linear mixed models (REML) per outcome and the paper's reliability and reliable change
# (docs/mixed_models.md). Registered in config/prereg.yaml under `mixed_models:`.

MIXED = PREREG["mixed_models"]

register_spec_records(["results/{cohort}/mixed/spec.json"], analysis_ids=[MIXED["id"]])
register_spec_records(["results/{cohort}/mixed/reliable_change.spec.json"], analysis_ids=[MIXED["reliable_change"]["id"]])

register_targets(
    [
        "results/{cohort}/mixed/lmm_coefficients.csv",
        "results/{cohort}/mixed/convergence.csv",
        "results/{cohort}/mixed/spec.json",
        "results/{cohort}/mixed/reliability.csv",
        "results/{cohort}/mixed/responders.csv",
        "results/{cohort}/mixed/participant_change.csv",
        "results/{cohort}/mixed/reliable_change_excluded.csv",
        "results/{cohort}/mixed/reliable_change.spec.json",
    ]
    + expand("reports/{{cohort}}/tables/{name}.{ext}", name=["lmm_coefficients", "responders"], ext=["csv", "tex", "md"])
    + expand("reports/{{cohort}}/figures/responders.{ext}", ext=["png", "pdf"]),
    kinds=("trial",),
)


rule fit_mixed_models:
    input:
        outcomes="results/{cohort}/outcomes/conversation_scores.csv",
        code=code("fit_mixed_models"),
    output:
        coefficients="results/{cohort}/mixed/lmm_coefficients.csv",
        convergence="results/{cohort}/mixed/convergence.csv",
        spec="results/{cohort}/mixed/spec.json",
    params:
        analysis_id=MIXED["id"],
        confirmatory=MIXED.get("confirmatory", False),
        exclusions=[rule["id"] for rule in PREREG["exclusions"]],
        judge_aggregation=PREREG["judge_aggregation"],
        keywords=dict(
            outcomes=MIXED["outcomes"],
            arms=DESIGN["arms"],
            reference_arm=DESIGN["reference_arm"],
            terms=MIXED["terms"],
            scenario_reference=MIXED.get("scenario_reference"),
            group=MIXED["random_intercept"],
            optimizers=MIXED["optimizers"],
            alpha=MIXED["alpha"],
        ),
    log:
        "logs/fit_mixed_models/{cohort}.log",
    benchmark:
        "logs/fit_mixed_models/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/fit_mixed_models.py"


rule estimate_reliable_change:
    input:
        outcomes="results/{cohort}/outcomes/conversation_scores.csv",
        code=code("estimate_reliable_change"),
    output:
        reliability="results/{cohort}/mixed/reliability.csv",
        responders="results/{cohort}/mixed/responders.csv",
        participants="results/{cohort}/mixed/participant_change.csv",
        excluded="results/{cohort}/mixed/reliable_change_excluded.csv",
        spec="results/{cohort}/mixed/reliable_change.spec.json",
    params:
        analysis_id=MIXED["reliable_change"]["id"],
        confirmatory=MIXED["reliable_change"].get("confirmatory", False),
        plan=MIXED["reliable_change"],
        optimizers=MIXED["optimizers"],
        arms=DESIGN["arms"],
        conversations_per_participant=DESIGN["conversations_per_participant"],
        post_conversations=DESIGN["post_conversations"],
        exclusions=[rule["id"] for rule in PREREG["exclusions"]],
        judge_aggregation=PREREG["judge_aggregation"],
    log:
        "logs/estimate_reliable_change/{cohort}.log",
    benchmark:
        "logs/estimate_reliable_change/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/estimate_reliable_change.py"


rule plot_responders:
    input:
        participants="results/{cohort}/mixed/participant_change.csv",
        responders="results/{cohort}/mixed/responders.csv",
        reliability="results/{cohort}/mixed/reliability.csv",
        code=code("plot_responders"),
    output:
        png=report(
            "reports/{cohort}/figures/responders.png",
            caption="../report/responders.rst",
            category="Mixed models",
        ),
        pdf="reports/{cohort}/figures/responders.pdf",
    params:
        keywords=lambda wildcards: dict(
            arms=DESIGN["arms"],
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/plot_responders/{cohort}.log",
    benchmark:
        "logs/plot_responders/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/plot_responders.py"


rule render_mixed_tables:
    input:
        coefficients="results/{cohort}/mixed/lmm_coefficients.csv",
        convergence="results/{cohort}/mixed/convergence.csv",
        spec="results/{cohort}/mixed/spec.json",
        responders="results/{cohort}/mixed/responders.csv",
        reliability="results/{cohort}/mixed/reliability.csv",
        code=code("render_mixed_tables"),
    output:
        **{
            f"{name}_{ext}": f"reports/{{cohort}}/tables/{name}.{ext}"
            for name in ("lmm_coefficients", "responders")
            for ext in ("csv", "tex", "md")
        },
    params:
        keywords=lambda wildcards: dict(
            arms=DESIGN["arms"],
            reference_arm=DESIGN["reference_arm"],
            cohort=wildcards.cohort,
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/render_mixed_tables/{cohort}.log",
    benchmark:
        "logs/render_mixed_tables/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_mixed_tables.py"
