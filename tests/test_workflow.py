"""End to end: the Snakemake DAG in a temporary folder, on small simulated and native cohorts.

The foundation's outputs, the per-judge rerun and the simulated format's optional inputs are read from the
suite's shared simulated run (``simulated_run``, tests/workflow_runs.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import yaml

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv, write_native
from analysis.prereg.specs import SCHEMA_PATH
from analysis.secondary.judge_sensitivity import SENSITIVITY_COLUMNS
from analysis.simulate.perception import simulate_perception
from tests.conftest import REPO, make_small_cohort
from tests.workflow_runs import (
    FOUNDATION_TARGETS,
    N_PARTICIPANTS,
    SIMULATED_TARGETS,
    SIMULATION,
    run_on_cohorts,
    run_simulated,
)

pytestmark = pytest.mark.e2e

# What the shared run adds to the folders of the foundation's rerun: the files of the other families.
OTHER_FAMILIES_FILES = {
    *(Path("data/simulated/tiny") / name for name in ("perception.csv", "elo.csv", "themes.csv")),
    *(Path("results/tiny/primary") / name for name in ("judge_sensitivity.csv", "judge_sensitivity.spec.json",
                                                      "judge_sensitivity_exclusions.csv")),
    Path("reports/tiny/tables/judge_sensitivity.csv"),
}


def test_every_output_is_made_and_logged(simulated_run):
    for target in FOUNDATION_TARGETS:
        assert (simulated_run / target).stat().st_size > 0, target
    for rule in ("simulate_cohort", "validate_cohort", "apply_exclusions", "derive_outcomes", "fit_primary_did"):
        assert (simulated_run / "logs" / rule / "tiny.log").is_file(), rule
    flow = pd.read_csv(simulated_run / "results/tiny/qc/flow.csv", keep_default_na=False)
    analysed = flow.query("arm == 'all' and stage == 'analysed'").iloc[0]
    assert (analysed["n_participants"], analysed["n_conversations"]) == (N_PARTICIPANTS, 3 * N_PARTICIPANTS)


def test_pipeline_coefficients_equal_direct_statsmodels_fit(simulated_run):
    outcomes = pd.read_csv(simulated_run / "results/tiny/outcomes/conversation_scores.csv", dtype={"participant_id": str})
    scores = pd.read_csv(simulated_run / "data/simulated/tiny/scores.csv")
    mean_validating = scores[scores["dimension"] == "validating_emotions"].groupby("conversation_id")["score"].mean()
    np.testing.assert_allclose(outcomes.set_index("conversation_id")["validating_emotions"], mean_validating.loc[outcomes["conversation_id"]])
    coefficients = pd.read_csv(simulated_run / "results/tiny/primary/did_coefficients.csv")
    reference = smf.ols("overall_empathy ~ C(arm, Treatment('control')) * post", outcomes).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(outcomes["participant_id"])[0]}
    )
    ours = coefficients[coefficients["outcome"] == "overall_empathy"].set_index("term")
    assert ours.loc["coach:post", "estimate"] == pytest.approx(reference.params["C(arm, Treatment('control'))[T.coach]:post"], abs=1e-8)
    assert ours.loc["coach:post", "std_error"] == pytest.approx(reference.bse["C(arm, Treatment('control'))[T.coach]:post"], abs=1e-8)
    assert ours.loc["intercept", "estimate"] == pytest.approx(reference.params["Intercept"], abs=1e-8)


def test_simulated_outputs_are_labelled_synthetic(simulated_run):
    for extension in ("csv", "tex", "md"):
        text = (simulated_run / f"reports/tiny/tables/primary_did.{extension}").read_text(encoding="utf-8")
        assert "SYNTHETIC DATA" in text, extension


def test_rerun_is_a_no_op(simulated_run):
    """Every target of the shared run, every family's, is up to date."""
    process = run_simulated(simulated_run, "--dry-run", *SIMULATED_TARGETS)
    assert process.returncode == 0
    assert "Nothing to be done" in process.stdout + process.stderr


