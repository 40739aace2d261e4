# The registered primary analysis: OLS difference-in-differences, cluster-robust by participant.
register_spec_records(["results/{cohort}/primary/spec.json"], analysis_ids=[PREREG["primary_analysis"]["id"]])


rule fit_primary_did:
    input:
        outcomes="results/{cohort}/outcomes/conversation_scores.csv",
        code=code("fit_primary_did"),
    output:
        coefficients="results/{cohort}/primary/did_coefficients.csv",
        fit="results/{cohort}/primary/model_fit.csv",
        contrasts="results/{cohort}/primary/arm_contrasts.csv",
        effects_sd="results/{cohort}/primary/effects_sd.csv",
        hypotheses="results/{cohort}/primary/hypothesis_tests.csv",
        spec="results/{cohort}/primary/spec.json",
    params:
        analysis_id=PREREG["primary_analysis"]["id"],
        confirmatory=PREREG["primary_analysis"].get("confirmatory", True),
        exclusions=[rule["id"] for rule in PREREG["exclusions"]],
        judge_aggregation=PREREG["judge_aggregation"],
        keywords=dict(
            outcomes=PREREG["primary_analysis"]["outcomes"],
            arms=DESIGN["arms"],
            reference_arm=DESIGN["reference_arm"],
            alpha=PREREG["primary_analysis"]["alpha"],
            contrast_method=PREREG["primary_analysis"]["contrasts"]["method"],
            hypotheses=PREREG.get("hypotheses", []),
            composite=PREREG["outcomes"]["composite"]["name"],
        ),
    log:
        "logs/fit_primary_did/{cohort}.log",
    benchmark:
        "logs/fit_primary_did/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/fit_primary_did.py"
