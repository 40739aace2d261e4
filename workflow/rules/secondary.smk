# The paper's secondary analyses (docs/secondary_analyses.md): silent empathy, the perception
# task (optional cohort files perception.csv and elo.csv) and standardized improvement. Registered in
# config/prereg.yaml under `secondary_analyses:`, all exploratory.

from analysis.prereg.keywords import elo_keywords, improvement_keywords, perception_keywords, silent_empathy_keywords
from analysis.render.perception import elo_table_keywords

SECONDARY = PREREG["secondary_analyses"]
SECONDARY_EXCLUSIONS = [rule["id"] for rule in PREREG["exclusions"]]


register_targets(
    [
        "results/{cohort}/silent_empathy/spec.json",
        "results/{cohort}/improvement/spec.json",
    ]
    + expand(
        "reports/{{cohort}}/tables/{name}.{ext}",
        name=["silent_empathy_correlations", "silent_empathy_gap", "improvement_effects", "baseline_heterogeneity"],
        ext=["csv", "tex", "md"],
    )
    + expand(
        "reports/{{cohort}}/figures/{name}.{ext}",
        name=["silent_empathy_traits", "silent_empathy_self_vs_judged", "improvement_by_arm"],
        ext=["png", "pdf"],
    ),
    kinds=("trial",),
)
register_targets(
    ["results/{cohort}/perception/spec.json"]
    + expand("reports/{{cohort}}/tables/perception.{ext}", ext=["csv", "tex", "md"])
    + expand("reports/{{cohort}}/figures/perception_gap_bins.{ext}", ext=["png", "pdf"]),
    kinds=("trial",),
    requires="perception",
)
register_targets(
    ["results/{cohort}/perception/elo.spec.json"]
    + expand("reports/{{cohort}}/tables/perception_elo.{ext}", ext=["csv", "tex", "md"]),
    kinds=("trial",),
    requires="elo",
)
register_spec_records(["results/{cohort}/silent_empathy/spec.json"], analysis_ids=[SECONDARY["silent_empathy"]["id"]])
register_spec_records(["results/{cohort}/improvement/spec.json"], analysis_ids=[SECONDARY["improvement"]["id"]])
register_spec_records(
    ["results/{cohort}/perception/spec.json"], requires="perception", analysis_ids=[SECONDARY["perception"]["id"]]
)
register_spec_records(
    ["results/{cohort}/perception/elo.spec.json"], requires="elo", analysis_ids=[SECONDARY["perception"]["elo"]["id"]]
)


rule analyse_silent_empathy:
    input:
        participants=validated("participants"),
        conversations=validated("conversations"),
        outcomes="results/{cohort}/outcomes/conversation_scores.csv",
        code=code("analyse_silent_empathy"),
    output:
        trait_correlations="results/{cohort}/silent_empathy/trait_correlations.csv",
        trait_levels="results/{cohort}/silent_empathy/trait_levels.csv",
        participants="results/{cohort}/silent_empathy/participants.csv",
        self_judged="results/{cohort}/silent_empathy/self_judged_correlations.csv",
        distributions="results/{cohort}/silent_empathy/rating_distributions.csv",
        high_rating_gap="results/{cohort}/silent_empathy/high_rating_gap.csv",
        left_out="results/{cohort}/silent_empathy/left_out.csv",
        spec="results/{cohort}/silent_empathy/spec.json",
    params:
        keywords=silent_empathy_keywords(SECONDARY["silent_empathy"], PREREG["outcomes"]["composite"]),
        analysis_id=SECONDARY["silent_empathy"]["id"],
        confirmatory=SECONDARY["silent_empathy"]["confirmatory"],
        exclusions=SECONDARY_EXCLUSIONS,
        judge_aggregation=PREREG["judge_aggregation"],
    log:
        "logs/analyse_silent_empathy/{cohort}.log",
    benchmark:
        "logs/analyse_silent_empathy/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/analyse_silent_empathy.py"


rule analyse_perception:
    input:
        perception=optional_cohort_file("perception"),
        conversations=validated("conversations"),
        outcomes="results/{cohort}/outcomes/conversation_scores.csv",
        code=code("analyse_perception"),
    output:
        choices="results/{cohort}/perception/choices.csv",
        logit="results/{cohort}/perception/logit.csv",
        logit_fit="results/{cohort}/perception/logit_fit.csv",
        gap_bins="results/{cohort}/perception/gap_bins.csv",
        curve="results/{cohort}/perception/predicted_curve.csv",
        strengths="results/{cohort}/perception/bt_strengths.csv",
        rank_correlations="results/{cohort}/perception/rank_correlations.csv",
        left_out="results/{cohort}/perception/left_out.csv",
        spec="results/{cohort}/perception/spec.json",
    params:
        keywords=perception_keywords(SECONDARY["perception"]),
        analysis_id=SECONDARY["perception"]["id"],
        confirmatory=SECONDARY["perception"]["confirmatory"],
        exclusions=SECONDARY_EXCLUSIONS,
        judge_aggregation=PREREG["judge_aggregation"],
    log:
        "logs/analyse_perception/{cohort}.log",
    benchmark:
        "logs/analyse_perception/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/analyse_perception.py"


