# The taxonomy of idiomatic empathic expressions and how training changes it
# (docs/taxonomy.md). Registered in config/prereg.yaml under `taxonomy:`. Route 1: the cohort's optional
# themes.csv; route 2: phrases mined from the supporter messages.

from analysis.prereg.keywords import mining_keywords, phrase_change_keywords, theme_change_keywords

TAXONOMY = PREREG["taxonomy"]
EXPRESSION_CHANGE_FILES = {
    "shares": "shares.csv",
    "change": "change.csv",
    "top": "change_top.csv",
    "left_out": "change_left_out.csv",
    "spec": "change.spec.json",
}


register_targets(
    [
        "results/{cohort}/taxonomy/phrase_scores.csv",
        "results/{cohort}/taxonomy/taxonomy.csv",
        "results/{cohort}/taxonomy/mining_left_out.csv",
        "results/{cohort}/taxonomy/mining.spec.json",
    ]
    + [f"results/{{cohort}}/taxonomy/phrase_{name}" for name in EXPRESSION_CHANGE_FILES.values()]
    + expand("reports/{{cohort}}/tables/{name}.{ext}", name=["taxonomy_phrases", "phrase_change"], ext=["csv", "tex", "md"])
    + expand("reports/{{cohort}}/figures/phrase_change.{ext}", ext=["png", "pdf"]),
    kinds=("trial",),
)
register_targets(
    [f"results/{{cohort}}/taxonomy/theme_{name}" for name in EXPRESSION_CHANGE_FILES.values()]
    + expand("reports/{{cohort}}/tables/theme_change.{ext}", ext=["csv", "tex", "md"])
    + expand("reports/{{cohort}}/figures/theme_change.{ext}", ext=["png", "pdf"]),
    kinds=("trial",),
    requires="themes",
)
register_spec_records(
    [
        "results/{cohort}/taxonomy/mining.spec.json",
        "results/{cohort}/taxonomy/phrase_change.spec.json",
    ],
    kinds=("trial",),
    analysis_ids=[TAXONOMY["mining"]["id"], TAXONOMY["change"]["phrases"]["id"]],
)
register_targets(
    [f"results/{{cohort}}/taxonomy/theme_level2_{name}" for name in EXPRESSION_CHANGE_FILES.values()],
    kinds=("trial",),
    requires="theme_levels",
)
register_spec_records(
    ["results/{cohort}/taxonomy/theme_level2_change.spec.json"],
    kinds=("trial",),
    requires="theme_levels",
    analysis_ids=[TAXONOMY["change"]["themes"]["id"]],
)
register_spec_records(
    ["results/{cohort}/taxonomy/theme_change.spec.json"],
    kinds=("trial",),
    requires="themes",
    analysis_ids=[TAXONOMY["change"]["themes"]["id"]],
)


rule validate_themes:
    input:
        themes=optional_cohort_file("themes"),
        messages=validated("messages"),
        code=code("validate_themes"),
    output:
        themes="results/{cohort}/taxonomy/themes_validated.csv",
    log:
        "logs/validate_themes/{cohort}.log",
    benchmark:
        "logs/validate_themes/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/validate_themes.py"


rule mine_phrases:
    input:
        messages=validated("messages"),
        outcomes="results/{cohort}/outcomes/conversation_scores.csv",
        code=code("mine_phrases"),
    output:
        phrase_scores="results/{cohort}/taxonomy/phrase_scores.csv",
        taxonomy="results/{cohort}/taxonomy/taxonomy.csv",
        left_out="results/{cohort}/taxonomy/mining_left_out.csv",
        spec="results/{cohort}/taxonomy/mining.spec.json",
    params:
        analysis_id=TAXONOMY["mining"]["id"],
        confirmatory=TAXONOMY["confirmatory"],
        keywords=dict(mining_keywords(TAXONOMY), dimensions=DIMENSIONS),
        exclusions=[rule["id"] for rule in PREREG["exclusions"]],
        judge_aggregation=PREREG["judge_aggregation"],
    log:
        "logs/mine_phrases/{cohort}.log",
    benchmark:
        "logs/mine_phrases/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/mine_phrases.py"


rule estimate_phrase_change:
    input:
        messages=validated("messages"),
        outcomes="results/{cohort}/outcomes/conversation_scores.csv",
        taxonomy="results/{cohort}/taxonomy/taxonomy.csv",
        code=code("estimate_phrase_change"),
    output:
        **{name: f"results/{{cohort}}/taxonomy/phrase_{file}" for name, file in EXPRESSION_CHANGE_FILES.items()},
    params:
        analysis_id=TAXONOMY["change"]["phrases"]["id"],
        confirmatory=TAXONOMY["confirmatory"],
        keywords=dict(phrase_change_keywords(TAXONOMY), arms=DESIGN["arms"], reference_arm=DESIGN["reference_arm"]),
        exclusions=[rule["id"] for rule in PREREG["exclusions"]],
        judge_aggregation=PREREG["judge_aggregation"],
    log:
        "logs/estimate_phrase_change/{cohort}.log",
    benchmark:
        "logs/estimate_phrase_change/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/estimate_phrase_change.py"


