# Simulated cohorts (format: simulated; SYNTHETIC): the four native files, then the optional files every
# simulated cohort has (perception.csv and elo.csv, themes.csv), all written to the format's directory
# (analysis/cohorts/formats.py). From there they are validated and analysed like any other cohort.

SIMULATED = FORMATS["simulated"].directory


rule simulate_cohort:
    output:
        **{name: f"{SIMULATED}/{filename}" for name, filename in NATIVE_FILES.items()},
    input:
        code=code("simulate_cohort"),
    params:
        simulation=simulation_params,
        reference_arm=DESIGN["reference_arm"],
    log:
        "logs/simulate_cohort/{cohort}.log",
    benchmark:
        "logs/simulate_cohort/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/simulate_cohort.py"


rule simulate_perception:
    input:
        conversations=f"{SIMULATED}/{NATIVE_FILES['conversations']}",
        scores=f"{SIMULATED}/{NATIVE_FILES['scores']}",
        code=code("simulate_perception"),
    output:
        perception=f"{SIMULATED}/{OPTIONAL_FILES['perception']}",
        elo=f"{SIMULATED}/{OPTIONAL_FILES['elo']}",
    params:
        simulation=simulation_params,
        composite=PREREG["outcomes"]["composite"],
        aggregation=PREREG["judge_aggregation"],
    log:
        "logs/simulate_perception/{cohort}.log",
    benchmark:
        "logs/simulate_perception/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/simulate_perception.py"


rule simulate_themes:
    input:
        messages=f"{SIMULATED}/{NATIVE_FILES['messages']}",
        code=code("simulate_themes"),
    output:
        themes=f"{SIMULATED}/{OPTIONAL_FILES['themes']}",
    log:
        "logs/simulate_themes/{cohort}.log",
    benchmark:
        "logs/simulate_themes/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/simulate_themes.py"