def test_same_inputs_give_byte_identical_tables(simulated_run, tmp_path):
    process = run_on_cohorts(tmp_path, {"tiny": {"format": "simulated", "simulation": SIMULATION}}, *FOUNDATION_TARGETS)
    assert process.returncode == 0, process.stderr[-4000:]
    patterns = ("data/simulated/tiny/*.csv", "results/tiny/**/*.csv", "results/tiny/**/*.json", "reports/tiny/**/*.csv")
    second = sorted(p.relative_to(tmp_path) for pattern in patterns for p in tmp_path.glob(pattern))
    assert len(second) >= 4 + 5 + 3 + 1 + 5 + 2
    # In the folders the rerun wrote, the shared run has only the files of the other families it builds.
    folders = {relative.parent for relative in second}
    first = {p.relative_to(simulated_run) for pattern in patterns for p in simulated_run.glob(pattern)}
    first = {relative for relative in first if relative.parent in folders}
    assert set(second) <= first, sorted(set(second) - first)
    assert first - set(second) == OTHER_FAMILIES_FILES, sorted(first.symmetric_difference(set(second) | OTHER_FAMILIES_FILES))
    for relative in second:
        assert (tmp_path / relative).read_bytes() == (simulated_run / relative).read_bytes(), relative


def test_the_simulated_format_makes_its_perception_task_and_themes(simulated_run, plan, tmp_path):
    """The simulated cohort's optional inputs (their analyses run on the release run): made, logged, validated,
    and equal byte for byte to the same simulation run in this process."""
    perception = pd.read_csv(simulated_run / "data/simulated/tiny/perception.csv")
    assert len(perception) == 1500 and set(perception["choice"]) == {"left", "right"}
    themes = pd.read_csv(simulated_run / "data/simulated/tiny/themes.csv")
    assert list(themes.columns) == ["conversation_id", "turn", "theme", "category"] and len(themes) > 100
    validated = pd.read_csv(simulated_run / "results/tiny/taxonomy/themes_validated.csv")
    assert len(validated) == len(themes)
    for rule in ("simulate_perception", "simulate_themes", "validate_themes"):
        assert (simulated_run / "logs" / rule / "tiny.log").is_file(), rule
    again, elo, _ = simulate_perception(
        read_validated(simulated_run / "data/simulated/tiny/conversations.csv", "conversations"),
        read_validated(simulated_run / "data/simulated/tiny/scores.csv", "scores"),
        plan["outcomes"]["composite"], plan["judge_aggregation"], SIMULATION["seed"],
    )
    for name, frame in {"perception": again, "elo": elo}.items():
        write_csv(frame, tmp_path / f"{name}.csv")
        assert (tmp_path / f"{name}.csv").read_bytes() == (simulated_run / f"data/simulated/tiny/{name}.csv").read_bytes(), name


