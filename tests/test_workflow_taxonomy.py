"""End to end: the taxonomy rules, on the suite's shared release run and small native cohorts.

The taxonomy of the stand-in release (cohort ``rel`` of ``release_run``, tests/workflow_runs.py: its
all_themes.csv mapped onto themes); the simulated format's planted themes are made and checked by the
simulated run (tests/test_workflow.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.cohorts.native import write_csv, write_native
from analysis.prereg.specs import read_spec_record
from tests.conftest import make_small_cohort
from tests.workflow_runs import RELEASE_PARTICIPANTS, dry_run_jobs, run_on_cohorts

pytestmark = pytest.mark.e2e


def test_the_release_gets_every_taxonomy_output(release_dir):
    for prefix in ("phrase", "theme", "theme_level2"):
        for name in ("shares.csv", "change.csv", "change_top.csv", "change_left_out.csv", "change.spec.json"):
            assert (release_dir / f"results/rel/taxonomy/{prefix}_{name}").stat().st_size > 0, (prefix, name)
    for rule in ("validate_themes", "mine_phrases", "estimate_phrase_change", "estimate_theme_change",
                 "estimate_theme_level2_change", "render_taxonomy_tables", "render_theme_tables"):
        assert (release_dir / "logs" / rule / "rel.log").is_file(), rule
    for name in ("taxonomy_phrases", "phrase_change", "theme_change"):
        text = (release_dir / f"reports/rel/tables/{name}.md").read_text(encoding="utf-8")
        assert text.startswith("SYNTHETIC DATA"), name


def test_spec_records_carry_the_registered_ids(release_dir, plan):
    expected = {
        "mining.spec.json": plan["taxonomy"]["mining"]["id"],
        "phrase_change.spec.json": plan["taxonomy"]["change"]["phrases"]["id"],
        "theme_change.spec.json": plan["taxonomy"]["change"]["themes"]["id"],
    }
    for name, analysis_id in expected.items():
        record = read_spec_record(release_dir / "results/rel/taxonomy" / name)
        assert record["analysis_id"] == analysis_id and record["confirmatory"] is False
        assert record["sample"]["n_participants"] == RELEASE_PARTICIPANTS
    change = read_spec_record(release_dir / "results/rel/taxonomy/theme_change.spec.json")
    assert change["terms"] == ["intercept", "treated", "post", "treated:post"]
    assert change["covariance"]["cluster_by"] == "participant_id"
    assert change["multiplicity"]["method"] == plan["taxonomy"]["change"]["fdr_method"]


def test_outputs_show_only_phrases_of_at_least_k_participants(release_dir, plan):
    k = plan["taxonomy"]["min_participants"]
    taxonomy = pd.read_csv(release_dir / "results/rel/taxonomy/taxonomy.csv", keep_default_na=False)
    assert len(taxonomy) > 0 and (taxonomy["support_participants"] >= k).all()
    shown = set(taxonomy["phrase"])
    for name in ("phrase_scores.csv", "phrase_change.csv", "phrase_shares.csv", "phrase_change_top.csv"):
        table = pd.read_csv(release_dir / "results/rel/taxonomy" / name, keep_default_na=False)
        column = "phrase" if "phrase" in table.columns else "expression"
        assert set(table[column]) <= shown, name
    messages = pd.read_csv(release_dir / "results/rel/validated/messages.csv", keep_default_na=False)
    assert not set(messages["text"].str.lower()) & shown


def test_theme_analyses_run_only_for_cohorts_with_themes(tmp_path):
    cohort = make_small_cohort(n_per_arm=8)
    for name in ("plain", "coded"):
        write_native(cohort, tmp_path / name)
    supporter = cohort.messages[cohort.messages["role"] == "supporter"]
    write_csv(supporter[["conversation_id", "turn"]].assign(theme="offering_availability", category="affective"),
              tmp_path / "coded" / "themes.csv")
    cohorts = {name: {"format": "native", "path": str(tmp_path / name)} for name in ("plain", "coded")}
    process = run_on_cohorts(tmp_path, cohorts, "--dry-run")
    assert process.returncode == 0, process.stderr[-4000:]
    jobs = dry_run_jobs(process.stdout + process.stderr)
    assert "mine_phrases" in jobs["plain"] and "mine_phrases" in jobs["coded"]
    assert "estimate_theme_change" in jobs["coded"] and "estimate_theme_change" not in jobs["plain"]
    assert not any("simulate_themes" in rules for rules in jobs.values())


def test_bad_themes_file_stops_with_a_clear_message(tmp_path):
    cohort = make_small_cohort(n_per_arm=4)
    write_native(cohort, tmp_path / "input")
    themes = pd.DataFrame(
        {"conversation_id": ["p000-1", "p000-1"], "turn": [2, 9], "theme": ["availability", "inviting"],
         "category": ["affective", "curious"]}
    )
    write_csv(themes, tmp_path / "input" / "themes.csv")
    process = run_on_cohorts(tmp_path, {"bad": {"format": "native", "path": str(tmp_path / "input")}},
                        "results/bad/taxonomy/themes_validated.csv")
    assert process.returncode != 0
    assert "themes.csv, row 2, column 'category': value 'curious'" in process.stderr
    assert "row 2, column 'message': value 'p000-1 turn 9'; expected an ID that exists in messages.csv" in process.stderr
    assert not (tmp_path / "results/bad/taxonomy/themes_validated.csv").exists()
