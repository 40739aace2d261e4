# Tables and figures for people: rounding happens here and only here.


register_targets(
    expand(
        "reports/{{cohort}}/tables/{name}.{ext}",
        name=["primary_did", "arm_contrasts"],
        ext=["csv", "tex", "md"],
    )
    + expand(
        "reports/{{cohort}}/figures/{name}.{ext}",
        name=["effects_sd", "composite_by_conversation"],
        ext=["png", "pdf"],
    )
)


rule render_primary_tables:
    input:
        coefficients="results/{cohort}/primary/did_coefficients.csv",
        fit="results/{cohort}/primary/model_fit.csv",
        contrasts="results/{cohort}/primary/arm_contrasts.csv",
        code=code("render_primary_tables"),
    output:
        **{
            f"{name}_{ext}": f"reports/{{cohort}}/tables/{name}.{ext}"
            for name in ("primary_did", "arm_contrasts")
            for ext in ("csv", "tex", "md")
        },
    params:
        keywords=lambda wildcards: dict(
            arms=DESIGN["arms"],
            reference_arm=DESIGN["reference_arm"],
            contrast_method=PREREG["primary_analysis"]["contrasts"]["method"],
            cohort=wildcards.cohort,
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/render_primary_tables/{cohort}.log",
    benchmark:
        "logs/render_primary_tables/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_primary_tables.py"


rule plot_effects_sd:
    input:
        effects_sd="results/{cohort}/primary/effects_sd.csv",
        code=code("plot_effects_sd"),
    output:
        png=report(
            "reports/{cohort}/figures/effects_sd.png",
            caption="../report/effects_sd.rst",
            category="Primary analysis",
        ),
        pdf="reports/{cohort}/figures/effects_sd.pdf",
    params:
        keywords=lambda wildcards: dict(
            arms=DESIGN["arms"],
            reference_arm=DESIGN["reference_arm"],
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/plot_effects_sd/{cohort}.log",
    benchmark:
        "logs/plot_effects_sd/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/plot_effects_sd.py"


rule plot_composite_by_conversation:
    input:
        outcomes="results/{cohort}/outcomes/conversation_scores.csv",
        code=code("plot_composite_by_conversation"),
    output:
        png=report(
            "reports/{cohort}/figures/composite_by_conversation.png",
            caption="../report/composite_by_conversation.rst",
            category="Primary analysis",
        ),
        pdf="reports/{cohort}/figures/composite_by_conversation.pdf",
    params:
        keywords=lambda wildcards: dict(
            arms=DESIGN["arms"],
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/plot_composite_by_conversation/{cohort}.log",
    benchmark:
        "logs/plot_composite_by_conversation/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/plot_composite_by_conversation.py"
