# Measurement validity (docs/measurement_validity.md): agreement of judges, experts and crowd on
# rating cohorts, and the registered primary DiD rerun once per judge on trial cohorts.
from analysis.prereg.keywords import agreement_keywords


register_targets(
    expand("results/{{cohort}}/reliability/{name}.csv", name=["pairwise", "experts", "crowd_workers", "excluded"])
    + expand("reports/{{cohort}}/tables/{name}.{ext}", name=["agreement", "expert_reliability"], ext=["csv", "tex", "md"])
    + expand("reports/{{cohort}}/figures/agreement_heatmap.{ext}", ext=["png", "pdf"]),
    kinds=("ratings",),
)
register_targets(
    ["results/{cohort}/primary/judge_sensitivity.csv"]
    + expand("reports/{{cohort}}/tables/judge_sensitivity.{ext}", ext=["csv", "tex", "md"]),
    kinds=("trial",),
)
register_spec_records(["results/{cohort}/reliability/spec.json"], kinds=("ratings",), analysis_ids=[PREREG["agreement"]["id"]])
register_spec_records(
    ["results/{cohort}/primary/judge_sensitivity.spec.json"],
    kinds=("trial",),
    analysis_ids=[PREREG["agreement"]["judge_sensitivity"]["id"]],
)


rule assess_agreement:
    input:
        scores=f"{FORMATS['pilot_release'].directory}/scores.csv",
        crowd_annotations=f"{FORMATS['pilot_release'].directory}/crowd_annotations.csv",
        code=code("assess_agreement"),
    output:
        pairwise="results/{cohort}/reliability/pairwise.csv",
        experts="results/{cohort}/reliability/experts.csv",
        crowd_workers="results/{cohort}/reliability/crowd_workers.csv",
        excluded="results/{cohort}/reliability/excluded.csv",
        spec="results/{cohort}/reliability/spec.json",
    params:
        analysis_id=PREREG["agreement"]["id"],
        confirmatory=PREREG["agreement"]["confirmatory"],
        exclusions=[],  # a rating study: no trial exclusions
        judge_aggregation=None,  # agreement compares the judges, never aggregates them
        keywords=dict(agreement_keywords(PREREG["agreement"]), dimensions=DIMENSIONS),
    log:
        "logs/assess_agreement/{cohort}.log",
    benchmark:
        "logs/assess_agreement/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/assess_agreement.py"


rule render_agreement_tables:
    input:
        pairwise="results/{cohort}/reliability/pairwise.csv",
        experts="results/{cohort}/reliability/experts.csv",
        code=code("render_agreement_tables"),
    output:
        **{
            f"{name}_{ext}": f"reports/{{cohort}}/tables/{name}.{ext}"
            for name in ("agreement", "expert_reliability")
            for ext in ("csv", "tex", "md")
        },
    params:
        keywords=lambda wildcards: dict(
            weights=PREREG["agreement"]["kappa_weights"],
            cohort=wildcards.cohort,
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/render_agreement_tables/{cohort}.log",
    benchmark:
        "logs/render_agreement_tables/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_agreement_tables.py"


rule plot_agreement_heatmap:
    input:
        pairwise="results/{cohort}/reliability/pairwise.csv",
        code=code("plot_agreement_heatmap"),
    output:
        png=report(
            "reports/{cohort}/figures/agreement_heatmap.png",
            caption="../report/agreement_heatmap.rst",
            category="Measurement validity",
        ),
        pdf="reports/{cohort}/figures/agreement_heatmap.pdf",
    params:
        keywords=lambda wildcards: dict(
            weights=PREREG["agreement"]["kappa_weights"],
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/plot_agreement_heatmap/{cohort}.log",
    benchmark:
        "logs/plot_agreement_heatmap/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/plot_agreement_heatmap.py"


rule fit_judge_sensitivity:
    input:
        participants=validated("participants"),
        conversations=validated("conversations"),
        messages=validated("messages"),
        scores=validated("scores"),
        primary="results/{cohort}/primary/did_coefficients.csv",
        code=code("fit_judge_sensitivity"),
    output:
        effects="results/{cohort}/primary/judge_sensitivity.csv",
        exclusions="results/{cohort}/primary/judge_sensitivity_exclusions.csv",
        spec="results/{cohort}/primary/judge_sensitivity.spec.json",
    params:
        analysis_id=PREREG["agreement"]["judge_sensitivity"]["id"],
        confirmatory=PREREG["agreement"]["judge_sensitivity"]["confirmatory"],
        judge_aggregation=PREREG["judge_aggregation"],
        keywords=dict(
            judges=PREREG["agreement"]["judge_sensitivity"]["judges"],
            rules=PREREG["exclusions"],
            dimensions=DIMENSIONS,
            composite=PREREG["outcomes"]["composite"],
            post_conversations=DESIGN["post_conversations"],
            conversations_per_participant=DESIGN["conversations_per_participant"],
            arms=DESIGN["arms"],
            reference_arm=DESIGN["reference_arm"],
            outcomes=PREREG["primary_analysis"]["outcomes"],
            alpha=PREREG["primary_analysis"]["alpha"],
            contrast_method=PREREG["primary_analysis"]["contrasts"]["method"],
            registered_aggregation=PREREG["judge_aggregation"],
        ),
    log:
        "logs/fit_judge_sensitivity/{cohort}.log",
    benchmark:
        "logs/fit_judge_sensitivity/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/fit_judge_sensitivity.py"


rule render_judge_sensitivity:
    input:
        effects="results/{cohort}/primary/judge_sensitivity.csv",
        primary="results/{cohort}/primary/did_coefficients.csv",
        code=code("render_judge_sensitivity"),
    output:
        **{f"judge_sensitivity_{ext}": f"reports/{{cohort}}/tables/judge_sensitivity.{ext}" for ext in ("csv", "tex", "md")},
    params:
        keywords=lambda wildcards: dict(
            aggregation=PREREG["judge_aggregation"],
            cohort=wildcards.cohort,
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/render_judge_sensitivity/{cohort}.log",
    benchmark:
        "logs/render_judge_sensitivity/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_judge_sensitivity.py"
