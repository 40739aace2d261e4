# One self-contained HTML report per cohort: every registered output, the audit and provenance.
register_targets(["reports/{cohort}/report.html"], kinds=("trial", "ratings"))


rule render_report:
    input:
        unpack(report_inputs),
        code=code("render_report"),
    output:
        html=report(
            "reports/{cohort}/report.html",
            caption="../report/report_html.rst",
            category="Cohort report",
        ),
    params:
        keywords=lambda wildcards: dict(
            run_config=config,
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/render_report/{cohort}.log",
    benchmark:
        "logs/render_report/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_report.py"