rule estimate_theme_change:
    input:
        themes="results/{cohort}/taxonomy/themes_validated.csv",
        messages=validated("messages"),
        outcomes="results/{cohort}/outcomes/conversation_scores.csv",
        code=code("estimate_theme_change"),
    output:
        **{name: f"results/{{cohort}}/taxonomy/theme_{file}" for name, file in EXPRESSION_CHANGE_FILES.items()},
    params:
        analysis_id=TAXONOMY["change"]["themes"]["id"],
        confirmatory=TAXONOMY["confirmatory"],
        keywords=dict(theme_change_keywords(TAXONOMY), arms=DESIGN["arms"], reference_arm=DESIGN["reference_arm"]),
        exclusions=[rule["id"] for rule in PREREG["exclusions"]],
        judge_aggregation=PREREG["judge_aggregation"],
        level="theme",
    log:
        "logs/estimate_theme_change/{cohort}.log",
    benchmark:
        "logs/estimate_theme_change/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/estimate_theme_change.py"


# The same analysis at the parent level of a hierarchical coding (the authors' release: Level 2 above
# the Level 3 interpretations), for cohorts whose themes.csv has theme_level2.
rule estimate_theme_level2_change:
    input:
        themes="results/{cohort}/taxonomy/themes_validated.csv",
        messages=validated("messages"),
        outcomes="results/{cohort}/outcomes/conversation_scores.csv",
        code=code("estimate_theme_change"),
    output:
        **{name: f"results/{{cohort}}/taxonomy/theme_level2_{file}" for name, file in EXPRESSION_CHANGE_FILES.items()},
    params:
        analysis_id=TAXONOMY["change"]["themes"]["id"],
        confirmatory=TAXONOMY["confirmatory"],
        keywords=dict(theme_change_keywords(TAXONOMY), arms=DESIGN["arms"], reference_arm=DESIGN["reference_arm"]),
        exclusions=[rule["id"] for rule in PREREG["exclusions"]],
        judge_aggregation=PREREG["judge_aggregation"],
        level="theme_level2",
    log:
        "logs/estimate_theme_level2_change/{cohort}.log",
    benchmark:
        "logs/estimate_theme_level2_change/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/estimate_theme_change.py"


rule plot_phrase_change:
    input:
        top="results/{cohort}/taxonomy/phrase_change_top.csv",
        code=code("plot_expression_change"),
    output:
        png=report(
            "reports/{cohort}/figures/phrase_change.png",
            caption="../report/phrase_change.rst",
            category="Taxonomy of expressions",
        ),
        pdf="reports/{cohort}/figures/phrase_change.pdf",
    params:
        keywords=lambda wildcards: dict(
            what="mined phrases",
            quoted=True,
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/plot_phrase_change/{cohort}.log",
    benchmark:
        "logs/plot_phrase_change/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/plot_expression_change.py"


rule plot_theme_change:
    input:
        top="results/{cohort}/taxonomy/theme_change_top.csv",
        code=code("plot_expression_change"),
    output:
        png=report(
            "reports/{cohort}/figures/theme_change.png",
            caption="../report/theme_change.rst",
            category="Taxonomy of expressions",
        ),
        pdf="reports/{cohort}/figures/theme_change.pdf",
    params:
        keywords=lambda wildcards: dict(
            what="themes",
            quoted=False,
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/plot_theme_change/{cohort}.log",
    benchmark:
        "logs/plot_theme_change/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/plot_expression_change.py"


rule render_taxonomy_tables:
    input:
        taxonomy="results/{cohort}/taxonomy/taxonomy.csv",
        top="results/{cohort}/taxonomy/phrase_change_top.csv",
        code=code("render_taxonomy_tables"),
    output:
        **{
            f"{name}_{ext}": f"reports/{{cohort}}/tables/{name}.{ext}"
            for name in ("taxonomy_phrases", "phrase_change")
            for ext in ("csv", "tex", "md")
        },
    params:
        dimensions=DIMENSIONS,
        top_n=TAXONOMY["change"]["top_n"],
        synthetic=is_synthetic,
    log:
        "logs/render_taxonomy_tables/{cohort}.log",
    benchmark:
        "logs/render_taxonomy_tables/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_taxonomy_tables.py"


rule render_theme_tables:
    input:
        top="results/{cohort}/taxonomy/theme_change_top.csv",
        code=code("render_theme_tables"),
    output:
        **{ext: f"reports/{{cohort}}/tables/theme_change.{ext}" for ext in ("csv", "tex", "md")},
    params:
        synthetic=is_synthetic,
    log:
        "logs/render_theme_tables/{cohort}.log",
    benchmark:
        "logs/render_theme_tables/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_theme_tables.py"
