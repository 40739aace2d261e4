"""Rule render_report: the cohort's self-contained HTML report."""

from analysis.report import ReportInputs, build_report
from analysis.runtime.atomic import write_text
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "render_report") as log:
    given = snakemake.input
    inputs = ReportInputs(
        cohort=snakemake.wildcards.cohort,
        files=[*given.targets, *given.get("extras", [])],
        audit=given.audit,
        prereg=given.prereg,
        template=given.template,
        requirements=given.requirements,
        captions=list(given.captions),
        lock=given.lock[0] if given.get("lock") else None,
        flow=given.get("flow"),
        validation=given.get("validation"),
        import_record=given.get("import_record"),
        comparison=given.get("comparison"),
    )
    html = build_report(inputs, **snakemake.params.keywords)
    write_text(snakemake.output.html, html)
    log.info("wrote %s (%.0f kB, %s registered outputs)", snakemake.output.html, len(html) / 1024, len(inputs.files))
