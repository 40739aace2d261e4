# The pre-registration audit: every spec record of the cohort against the registered plan and its lock.
register_targets(["reports/{cohort}/prereg_audit.md", "reports/{cohort}/prereg_audit.json"], kinds=("trial", "ratings"))


rule audit_prereg:
    input:
        unpack(audit_inputs),
        code=code("audit_prereg"),
    output:
        md=report(
            "reports/{cohort}/prereg_audit.md",
            caption="../report/prereg_audit.rst",
            category="Pre-registration audit",
        ),
        json="reports/{cohort}/prereg_audit.json",
    params:
        deviations=config.get("deviations", []),
        not_applicable=audit_not_applicable,
        input_unavailable=audit_input_unavailable,
    log:
        "logs/audit_prereg/{cohort}.log",
    benchmark:
        "logs/audit_prereg/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/audit_prereg.py"