rule analyse_perception_elo:
    input:
        elo=optional_cohort_file("elo"),
        conversations=validated("conversations"),
        choices="results/{cohort}/perception/choices.csv",
        strengths="results/{cohort}/perception/bt_strengths.csv",
        code=code("analyse_perception_elo"),
    output:
        logit="results/{cohort}/perception/elo_logit.csv",
        logit_fit="results/{cohort}/perception/elo_logit_fit.csv",
        rank_correlations="results/{cohort}/perception/elo_rank_correlations.csv",
        left_out="results/{cohort}/perception/elo_left_out.csv",
        spec="results/{cohort}/perception/elo.spec.json",
    params:
        keywords=elo_keywords(SECONDARY["perception"]),
        analysis_id=SECONDARY["perception"]["elo"]["id"],
        confirmatory=SECONDARY["perception"]["elo"]["confirmatory"],
        exclusions=SECONDARY_EXCLUSIONS,
        judge_aggregation=PREREG["judge_aggregation"],
    log:
        "logs/analyse_perception_elo/{cohort}.log",
    benchmark:
        "logs/analyse_perception_elo/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/analyse_perception_elo.py"


rule analyse_improvement:
    input:
        outcomes="results/{cohort}/outcomes/conversation_scores.csv",
        participants=validated("participants"),
        code=code("analyse_improvement"),
    output:
        participants="results/{cohort}/improvement/participants.csv",
        standardisers="results/{cohort}/improvement/standardisers.csv",
        arm_summary="results/{cohort}/improvement/arm_summary.csv",
        coefficients="results/{cohort}/improvement/coefficients.csv",
        wald="results/{cohort}/improvement/wald_tests.csv",
        heterogeneity="results/{cohort}/improvement/baseline_heterogeneity.csv",
        group_means="results/{cohort}/improvement/baseline_means.csv",
        left_out="results/{cohort}/improvement/left_out.csv",
        spec="results/{cohort}/improvement/spec.json",
    params:
        keywords=dict(
            improvement_keywords(SECONDARY["improvement"]),
            arms=DESIGN["arms"],
            reference_arm=DESIGN["reference_arm"],
            post_conversations=DESIGN["post_conversations"],
            dimensions=DIMENSIONS,
        ),
        analysis_id=SECONDARY["improvement"]["id"],
        confirmatory=SECONDARY["improvement"]["confirmatory"],
        exclusions=SECONDARY_EXCLUSIONS,
        judge_aggregation=PREREG["judge_aggregation"],
    log:
        "logs/analyse_improvement/{cohort}.log",
    benchmark:
        "logs/analyse_improvement/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/analyse_improvement.py"


