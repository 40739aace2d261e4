# Planning the next cohort (docs/power.md): simulation-based power of every registered hypothesis, sample
# size per arm and minimal detectable effects, from each trial cohort's own fitted model. Registered in
# config/prereg.yaml under `power_analysis:` (exploratory); a planner's what-if settings come from the
# run config's `power_overrides:` (`make power COHORT=... POWER_CONFIG=...`).
from analysis.prereg.keywords import power_keywords

POWER = PREREG["power_analysis"]
POWER_OVERRIDES = dict(config.get("power_overrides") or {})
POWER_SETTINGS = power_settings(POWER, POWER_OVERRIDES)

register_spec_records(["results/{cohort}/design/spec.json"], analysis_ids=[POWER["id"]])
register_targets(
    [
        "results/{cohort}/design/power.csv",
        "results/{cohort}/design/sample_size.csv",
        "results/{cohort}/design/mde.csv",
        "results/{cohort}/design/spec.json",
    ]
    + expand("reports/{{cohort}}/figures/power_curves.{ext}", ext=["png", "pdf"]),
    kinds=("trial",),
)


rule simulate_power:
    input:
        outcomes="results/{cohort}/outcomes/conversation_scores.csv",
        lmm="results/{cohort}/mixed/lmm_coefficients.csv",
        code=code("simulate_power"),
    output:
        power="results/{cohort}/design/power.csv",
        sample_size="results/{cohort}/design/sample_size.csv",
        mde="results/{cohort}/design/mde.csv",
        spec="results/{cohort}/design/spec.json",
    params:
        analysis_id=POWER["id"],
        confirmatory=POWER.get("confirmatory", False),
        exclusions=[rule["id"] for rule in PREREG["exclusions"]],
        judge_aggregation=PREREG["judge_aggregation"],
        overrides=POWER_OVERRIDES,
        keywords=dict(
            power_keywords(POWER_SETTINGS),
            dimensions=DIMENSIONS,
            composite=PREREG["outcomes"]["composite"],
            arms=DESIGN["arms"],
            reference_arm=DESIGN["reference_arm"],
            plan_hypotheses=PREREG.get("hypotheses", []),
            alpha=PREREG["primary_analysis"]["alpha"],
            contrast_method=PREREG["primary_analysis"]["contrasts"]["method"],
        ),
    log:
        "logs/simulate_power/{cohort}.log",
    benchmark:
        "logs/simulate_power/{cohort}.benchmark.tsv"
    # one process per registered hypothesis for the minimal detectable effects, the longest part at scale
    # (the power curve's sizes share them); the results are the same for any number of threads
    threads: max(1, len(PREREG.get("hypotheses", [])))
    conda:
        "../../environment.yml"
    script:
        "../scripts/simulate_power.py"


rule plot_power_curves:
    input:
        power="results/{cohort}/design/power.csv",
        code=code("plot_power_curves"),
    output:
        png=report(
            "reports/{cohort}/figures/power_curves.png",
            caption="../report/power_curves.rst",
            category="Planning",
        ),
        pdf="reports/{cohort}/figures/power_curves.pdf",
    params:
        keywords=lambda wildcards: dict(
            target_power=min(POWER_SETTINGS["target_power"]),
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/plot_power_curves/{cohort}.log",
    benchmark:
        "logs/plot_power_curves/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/plot_power_curves.py"
