"""End to end: a stand-in for the authors' release, in their real layout, through the DAG to its report.

The release is simulated (analysis.simulate_release writes the layout the authors' notebook shows: one
row per supporter message, the real themes, Elo and perception files and coverage). One shared
Snakemake run, under a copy of the plan with few Bayesian draws and a small power grid, imports it (format: paper_release), runs every registered analysis, compares the
published numbers with the reproduced ones, audits the run and renders the report, which must be
self-contained. The same run imports three more copies, each with one optional file broken, and
fits their primary analysis; a dry run then shows that only the families of the broken file are
skipped. Then `snakemake --report`, and a plan amended after locking fails the audit until declared.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.audit import run_audit
from analysis.prereg import load_prereg
from analysis.prereg_lock import lock_status, write_lock
from analysis.report import ReportInputs, build_report
from analysis.simulate_release import simulate_release, write_release
from analysis.specs import read_spec_record
from tests.conftest import REPO
from tests.test_report import assert_self_contained
from tests.test_workflow_bayes import quick_plan

pytestmark = pytest.mark.e2e

# The smallest cohort every family runs on (at 8 per arm the moderation tests of the improvement
# analysis have too few participants per level).
ARM_SIZES = {"control": 12, "video": 12, "coach": 12, "combined": 12}
RELEASE_CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))["paper_release"]
# Families whose spec records are registered at integration: until then they are (correctly) "not run".
NOT_YET_REGISTERED = '{id: not-yet-registered, kind: analysis_not_run, analysis_id: "*", reason: "spec records registered at integration"}'
AMENDED = '{id: amended-alpha, kind: plan_amended, analysis_id: prereg, reason: "the test plan was amended after locking"}'
# One copy per optional file, that file broken: its families must be skipped, nothing else.
BROKEN = {
    "no_themes": ("all_themes", lambda frame: frame.drop(columns=["Level 1"])),
    "no_perception": ("experiment_2", lambda frame: frame.assign(participant_choice="maybe")),
    "no_elo": ("elo_rankings", None),  # the file is missing from the copy
}
SKIPPED_RULES = {
    "no_themes": {"validate_themes", "estimate_theme_change", "estimate_theme_level2_change", "plot_theme_change", "render_theme_tables"},
    "no_perception": {"analyse_perception", "analyse_perception_elo", "plot_perception", "render_perception_tables",
                      "render_perception_elo_table"},
    "no_elo": {"analyse_perception_elo", "render_perception_elo_table"},
}


def snakemake(workdir: Path, *arguments: str, deviations: tuple[str, ...] = (NOT_YET_REGISTERED,)) -> subprocess.CompletedProcess:
    """Run the workflow in ``workdir`` on the stand-in release and the three broken copies (targets and
    flags first: --configfile takes every word after it)."""
    cohorts = {"rel": {"format": "paper_release", "path": str(workdir / "release"), "verify_checksums": False}}
    cohorts |= {name: {"format": "paper_release", "path": str(workdir / name), "verify_checksums": False} for name in BROKEN}
    overlay = workdir / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"prereg": str(workdir / "prereg.yaml"), "cohorts": cohorts, "paper_release": RELEASE_CONFIG}))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--cores", "2", *arguments, "--config", f"deviations=[{', '.join(deviations)}]", "--configfile", str(overlay)]
    return subprocess.run(command, capture_output=True, text=True, timeout=1800)


def dry_run_jobs(output: str) -> dict[str, set[str]]:
    """Rules a dry run would run, per cohort (from its job listing)."""
    jobs: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) )", output):
        rule = re.match(r"(?:local)?(?:rule|checkpoint) (\w+):", block)
        cohort = re.search(r"wildcards: cohort=([\w-]+)", block)
        if rule and cohort:
            jobs.setdefault(cohort.group(1), set()).add(rule.group(1))
    return jobs


@pytest.fixture(scope="module")
def release_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("paper_release")
    release = simulate_release(ARM_SIZES, seed=3, messages_per_conversation=5, n_raters=20, pairs_per_rater=8, pool_per_scenario=8)
    write_release(release, workdir / "release")
    for name, (role, change) in BROKEN.items():
        files = write_release(release, workdir / name)
        if change is None:
            files[role].unlink()
        else:
            frame = pd.read_csv(files[role], dtype=str, keep_default_na=False)
            change(frame).to_csv(files[role], index=False)
    quick_plan(workdir, name="prereg.yaml")
    targets = ["reports/rel/report.html", *(f"results/{name}/primary/did_coefficients.csv" for name in BROKEN)]
    process = snakemake(workdir, *targets)
    assert process.returncode == 0, process.stderr[-6000:]
    dry = snakemake(workdir, "--dry-run")
    assert dry.returncode == 0, dry.stderr[-6000:]
    return workdir, release, dry_run_jobs(dry.stdout + dry.stderr)


def test_release_is_imported_into_the_native_contract(release_run):
    workdir, release, _ = release_run
    imported = workdir / "data/imported/paper_release/rel"
    for name in ("participants", "conversations", "messages", "scores", "perception", "elo", "themes"):
        assert len(pd.read_csv(imported / f"{name}.csv")) > 0, name
    record = json.loads((imported / "import_record.json").read_text(encoding="utf-8"))
    assert record["synthetic"] and record["rows"]["conversations"] == 144
    assert record["rows"]["experiment_1"] == len(release.files["experiment_1"]) > 144  # one row per supporter message
    assert all(entry["available"] for entry in record["optional"].values())
    assert record["verification"]["unverified_files"] == ["all_themes.csv", "elo_rankings.csv", "experiment_1.csv", "experiment_2.csv"]
    flow = pd.read_csv(workdir / "results/rel/qc/flow.csv", keep_default_na=False)
    analysed = flow.query("arm == 'all' and stage == 'analysed'").iloc[0]
    assert (analysed["n_participants"], analysed["n_conversations"]) == (48, 144)


def test_theme_change_runs_at_level_3_and_level_2(release_run):
    workdir, _, _ = release_run
    themes = pd.read_csv(workdir / "data/imported/paper_release/rel/themes.csv")
    level3 = pd.read_csv(workdir / "results/rel/taxonomy/theme_change.csv")
    level2 = pd.read_csv(workdir / "results/rel/taxonomy/theme_level2_change.csv")
    assert set(level3["expression"]) <= set(themes["theme"]) and set(level2["expression"]) <= set(themes["theme_level2"])
    assert 0 < level2["expression"].nunique() < level3["expression"].nunique()
    spec = read_spec_record(workdir / "results/rel/taxonomy/theme_level2_change.spec.json")
    assert spec["analysis_id"] == "taxonomy_theme_change"


def test_published_versus_reproduced_uses_the_pipeline_results(release_run):
    workdir, _, _ = release_run
    comparison = pd.read_csv(workdir / "results/rel/release/published_vs_reproduced.csv", dtype={"published": str})
    coefficients = pd.read_csv(workdir / "results/rel/primary/did_coefficients.csv").set_index(["outcome", "term"])
    estimates = comparison[comparison["quantity"] == "DiD estimate"]
    assert len(estimates) == 48  # 6 dimensions x 8 terms
    for row in estimates.itertuples():
        outcome, term = (part.split("=", 1)[1] for part in row.key.split("; "))
        assert row.reproduced == pytest.approx(coefficients.loc[(outcome, term), "estimate"], abs=1e-12)
    n_obs = comparison[comparison["quantity"] == "N (conversations)"]
    assert (n_obs["reproduced"] == 144).all() and not n_obs["agrees"].any()  # the published N is 2,904
    assert comparison["reproduced"].notna().all()  # every input available: every number reproduced


def test_audit_passes_with_the_primary_analysis_as_registered(release_run):
    workdir, _, _ = release_run
    audit = json.loads((workdir / "reports/rel/prereg_audit.json").read_text(encoding="utf-8"))
    assert audit["summary"]["passed"]
    primary = next(a for a in audit["analyses"] if a["analysis_id"] == "primary_did")
    assert primary["status"] == "run" and all(c["matches"] for r in primary["records"] for c in r["checks"])
    assert [h["id"] for h in audit["hypotheses"]] == ["H1", "H2", "H3", "H4"]
    decisions = pd.read_csv(workdir / "results/rel/primary/hypothesis_tests.csv", keep_default_na=False)
    verdicts = decisions[decisions["row"] == "verdict"].set_index("hypothesis")["verdict"].to_dict()
    assert {h["id"]: h["verdict"] for h in audit["hypotheses"]} == verdicts
    assert audit["plan"]["amendments"] and all(len(a["reason"]) > 20 for a in audit["plan"]["amendments"])
    assert "### Registered amendments" in (workdir / "reports/rel/prereg_audit.md").read_text(encoding="utf-8")
    assert not [d for d in audit["deviations"] if d["kind"] != "analysis_not_run"]
    themes = next(a for a in audit["analyses"] if a["analysis_id"] == "taxonomy_theme_change")
    assert themes["status"] == "run" and len(themes["records"]) == 2  # Level 3 and Level 2
    assert audit["data"] == {"verified": False, "unverified_files": ["all_themes.csv", "elo_rankings.csv", "experiment_1.csv",
                                                                     "experiment_2.csv"]}
    assert "**unverified copy**" in (workdir / "reports/rel/prereg_audit.md").read_text(encoding="utf-8")


def test_report_is_self_contained_and_shows_every_output(release_run):
    workdir, _, _ = release_run
    report = workdir / "reports/rel/report.html"
    parsed = assert_self_contained(report)
    html = report.read_text(encoding="utf-8")
    figures = sorted((workdir / "reports/rel/figures").glob("*.png"))
    assert len(parsed.images) == len(figures) >= 2
    for table in (workdir / "reports/rel/tables").glob("*.csv"):
        assert f"tables/{table.name}" in parsed.links, table.name
    assert {"design", "primary", "release", "audit", "provenance"} <= parsed.ids
    assert "SYNTHETIC DATA" in html  # a simulated release says so, although its format is paper_release
    assert "UNVERIFIED COPY" in html and "Unverified copy:" in html
    assert "Skipped for want of input" not in html
    assert "published numbers agree at the published precision" in html
    assert "c83641805333" in html  # provenance names the release commit
    assert "Registered amendments to the plan" in html and "p adjusted" in html  # the plan's amendments; hypotheses as decided


@pytest.mark.parametrize("cohort", sorted(BROKEN))
def test_a_broken_optional_file_skips_only_its_families(release_run, cohort):
    workdir, _, jobs = release_run
    role, _ = BROKEN[cohort]
    issues = pd.read_csv(workdir / f"data/imported/paper_release/{cohort}/import_issues.csv", keep_default_na=False)
    skipped = issues[issues["action"] == "file not imported"]
    assert f"{role}.csv" in set(skipped["file"]) and skipped["reason"].str.contains("skipped for this cohort").all()
    # the primary analysis ran
    coefficients = pd.read_csv(workdir / f"results/{cohort}/primary/did_coefficients.csv")
    assert len(coefficients) > 0 and coefficients["estimate"].notna().all()
    # what `rule all` still has to do for this cohort: everything but the broken file's families
    planned = jobs[cohort]
    assert not planned & SKIPPED_RULES[cohort], planned & SKIPPED_RULES[cohort]
    assert {"audit_prereg", "render_report", "compare_published_numbers", "fit_mixed_models", "mine_phrases"} <= planned


def test_an_unavailable_input_is_not_run_in_the_audit_and_named_in_the_report(release_run, monkeypatch):
    """The audit and report of a cohort whose themes could not be imported, from the shared run's records
    (the workflow passes the same arguments: common.smk unavailable_analyses, the import record)."""
    workdir, _, _ = release_run
    monkeypatch.chdir(workdir)
    records = {str(path): read_spec_record(path) for path in Path("results/rel").rglob("*spec.json") if "theme_" not in path.name}
    plan = load_prereg("prereg.yaml")
    reason = "themes.csv unavailable: all_themes.csv could not be mapped: ..."
    audit = run_audit(plan, records, cohort="rel", lock=lock_status(plan, None),
                      declared=yaml.safe_load(f"[{NOT_YET_REGISTERED}]"),
                      input_unavailable={"taxonomy_theme_change": reason}, unverified_files=["all_themes.csv"])
    themes = next(a for a in audit["analyses"] if a["analysis_id"] == "taxonomy_theme_change")
    assert themes["status"] == "not run: input unavailable" and themes["reason"] == reason
    assert not [d for d in audit["deviations"] if d["analysis_id"] == "taxonomy_theme_change"]
    record = json.loads(Path("data/imported/paper_release/rel/import_record.json").read_text(encoding="utf-8"))
    record["optional"]["themes"].update(available=False, reason="all_themes.csv could not be mapped: no column 'Level 1'")
    changed = workdir / "import_record_without_themes.json"
    changed.write_text(json.dumps(record), encoding="utf-8")
    audit_path = workdir / "audit_without_themes.json"
    audit_path.write_text(json.dumps(audit), encoding="utf-8")
    html = build_report(
        ReportInputs(cohort="rel", files=["results/rel/primary/did_coefficients.csv"], audit=str(audit_path), prereg="prereg.yaml",
                     template=str(REPO / "workflow/report/report.html.j2"), requirements=str(REPO / "requirements.lock"),
                     captions=[], import_record=str(changed), comparison="results/rel/release/published_vs_reproduced.csv"),
        run_config={"cohorts": {"rel": {"format": "paper_release"}}}, synthetic=False, generated_at=dt.datetime(2026, 1, 1),
    )
    assert "Skipped for want of input: the theme change analyses (Level 3 and Level 2) (themes.csv unavailable)" in html
    assert "Optional release files not imported" in html and "no column &#39;Level 1&#39;" in html
    assert "not run: input unavailable" in html


def test_snakemake_report_is_built(release_run):
    workdir, _, _ = release_run
    process = snakemake(workdir, "reports/rel/report.html", "--report", str(workdir / "snakemake_report.zip"))
    assert process.returncode == 0, process.stderr[-4000:]
    assert (workdir / "snakemake_report.zip").stat().st_size > 0


def test_a_plan_amended_after_locking_fails_the_audit_until_declared(release_run, tmp_path):
    workdir, _, _ = release_run
    earlier = tmp_path / "prereg.yaml"
    earlier.write_text((workdir / "prereg.yaml").read_text(encoding="utf-8").replace("alpha: 0.05", "alpha: 0.01", 1), encoding="utf-8")
    write_lock(earlier, workdir / "prereg.lock")  # the lock of an earlier version of the plan
    try:
        failed = snakemake(workdir, "reports/rel/prereg_audit.md")
        assert failed.returncode != 0
        assert "undeclared deviation(s) from the registered plan" in failed.stderr and "plan_amended in prereg" in failed.stderr
        passed = snakemake(workdir, "reports/rel/prereg_audit.md", deviations=(NOT_YET_REGISTERED, AMENDED))
        assert passed.returncode == 0, passed.stderr[-4000:]
        text = (workdir / "reports/rel/prereg_audit.md").read_text(encoding="utf-8")
        assert "the plan was amended after locking" in text and "yes (amended-alpha)" in text
    finally:
        (workdir / "prereg.lock").unlink()
