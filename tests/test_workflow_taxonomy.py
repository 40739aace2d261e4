"""End to end: the taxonomy rules in a temporary folder, on small simulated and native cohorts."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from analysis.cohort import write_csv, write_native
from analysis.specs import read_spec_record
from tests.conftest import make_small_cohort
from tests.test_workflow import snakemake

pytestmark = pytest.mark.e2e

SIMULATION = {
    "seed": 8,
    "arm_sizes": {"control": 40, "video": 40, "coach": 40, "combined": 40},
    "judges": ["gpt-4o"],
    "messages_per_conversation": 8.0,
}
TARGETS = [
    "reports/tiny/tables/taxonomy_phrases.md",
    "reports/tiny/tables/phrase_change.md",
    "reports/tiny/tables/theme_change.md",
    "reports/tiny/figures/phrase_change.png",
    "reports/tiny/figures/theme_change.png",
    "results/tiny/taxonomy/phrase_scores.csv",
]


@pytest.fixture(scope="module")
def taxonomy_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("taxonomy")
    process = snakemake(workdir, {"tiny": {"format": "simulated", "simulation": SIMULATION}}, *TARGETS)
    assert process.returncode == 0, process.stderr[-4000:]
    return workdir


def test_simulated_cohort_gets_themes_and_every_taxonomy_output(taxonomy_run):
    themes = pd.read_csv(taxonomy_run / "data/simulated/tiny/themes.csv")
    assert list(themes.columns) == ["conversation_id", "turn", "theme", "category"] and len(themes) > 100
    for prefix in ("phrase", "theme"):
        for name in ("shares.csv", "change.csv", "change_top.csv", "change_left_out.csv", "change.spec.json"):
            assert (taxonomy_run / f"results/tiny/taxonomy/{prefix}_{name}").stat().st_size > 0
    for rule in ("simulate_themes", "validate_themes", "mine_phrases", "estimate_phrase_change",
                 "estimate_theme_change", "plot_phrase_change", "plot_theme_change", "render_taxonomy_tables",
                 "render_theme_tables"):
        assert (taxonomy_run / "logs" / rule / "tiny.log").is_file(), rule
    for name in ("taxonomy_phrases", "phrase_change", "theme_change"):
        text = (taxonomy_run / f"reports/tiny/tables/{name}.md").read_text(encoding="utf-8")
        assert text.startswith("SYNTHETIC DATA"), name


def test_spec_records_carry_the_registered_ids(taxonomy_run, plan):
    expected = {
        "mining.spec.json": plan["taxonomy"]["mining"]["id"],
        "phrase_change.spec.json": plan["taxonomy"]["change"]["phrases"]["id"],
        "theme_change.spec.json": plan["taxonomy"]["change"]["themes"]["id"],
    }
    for name, analysis_id in expected.items():
        record = read_spec_record(taxonomy_run / "results/tiny/taxonomy" / name)
        assert record["analysis_id"] == analysis_id and record["confirmatory"] is False
        assert record["sample"]["n_participants"] == 160
    change = read_spec_record(taxonomy_run / "results/tiny/taxonomy/theme_change.spec.json")
    assert change["terms"] == ["intercept", "treated", "post", "treated:post"]
    assert change["covariance"]["cluster_by"] == "participant_id"
    assert change["multiplicity"]["method"] == plan["taxonomy"]["change"]["fdr_method"]


def test_outputs_show_only_phrases_of_at_least_k_participants(taxonomy_run, plan):
    k = plan["taxonomy"]["min_participants"]
    taxonomy = pd.read_csv(taxonomy_run / "results/tiny/taxonomy/taxonomy.csv", keep_default_na=False)
    assert (taxonomy["support_participants"] >= k).all()
    shown = set(taxonomy["phrase"])
    for name in ("phrase_scores.csv", "phrase_change.csv", "phrase_shares.csv", "phrase_change_top.csv"):
        table = pd.read_csv(taxonomy_run / "results/tiny/taxonomy" / name, keep_default_na=False)
        column = "phrase" if "phrase" in table.columns else "expression"
        assert set(table[column]) <= shown, name
    messages = pd.read_csv(taxonomy_run / "data/simulated/tiny/messages.csv", keep_default_na=False)
    assert not set(messages["text"].str.lower()) & shown


def test_rerun_is_a_no_op(taxonomy_run):
    process = snakemake(taxonomy_run, {"tiny": {"format": "simulated", "simulation": SIMULATION}}, *TARGETS, "--dry-run")
    assert process.returncode == 0
    assert "Nothing to be done" in process.stdout + process.stderr


def _jobs(output: str, rule: str) -> set[str]:
    """Cohorts for which a dry run schedules ``rule``."""
    blocks = re.findall(rf"rule {rule}:\n(.*?)(?=\n\[|\n\n|\Z)", output, flags=re.S)
    return {match for block in blocks for match in re.findall(r"wildcards: cohort=(\S+)", block)}


def test_theme_analyses_run_only_for_cohorts_with_themes(tmp_path):
    cohort = make_small_cohort(n_per_arm=8)
    for name in ("plain", "coded"):
        write_native(cohort, tmp_path / name)
    supporter = cohort.messages[cohort.messages["role"] == "supporter"]
    write_csv(supporter[["conversation_id", "turn"]].assign(theme="offering_availability", category="affective"),
              tmp_path / "coded" / "themes.csv")
    cohorts = {name: {"format": "native", "path": str(tmp_path / name)} for name in ("plain", "coded")}
    process = snakemake(tmp_path, cohorts, "--dry-run")
    assert process.returncode == 0, process.stderr[-4000:]
    output = process.stdout + process.stderr
    assert _jobs(output, "mine_phrases") == {"plain", "coded"}
    assert _jobs(output, "estimate_theme_change") == {"coded"}
    assert _jobs(output, "simulate_themes") == set()


def test_bad_themes_file_stops_with_a_clear_message(tmp_path):
    cohort = make_small_cohort(n_per_arm=4)
    write_native(cohort, tmp_path / "input")
    themes = pd.DataFrame(
        {"conversation_id": ["p000-1", "p000-1"], "turn": [2, 9], "theme": ["availability", "inviting"],
         "category": ["affective", "curious"]}
    )
    write_csv(themes, tmp_path / "input" / "themes.csv")
    process = snakemake(tmp_path, {"bad": {"format": "native", "path": str(tmp_path / "input")}},
                        "results/bad/taxonomy/themes_validated.csv")
    assert process.returncode != 0
    assert "themes.csv, row 2, column 'category': value 'curious'" in process.stderr
    assert "row 2, column 'message': value 'p000-1 turn 9'; expected an ID that exists in messages.csv" in process.stderr
    assert not (tmp_path / "results/bad/taxonomy/themes_validated.csv").exists()