def test_native_cohort_runs_and_is_not_labelled_synthetic(simulated_run):
    """The shared run's native cohort `mine` (tests/conftest.py: one judge set left incomplete)."""
    text = (simulated_run / "reports/mine/tables/primary_did.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" not in text
    assert "N = 96 conversations" in text
    assert not (simulated_run / "data/simulated/mine").exists()
    exclusions = pd.read_csv(simulated_run / "results/mine/qc/exclusions.csv", keep_default_na=False)
    assert exclusions[["level", "record_id", "rule"]].values.tolist() == [["judge_scores", "p003-2/judge_b", "incomplete_judge_scores"]]
    flow = pd.read_csv(simulated_run / "results/mine/qc/flow.csv", keep_default_na=False).set_index(["arm", "stage", "rule"])
    assert flow.loc[("all", "excluded", "incomplete_judge_scores"), "n_judge_sets"] == 1
    assert flow.loc[("all", "analysed", ""), "n_judge_sets"] == 2 * 96 - 1
    outcomes = pd.read_csv(simulated_run / "results/mine/outcomes/conversation_scores.csv", keep_default_na=False)
    outcomes = outcomes.set_index("conversation_id")
    assert outcomes.loc["p003-2", "judges"] == "judge_a" and outcomes.loc["p003-1", "judges"] == "judge_a;judge_b"
    decisions = pd.read_csv(simulated_run / "results/mine/primary/hypothesis_tests.csv", keep_default_na=False)
    assert decisions.loc[decisions["row"] == "verdict", "hypothesis"].tolist() == ["H1", "H2", "H3", "H4"]


def test_two_judges_get_the_per_judge_rerun(simulated_run):
    effects = pd.read_csv(simulated_run / "results/tiny/primary/judge_sensitivity.csv")
    assert list(effects.columns) == SENSITIVITY_COLUMNS
    assert sorted(effects["judge"].unique()) == ["claude", "gpt-4o"]
    primary = pd.read_csv(simulated_run / "results/tiny/primary/did_coefficients.csv").set_index(["outcome", "term"])["estimate"]
    averaged = effects.groupby(["outcome", "term"])["estimate"].mean()
    assert (averaged - primary.loc[averaged.index]).abs().max() < 1e-9
    record = json.loads((simulated_run / "results/tiny/primary/judge_sensitivity.spec.json").read_text(encoding="utf-8"))
    jsonschema.validate(record, yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8")))
    assert record["analysis_id"] == "judge_sensitivity"
    assert "SYNTHETIC DATA" in (simulated_run / "reports/tiny/tables/judge_sensitivity.md").read_text(encoding="utf-8")


def test_bad_input_stops_the_run_with_a_clear_message_and_no_outputs(tmp_path):
    cohort = make_small_cohort(n_per_arm=4)
    cohort.scores.loc[5, "score"] = 7.0
    write_native(cohort, tmp_path / "input")
    process = run_on_cohorts(tmp_path, {"bad": {"format": "native", "path": str(tmp_path / "input")}})
    assert process.returncode == 1
    problem = "scores.csv, row 6, column 'score': value 7.0; expected a number in [1, 5]"
    output = process.stdout + process.stderr
    # the job's message alone, once (Snakemake's own "Error in rule" block follows it); no traceback
    assert problem in process.stderr and output.count(problem) == 1 and "Traceback" not in output
    assert not (tmp_path / "results/bad").exists() or not any((tmp_path / "results/bad").rglob("*.csv"))
    assert not (tmp_path / "reports/bad").exists()
    log = (tmp_path / "logs/validate_cohort/bad.log").read_text(encoding="utf-8")
    assert problem in log and "Traceback" not in log


def test_missing_input_file_is_named(tmp_path):
    write_native(make_small_cohort(n_per_arm=4), tmp_path / "input")
    (tmp_path / "input" / "messages.csv").unlink()
    process = run_on_cohorts(tmp_path, {"gap": {"format": "native", "path": str(tmp_path / "input")}}, "results/gap/qc/flow.csv")
    assert process.returncode == 1
    assert "messages.csv" in process.stderr and "Missing input files" in process.stderr
    output = process.stdout + process.stderr
    assert output.count("Missing input files") == 1 and "Traceback" not in output


def test_invalid_config_is_rejected(tmp_path):
    process = run_on_cohorts(tmp_path, {"oops": {"format": "native"}}, "--dry-run")
    assert process.returncode == 1
    output = process.stdout + process.stderr
    assert "'path' is a required property" in output and "cohorts" in output
    # the message alone: no traceback, no Snakefile location, no dump of the schema
    assert output.count("$.cohorts.oops: 'path' is a required property") == 1
    assert "Traceback" not in output and "common.smk" not in output
    assert "Failed validating" not in output


def test_lint_is_clean():
    process = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--snakefile", str(REPO / "Snakefile"), "--directory", str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert process.returncode == 0
    assert "Congratulations, your workflow is in a good condition!" in process.stdout + process.stderr
