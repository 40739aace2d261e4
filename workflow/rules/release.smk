# The authors' public release of the trial (format: paper_release): download it (pinned commit,
# checksums), map it onto the native contract and the optional cohort files, and set the published
# numbers beside the reproduced ones.


rule download_paper_release:
    output:
        **{role: f"{PAPER_RELEASE_DOWNLOADS}/{path}" for role, path in PAPER_RELEASE_FILES.items()},
        record=f"{PAPER_RELEASE_DOWNLOADS}/download.json",
    input:
        manifest=PAPER_RELEASE_MANIFEST,
        # the download is pinned by commit and verified by checksum: editing the adapter must not re-download
        code=ancient(code("download_paper_release")),
    log:
        f"logs/download_paper_release/{PAPER_RELEASE_COMMIT}.log",
    benchmark:
        f"logs/download_paper_release/{PAPER_RELEASE_COMMIT}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/download_paper_release.py"


# A checkpoint: which optional files could be mapped is known only once the release is read, and the
# families that need an unavailable one are then left out of the cohort's targets (common.smk,
# has_optional_file) instead of failing the cohort.
checkpoint import_paper_release:
    input:
        unpack(paper_release_files),
        manifest=PAPER_RELEASE_MANIFEST,
        pseudonym_key=pseudonym_key_file("import_paper_release"),
        code=code("import_paper_release"),
    output:
        **{name: f"{FORMATS['paper_release'].directory}/{filename}" for name, filename in NATIVE_FILES.items()},
        **{name: f"{FORMATS['paper_release'].directory}/{filename}" for name, filename in OPTIONAL_FILES.items()},
        record=FORMATS["paper_release"].import_record,
        issues=FORMATS["paper_release"].import_issues,
    params:
        arms=DESIGN["arms"],
        conversations_per_participant=DESIGN["conversations_per_participant"],
        theme_categories=config.get("paper_release", {}).get("theme_categories", {}),
        junk_levels=config.get("paper_release", {}).get("junk_levels", []),
        verify_checksums=lambda wildcards: cohort_spec(wildcards).get("verify_checksums", True),
        expected_paths=paper_release_paths,
        pseudonymise=pseudonymise_option("import_paper_release"),
    log:
        "logs/import_paper_release/{cohort}.log",
    benchmark:
        "logs/import_paper_release/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/import_paper_release.py"


rule compare_published_numbers:
    input:
        unpack(published_comparison_inputs),
        code=code("compare_published_numbers"),
    output:
        comparison=report(
            "results/{cohort}/release/published_vs_reproduced.csv",
            caption="../report/published_vs_reproduced.rst",
            category="Published versus reproduced",
        ),
    params:
        unavailable=unavailable_results,
    log:
        "logs/compare_published_numbers/{cohort}.log",
    benchmark:
        "logs/compare_published_numbers/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/compare_published_numbers.py"
