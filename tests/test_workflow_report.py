"""End to end: a cohort in the authors' release format through the whole DAG to its report and audit.

The release is simulated (analysis.simulate_release); the run imports it (format: paper_release), runs
every registered analysis, compares the published numbers with the reproduced ones, audits the run
against the plan and renders the report, which must be self-contained. Then `snakemake --report`, and
a plan amended after locking fails the audit until the amendment is declared.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis.prereg_lock import write_lock
from analysis.simulate_release import simulate_release, write_release
from tests.conftest import REPO
from tests.test_report import assert_self_contained
from tests.test_workflow import snakemake

pytestmark = pytest.mark.e2e

ARM_SIZES = {"control": 12, "video": 12, "coach": 12, "combined": 12}
# Families whose spec records are registered at integration: until then they are (correctly) "not run".
NOT_YET_REGISTERED = '{id: not-yet-registered, kind: analysis_not_run, analysis_id: "*", reason: "spec records registered at integration"}'
AMENDED = '{id: amended-alpha, kind: plan_amended, analysis_id: prereg, reason: "the test plan was amended after locking"}'


def run(workdir: Path, *arguments: str, deviations: tuple[str, ...] = (NOT_YET_REGISTERED,)):
    cohorts = {"rel": {"format": "paper_release", "path": str(workdir / "release")}}
    return snakemake(workdir, cohorts, *arguments, "--config", f"prereg={workdir / 'prereg.yaml'}", f"deviations=[{', '.join(deviations)}]")


@pytest.fixture(scope="module")
def release_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("paper_release")
    release = simulate_release(ARM_SIZES, seed=3, messages_per_conversation=5, n_raters=20, pairs_per_rater=8)
    write_release(release, workdir / "release")
    shutil.copy(REPO / "config" / "prereg.yaml", workdir / "prereg.yaml")
    process = run(workdir, "reports/rel/report.html")
    assert process.returncode == 0, process.stderr[-6000:]
    return workdir, release


def test_release_is_imported_into_the_native_contract(release_run):
    workdir, release = release_run
    imported = workdir / "data/imported/paper_release/rel"
    for name in ("participants", "conversations", "messages", "scores", "perception", "elo", "themes"):
        assert (imported / f"{name}.csv").stat().st_size > 0, name
    record = json.loads((imported / "import_record.json").read_text(encoding="utf-8"))
    assert record["synthetic"] and record["rows"]["conversations"] == 144
    flow = pd.read_csv(workdir / "results/rel/qc/flow.csv", keep_default_na=False)
    analysed = flow.query("arm == 'all' and stage == 'analysed'").iloc[0]
    assert (analysed["n_participants"], analysed["n_conversations"]) == (48, 144)
    assert (workdir / "logs/import_paper_release/rel.log").read_text(encoding="utf-8").count("imported") >= 1


def test_published_versus_reproduced_uses_the_pipeline_results(release_run):
    workdir, _ = release_run
    comparison = pd.read_csv(workdir / "results/rel/release/published_vs_reproduced.csv", dtype={"published": str})
    coefficients = pd.read_csv(workdir / "results/rel/primary/did_coefficients.csv").set_index(["outcome", "term"])
    estimates = comparison[comparison["quantity"] == "DiD estimate"]
    assert len(estimates) == 48  # 6 dimensions x 8 terms
    for row in estimates.itertuples():
        outcome, term = (part.split("=", 1)[1] for part in row.key.split("; "))
        assert row.reproduced == pytest.approx(coefficients.loc[(outcome, term), "estimate"], abs=1e-12)
    n_obs = comparison[comparison["quantity"] == "N (conversations)"]
    assert (n_obs["reproduced"] == 144).all() and not n_obs["agrees"].any()  # the published N is 2,904


def test_audit_passes_with_the_primary_analysis_as_registered(release_run):
    workdir, _ = release_run
    audit = json.loads((workdir / "reports/rel/prereg_audit.json").read_text(encoding="utf-8"))
    assert audit["summary"]["passed"]
    primary = next(a for a in audit["analyses"] if a["analysis_id"] == "primary_did")
    assert primary["status"] == "run" and all(c["matches"] for r in primary["records"] for c in r["checks"])
    assert [h["id"] for h in audit["hypotheses"]] == ["H1", "H2", "H3"]
    assert all(h["status"] == "tested" for h in audit["hypotheses"])
    assert not [d for d in audit["deviations"] if d["kind"] != "analysis_not_run"]


def test_report_is_self_contained_and_shows_every_output(release_run):
    workdir, _ = release_run
    report = workdir / "reports/rel/report.html"
    parsed = assert_self_contained(report)
    html = report.read_text(encoding="utf-8")
    figures = sorted((workdir / "reports/rel/figures").glob("*.png"))
    assert len(parsed.images) == len(figures) >= 2
    for table in (workdir / "reports/rel/tables").glob("*.csv"):
        assert f"tables/{table.name}" in parsed.links, table.name
    assert {"design", "primary", "release", "audit", "provenance"} <= parsed.ids
    assert "SYNTHETIC DATA" in html  # a simulated release says so, although its format is paper_release
    assert "published numbers agree at the published precision" in html
    assert "Registered hypotheses and their tests" in html
    assert "c83641805333" in html  # provenance names the release commit


def test_snakemake_report_is_built(release_run):
    workdir, _ = release_run
    process = run(workdir, "--report", str(workdir / "snakemake_report.zip"))
    assert process.returncode == 0, process.stderr[-4000:]
    assert (workdir / "snakemake_report.zip").stat().st_size > 0


def test_a_plan_amended_after_locking_fails_the_audit_until_declared(release_run, tmp_path):
    workdir, _ = release_run
    earlier = tmp_path / "prereg.yaml"
    earlier.write_text((workdir / "prereg.yaml").read_text(encoding="utf-8").replace("alpha: 0.05", "alpha: 0.01", 1), encoding="utf-8")
    write_lock(earlier, workdir / "prereg.lock")  # the lock of an earlier version of the plan
    try:
        failed = run(workdir, "reports/rel/prereg_audit.md")
        assert failed.returncode != 0
        assert "undeclared deviation(s) from the registered plan" in failed.stderr and "plan_amended in prereg" in failed.stderr
        passed = run(workdir, "reports/rel/prereg_audit.md", deviations=(NOT_YET_REGISTERED, AMENDED))
        assert passed.returncode == 0, passed.stderr[-4000:]
        text = (workdir / "reports/rel/prereg_audit.md").read_text(encoding="utf-8")
        assert "the plan was amended after locking" in text and "yes (amended-alpha)" in text
    finally:
        (workdir / "prereg.lock").unlink()
