# The Lend an Ear pilot rating release (format pilot_release): fetch when no local copy exists,
# verify every file's sha256, import into the native contract (docs/measurement_validity.md).


register_targets(["results/{cohort}/import/parse_issues.csv"], kinds=("ratings",))


rule download_pilot_release:
    output:
        **pilot_download_outputs(),
    input:
        manifest=PILOT_MANIFEST,
        # the download is pinned by the manifest's checksums: editing the adapter must not re-download
        code=ancient(code("download_pilot_release")),
    params:
        base_url=pilot_download_url,
    log:
        "logs/download_pilot_release/{cohort}.log",
    benchmark:
        "logs/download_pilot_release/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/download_pilot_release.py"


rule import_pilot_release:
    input:
        unpack(pilot_release_files),
        manifest=PILOT_MANIFEST,
        scenarios=str(PACKAGE / "reference" / "pilot_scenarios.csv"),
        code=code("import_pilot_release"),
    output:
        **{name: f"{FORMATS['pilot_release'].directory}/{filename}" for name, filename in PILOT_OUTPUT_FILES.items()},
        issues="results/{cohort}/import/parse_issues.csv",
        summary="results/{cohort}/import/import.json",
    params:
        dimensions=DIMENSIONS,
    log:
        "logs/import_pilot_release/{cohort}.log",
    benchmark:
        "logs/import_pilot_release/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/import_pilot_release.py"