rule plot_silent_empathy:
    input:
        participants="results/{cohort}/silent_empathy/participants.csv",
        trait_correlations="results/{cohort}/silent_empathy/trait_correlations.csv",
        trait_levels="results/{cohort}/silent_empathy/trait_levels.csv",
        distributions="results/{cohort}/silent_empathy/rating_distributions.csv",
        high_rating_gap="results/{cohort}/silent_empathy/high_rating_gap.csv",
        code=code("plot_silent_empathy"),
    output:
        traits_png=report(
            "reports/{cohort}/figures/silent_empathy_traits.png",
            caption="../report/silent_empathy_traits.rst",
            category="Secondary analyses",
        ),
        traits_pdf="reports/{cohort}/figures/silent_empathy_traits.pdf",
        self_png=report(
            "reports/{cohort}/figures/silent_empathy_self_vs_judged.png",
            caption="../report/silent_empathy_self_vs_judged.rst",
            category="Secondary analyses",
        ),
        self_pdf="reports/{cohort}/figures/silent_empathy_self_vs_judged.pdf",
    params:
        trait_keywords=lambda wildcards: dict(
            outcome=SECONDARY["silent_empathy"]["outcome"],
            synthetic=is_synthetic(wildcards),
        ),
        self_vs_judged_keywords=lambda wildcards: dict(
            high_levels=SECONDARY["silent_empathy"]["high_levels"],
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/plot_silent_empathy/{cohort}.log",
    benchmark:
        "logs/plot_silent_empathy/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/plot_silent_empathy.py"


rule plot_perception:
    input:
        gap_bins="results/{cohort}/perception/gap_bins.csv",
        curve="results/{cohort}/perception/predicted_curve.csv",
        logit_fit="results/{cohort}/perception/logit_fit.csv",
        logit="results/{cohort}/perception/logit.csv",
        code=code("plot_perception"),
    output:
        png=report(
            "reports/{cohort}/figures/perception_gap_bins.png",
            caption="../report/perception_gap_bins.rst",
            category="Secondary analyses",
        ),
        pdf="reports/{cohort}/figures/perception_gap_bins.pdf",
    params:
        keywords=lambda wildcards: dict(synthetic=is_synthetic(wildcards)),
    log:
        "logs/plot_perception/{cohort}.log",
    benchmark:
        "logs/plot_perception/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/plot_perception.py"


rule plot_improvement:
    input:
        arm_summary="results/{cohort}/improvement/arm_summary.csv",
        coefficients="results/{cohort}/improvement/coefficients.csv",
        code=code("plot_improvement"),
    output:
        png=report(
            "reports/{cohort}/figures/improvement_by_arm.png",
            caption="../report/improvement_by_arm.rst",
            category="Secondary analyses",
        ),
        pdf="reports/{cohort}/figures/improvement_by_arm.pdf",
    params:
        keywords=lambda wildcards: dict(
            arms=DESIGN["arms"],
            reference_arm=DESIGN["reference_arm"],
            standardiser=SECONDARY["improvement"]["standardiser"],
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/plot_improvement/{cohort}.log",
    benchmark:
        "logs/plot_improvement/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/plot_improvement.py"


rule render_silent_empathy_tables:
    input:
        trait_correlations="results/{cohort}/silent_empathy/trait_correlations.csv",
        self_judged="results/{cohort}/silent_empathy/self_judged_correlations.csv",
        high_rating_gap="results/{cohort}/silent_empathy/high_rating_gap.csv",
        code=code("render_silent_empathy_tables"),
    output:
        **{
            f"{name}_{ext}": f"reports/{{cohort}}/tables/{name}.{ext}"
            for name in ("silent_empathy_correlations", "silent_empathy_gap")
            for ext in ("csv", "tex", "md")
        },
    params:
        keywords=lambda wildcards: dict(
            high_levels=SECONDARY["silent_empathy"]["high_levels"],
            paired_test=SECONDARY["silent_empathy"]["paired_test"],
            cohort=wildcards.cohort,
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/render_silent_empathy_tables/{cohort}.log",
    benchmark:
        "logs/render_silent_empathy_tables/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_silent_empathy_tables.py"


rule render_perception_tables:
    input:
        logit="results/{cohort}/perception/logit.csv",
        logit_fit="results/{cohort}/perception/logit_fit.csv",
        rank_correlations="results/{cohort}/perception/rank_correlations.csv",
        code=code("render_perception_tables"),
    output:
        **{f"perception_{ext}": f"reports/{{cohort}}/tables/perception.{ext}" for ext in ("csv", "tex", "md")},
    params:
        keywords=lambda wildcards: dict(
            cohort=wildcards.cohort,
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/render_perception_tables/{cohort}.log",
    benchmark:
        "logs/render_perception_tables/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_perception_tables.py"


rule render_perception_elo_table:
    input:
        logit="results/{cohort}/perception/elo_logit.csv",
        logit_fit="results/{cohort}/perception/elo_logit_fit.csv",
        rank_correlations="results/{cohort}/perception/elo_rank_correlations.csv",
        code=code("render_perception_tables"),
    output:
        **{f"perception_elo_{ext}": f"reports/{{cohort}}/tables/perception_elo.{ext}" for ext in ("csv", "tex", "md")},
    params:
        keywords=lambda wildcards: dict(
            elo_table_keywords(SECONDARY["perception"]["elo"]["agreement_gap"], wildcards.cohort),
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/render_perception_elo_table/{cohort}.log",
    benchmark:
        "logs/render_perception_elo_table/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_perception_tables.py"


rule render_improvement_tables:
    input:
        coefficients="results/{cohort}/improvement/coefficients.csv",
        wald="results/{cohort}/improvement/wald_tests.csv",
        heterogeneity="results/{cohort}/improvement/baseline_heterogeneity.csv",
        standardisers="results/{cohort}/improvement/standardisers.csv",
        code=code("render_improvement_tables"),
    output:
        **{
            f"{name}_{ext}": f"reports/{{cohort}}/tables/{name}.{ext}"
            for name in ("improvement_effects", "baseline_heterogeneity")
            for ext in ("csv", "tex", "md")
        },
    params:
        keywords=lambda wildcards: dict(
            baseline_covariate=SECONDARY["improvement"]["baseline_covariate"],
            age_unit=SECONDARY["improvement"]["age_unit"],
            cohort=wildcards.cohort,
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/render_improvement_tables/{cohort}.log",
    benchmark:
        "logs/render_improvement_tables/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_improvement_tables.py"
