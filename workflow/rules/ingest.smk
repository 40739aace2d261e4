# Ingest: simulate a synthetic cohort where asked, then validate every cohort against the contract.


rule simulate_cohort:
    output:
        **{name: f"data/simulated/{{cohort}}/{filename}" for name, filename in NATIVE_FILES.items()},
    input:
        code=code("simulate_cohort"),
    params:
        simulation=simulation_params,
        arms=DESIGN["arms"],
        reference_arm=DESIGN["reference_arm"],
    log:
        "logs/simulate_cohort/{cohort}.log",
    benchmark:
        "logs/simulate_cohort/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/simulate_cohort.py"


rule validate_cohort:
    input:
        unpack(raw_cohort_files),
        code=code("validate_cohort"),
    output:
        **{name: validated(name) for name in NATIVE_FILES},
        summary="results/{cohort}/validated/validation.json",
    params:
        arms=DESIGN["arms"],
        dimensions=DIMENSIONS,
        conversations_per_participant=DESIGN["conversations_per_participant"],
    log:
        "logs/validate_cohort/{cohort}.log",
    benchmark:
        "logs/validate_cohort/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/validate_cohort.py"
