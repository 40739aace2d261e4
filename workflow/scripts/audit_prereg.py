"""Rule audit_prereg: compare the cohort's spec records with the registered plan and its lock."""

import json
from pathlib import Path

import pandas as pd

from analysis.prereg.audit import AuditError, failure_message, render_markdown, run_audit
from analysis.prereg.lock import lock_status, read_lock
from analysis.prereg.plan import load_prereg
from analysis.prereg.specs import read_spec_record
from analysis.runtime.atomic import write_json, write_text
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "audit_prereg") as log:
    plan = load_prereg(snakemake.input.prereg)
    lock = read_lock(snakemake.input.lock[0]) if snakemake.input.get("lock") else None
    audit = run_audit(
        plan,
        {path: read_spec_record(path) for path in snakemake.input.specs},
        cohort=snakemake.wildcards.cohort,
        lock=lock_status(plan, lock),
        declared=snakemake.params.deviations,
        flow=pd.read_csv(snakemake.input.flow, keep_default_na=False) if snakemake.input.get("flow") else None,
        hypothesis_tests=pd.read_csv(snakemake.input.hypothesis_tests, keep_default_na=False, na_values=[""])
        if snakemake.input.get("hypothesis_tests") else None,
        not_applicable=dict(snakemake.params.not_applicable),
        input_unavailable=dict(snakemake.params.input_unavailable),
        unverified_files=json.loads(Path(snakemake.input.import_record).read_text(encoding="utf-8"))["verification"]["unverified_files"]
        if snakemake.input.get("import_record") else None,
    )
    markdown = render_markdown(audit)
    write_text(snakemake.output.md, markdown)
    write_json(snakemake.output.json, audit)
    summary = audit["summary"]
    log.info("%s of %s registered analyses run; %s deviation(s), %s undeclared",
             summary["n_run"], summary["n_registered"], summary["n_deviations"], summary["n_undeclared"])
    if not summary["passed"]:
        log.info("audit report:\n%s", markdown)
        raise AuditError(failure_message(audit))
