"""End to end: a stand-in for the authors' release, in their real layout, through the DAG to its report.

The shared run (tests/workflow_runs.py, the session fixture ``release_run``) imports a simulated release
(format: paper_release), runs every registered analysis, compares the published numbers with the
reproduced ones, audits the run and renders the report, which must be self-contained. It also imports
three copies, each with one optional file broken; its dry run shows that only the families of the broken
file are skipped. Then `snakemake --report`, and a plan amended after locking fails the audit until declared.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.prereg.audit import run_audit
from analysis.prereg.lock import lock_status, write_lock
from analysis.prereg.plan import load_prereg
from analysis.prereg.specs import read_spec_record
from analysis.report import ReportInputs, build_report
from tests.conftest import REPO
from tests.hostile_text import assert_hostile_text_is_inert
from tests.test_report import assert_self_contained
from tests.workflow_runs import AMENDED, BROKEN, FIGURES, NOT_YET_REGISTERED, SKIPPED_RULES, pseudonym_key, snakemake

pytestmark = pytest.mark.e2e


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
    assert len(parsed.images) == len(figures)
    # every family's figures: the plotting rules run here only (tests/workflow_runs.py)
    for name in FIGURES:
        for extension in ("png", "pdf"):
            assert (workdir / f"reports/rel/figures/{name}.{extension}").stat().st_size > 0, (name, extension)
    assert {figure.stem for figure in figures} == set(FIGURES)
    for table in (workdir / "reports/rel/tables").glob("*.csv"):
        assert f"tables/{table.name}" in parsed.links, table.name
    assert {"design", "primary", "release", "audit", "provenance"} <= parsed.ids
    assert "SYNTHETIC DATA" in html  # a simulated release says so, although its format is paper_release
    assert "UNVERIFIED COPY" in html and "Unverified copy:" in html
    assert "Skipped for want of input" not in html
    assert "published numbers agree at the published precision" in html
    assert "c83641805333" in html  # provenance names the release commit
    assert "Registered amendments to the plan" in html and "p adjusted" in html  # the plan's amendments; hypotheses as decided


def test_rerun_of_the_release_is_a_no_op(release_run):
    """After the run, `rule all` has nothing left to do for the release: every family's outputs are up to date."""
    _, _, jobs = release_run
    assert "rel" not in jobs, sorted(jobs.get("rel", ()))
    assert set(jobs) == set(BROKEN)


@pytest.mark.parametrize("cohort", sorted(BROKEN))
def test_a_broken_optional_file_skips_only_its_families(release_run, cohort):
    workdir, _, jobs = release_run
    role, _ = BROKEN[cohort]
    issues = pd.read_csv(workdir / f"data/imported/paper_release/{cohort}/import_issues.csv", keep_default_na=False)
    skipped = issues[issues["action"] == "file not imported"]
    assert f"{role}.csv" in set(skipped["file"]) and skipped["reason"].str.contains("skipped for this cohort").all()
    # what `rule all` still has to do for this cohort: everything but the broken file's families
    planned = jobs[cohort]
    assert not planned & SKIPPED_RULES[cohort], planned & SKIPPED_RULES[cohort]
    assert {"validate_cohort", "fit_primary_did", "audit_prereg", "render_report", "compare_published_numbers", "fit_mixed_models",
            "mine_phrases"} <= planned


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


def raw_id_pattern(release) -> re.Pattern:
    """Every person or conversation ID of the stand-in release, as one byte pattern."""
    files = release.files
    ids = {*files["experiment_1"]["user_id"], *files["experiment_1"]["conversation_id"], *files["experiment_2"]["participant_id"],
           *files["experiment_2"]["conversation_left_id"], *files["experiment_2"]["conversation_right_id"], *files["all_themes"]["user_id"],
           *files["elo_rankings"]["conversation_id"]}
    ids = sorted(str(value) for value in ids if isinstance(value, str) and value)
    return re.compile(b"|".join(re.escape(value.encode("utf-8")) for value in ids))


def test_no_output_of_the_pseudonymised_cohort_holds_a_raw_id(release_run):
    """`rel` registers pseudonymise_ids: every file its run wrote (tables, records, figures, report, logs)
    carries pseudonyms only; the key appears nowhere, its path only in records and logs."""
    workdir, release, _ = release_run
    raw = raw_id_pattern(release)
    key = pseudonym_key(workdir).read_bytes().strip()
    outputs = sorted(
        path for pattern in ("data/imported/paper_release/rel/**/*", "results/rel/**/*", "reports/rel/**/*", "logs/**/rel.*")
        for path in workdir.glob(pattern) if path.is_file()
    )
    assert len(outputs) > 150 and any(path.suffix == ".nc" for path in outputs) and any(path.suffix == ".html" for path in outputs)
    leaks = {str(path.relative_to(workdir)): match.group().decode() for path in outputs if (match := raw.search(path.read_bytes()))}
    assert not leaks
    assert not [path for path in outputs if key in path.read_bytes()]
    # the scan finds raw IDs where they are: the release itself and the imports of the copies without the option
    assert raw.search((workdir / "release/data/experiment_1.csv").read_bytes())
    assert raw.search((workdir / "data/imported/paper_release/no_elo/participants.csv").read_bytes())
    imported = workdir / "data/imported/paper_release/rel"
    participants = pd.read_csv(imported / "participants.csv", keep_default_na=False)
    perception = pd.read_csv(imported / "perception.csv", keep_default_na=False)
    assert participants["participant_id"].str.fullmatch(r"p_[0-9a-f]{16}").all() and len(participants) == 48
    assert perception["rater_id"].str.fullmatch(r"r_[0-9a-f]{16}").all()
    assert perception["conversation_left_id"].isin(pd.read_csv(imported / "conversations.csv")["conversation_id"]).all()
    record = json.loads((imported / "import_record.json").read_text(encoding="utf-8"))
    assert record["pseudonymised"]["key_file"] == str(pseudonym_key(workdir))
    assert "PSEUDONYMISED IDS" in (workdir / "reports/rel/report.html").read_text(encoding="utf-8")


def test_participant_text_is_shown_literally_in_every_output(release_run):
    """The release carries hostile theme labels and messages (tests/hostile_text.py): every rendered table shows
    them escaped for its format, the spreadsheet copies hold no formula, the report no markup from the data."""
    workdir, _, _ = release_run
    assert_hostile_text_is_inert(workdir, cohort="rel")
