"""End to end: the Snakemake DAG in a temporary folder, on small simulated and native cohorts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import yaml

from analysis.cohort import write_native
from tests.conftest import REPO, make_small_cohort

pytestmark = pytest.mark.e2e

SMALL_SIMULATION = {
    "seed": 5,
    "arm_sizes": {"control": 30, "video": 30, "coach": 30, "combined": 30},
    "judges": ["gpt-4o", "claude"],
    "messages_per_conversation": 6.0,
}


def snakemake(workdir: Path, cohorts: dict, *arguments: str) -> subprocess.CompletedProcess:
    """Run the repository's workflow in ``workdir`` on exactly ``cohorts`` (a config given on the
    command line replaces the Snakefile's default config, so `rule all` builds only these)."""
    overlay = workdir / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"prereg": str(REPO / "config" / "prereg.yaml"), "cohorts": cohorts}))
    command = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(overlay),
        "--cores", "2",
        *arguments,
    ]
    # a guard against a hung run only: on a shared, loaded machine a whole run may take several minutes
    return subprocess.run(command, capture_output=True, text=True, timeout=1800)


# The foundation's final outputs (issue 2). The other families have end-to-end tests of their own, and
# tests/test_workflow_report.py builds `rule all` for a whole cohort; building only these keeps this file fast.
FOUNDATION_TARGETS = [
    f"reports/tiny/tables/{name}.{extension}" for name in ("primary_did", "arm_contrasts") for extension in ("csv", "tex", "md")
] + [
    f"reports/tiny/figures/{name}.{extension}"
    for name in ("effects_sd", "composite_by_conversation")
    for extension in ("png", "pdf")
] + ["results/tiny/primary/spec.json", "results/tiny/qc/flow.csv"]


# The rerun for byte-identity compares CSV and JSON files only: figures are left out of it.
DATA_TARGETS = [target for target in FOUNDATION_TARGETS if "/figures/" not in target]


@pytest.fixture(scope="module")
def simulated_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sim")
    process = snakemake(workdir, {"tiny": {"format": "simulated", "simulation": SMALL_SIMULATION}}, *FOUNDATION_TARGETS)
    assert process.returncode == 0, process.stderr[-4000:]
    return workdir


def test_every_output_is_made_and_logged(simulated_run):
    for target in FOUNDATION_TARGETS:
        assert (simulated_run / target).stat().st_size > 0, target
    for rule in ("simulate_cohort", "validate_cohort", "apply_exclusions", "derive_outcomes", "fit_primary_did"):
        assert (simulated_run / "logs" / rule / "tiny.log").is_file(), rule
    flow = pd.read_csv(simulated_run / "results/tiny/qc/flow.csv", keep_default_na=False)
    analysed = flow.query("arm == 'all' and stage == 'analysed'").iloc[0]
    assert (analysed["n_participants"], analysed["n_conversations"]) == (120, 360)


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
    process = snakemake(
        simulated_run, {"tiny": {"format": "simulated", "simulation": SMALL_SIMULATION}}, "--dry-run", *FOUNDATION_TARGETS
    )
    assert process.returncode == 0
    assert "Nothing to be done" in process.stdout + process.stderr


def test_same_inputs_give_byte_identical_tables(simulated_run, tmp_path):
    process = snakemake(tmp_path, {"tiny": {"format": "simulated", "simulation": SMALL_SIMULATION}}, *DATA_TARGETS)
    assert process.returncode == 0, process.stderr[-4000:]
    patterns = ("data/simulated/tiny/*.csv", "results/tiny/**/*.csv", "results/tiny/**/*.json", "reports/tiny/**/*.csv")
    first = sorted(p.relative_to(simulated_run) for pattern in patterns for p in simulated_run.glob(pattern))
    second = sorted(p.relative_to(tmp_path) for pattern in patterns for p in tmp_path.glob(pattern))
    assert first == second
    assert len(first) >= 4 + 5 + 3 + 1 + 5 + 2
    for relative in first:
        assert (tmp_path / relative).read_bytes() == (simulated_run / relative).read_bytes(), relative


def test_native_cohort_runs_and_is_not_labelled_synthetic(tmp_path):
    cohort = make_small_cohort(n_per_arm=8)
    # partial judging: judge_b left one dimension of p003-2 unscored; judge_a's complete set keeps the conversation
    scores = cohort.scores
    partial = (scores["conversation_id"] == "p003-2") & (scores["judge"] == "judge_b") & (scores["dimension"] == "self_oriented")
    write_native(type(cohort)(cohort.participants, cohort.conversations, cohort.messages, scores[~partial]), tmp_path / "input")
    process = snakemake(tmp_path, {"mine": {"format": "native", "path": str(tmp_path / "input")}}, "reports/mine/tables/primary_did.md",
                        "results/mine/primary/hypothesis_tests.csv")
    assert process.returncode == 0, process.stderr[-4000:]
    text = (tmp_path / "reports/mine/tables/primary_did.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" not in text
    assert "N = 96 conversations" in text
    assert not (tmp_path / "data/simulated").exists()
    exclusions = pd.read_csv(tmp_path / "results/mine/qc/exclusions.csv", keep_default_na=False)
    assert exclusions[["level", "record_id", "rule"]].values.tolist() == [["judge_scores", "p003-2/judge_b", "incomplete_judge_scores"]]
    flow = pd.read_csv(tmp_path / "results/mine/qc/flow.csv", keep_default_na=False).set_index(["arm", "stage", "rule"])
    assert flow.loc[("all", "excluded", "incomplete_judge_scores"), "n_judge_sets"] == 1
    assert flow.loc[("all", "analysed", ""), "n_judge_sets"] == 2 * 96 - 1
    outcomes = pd.read_csv(tmp_path / "results/mine/outcomes/conversation_scores.csv", keep_default_na=False).set_index("conversation_id")
    assert outcomes.loc["p003-2", "judges"] == "judge_a" and outcomes.loc["p003-1", "judges"] == "judge_a;judge_b"
    decisions = pd.read_csv(tmp_path / "results/mine/primary/hypothesis_tests.csv", keep_default_na=False)
    assert decisions.loc[decisions["row"] == "verdict", "hypothesis"].tolist() == ["H1", "H2", "H3", "H4"]


def test_bad_input_stops_the_run_with_a_clear_message_and_no_outputs(tmp_path):
    cohort = make_small_cohort(n_per_arm=4)
    cohort.scores.loc[5, "score"] = 7.0
    write_native(cohort, tmp_path / "input")
    process = snakemake(tmp_path, {"bad": {"format": "native", "path": str(tmp_path / "input")}})
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
    process = snakemake(tmp_path, {"gap": {"format": "native", "path": str(tmp_path / "input")}}, "results/gap/qc/flow.csv")
    assert process.returncode == 1
    assert "messages.csv" in process.stderr and "Missing input files" in process.stderr
    output = process.stdout + process.stderr
    assert output.count("Missing input files") == 1 and "Traceback" not in output


def test_invalid_config_is_rejected(tmp_path):
    process = snakemake(tmp_path, {"oops": {"format": "native"}}, "--dry-run")
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
