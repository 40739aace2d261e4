# Ingest: validate every cohort against the contract (simulated cohorts are written by simulate.smk).


rule validate_cohort:
    input:
        unpack(raw_cohort_files),
        pseudonym_key=pseudonym_key_file("validate_cohort"),
        code=code("validate_cohort"),
    output:
        **{name: validated(name) for name in NATIVE_FILES},
        summary="results/{cohort}/validated/validation.json",
    params:
        arms=DESIGN["arms"],
        dimensions=DIMENSIONS,
        conversations_per_participant=DESIGN["conversations_per_participant"],
        pseudonymise=pseudonymise_option("validate_cohort"),
    log:
        "logs/validate_cohort/{cohort}.log",
    benchmark:
        "logs/validate_cohort/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/validate_cohort.py"


# The optional files of a cohort pseudonymised at validation, with the same pseudonyms (common.smk,
# optional_cohort_file): the analyses that read them see only pseudonyms.
rule pseudonymise_cohort_file:
    input:
        file=lambda wildcards: os.path.join(native_directory(wildcards.cohort), OPTIONAL_FILES[wildcards.name]),
        conversations=lambda wildcards: raw_cohort_files(wildcards)["conversations"],
        pseudonym_key=pseudonym_key_file("validate_cohort"),
        code=code("pseudonymise_cohort_file"),
    output:
        file="results/{cohort}/pseudonymised/{name}.csv",
    wildcard_constraints:
        name="|".join(OPTIONAL_FILES),
    params:
        table=lambda wildcards: wildcards.name,
        pseudonymise=pseudonymise_option("validate_cohort"),
    log:
        "logs/pseudonymise_cohort_file/{cohort}.{name}.log",
    benchmark:
        "logs/pseudonymise_cohort_file/{cohort}.{name}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/pseudonymise_cohort_file.py"
