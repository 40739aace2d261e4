"""End to end: the mixed-model rules in the Snakemake DAG, in temporary folders, on a small simulated cohort."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.mixed import mixed_analysis
from analysis.outcomes import read_outcomes
from analysis.prereg import load_prereg
from analysis.reliable_change import reliable_change_analysis
from tests.conftest import REPO
from tests.test_workflow import SMALL_SIMULATION, snakemake

pytestmark = pytest.mark.e2e

COHORTS = {"tiny": {"format": "simulated", "simulation": SMALL_SIMULATION}}
RESULTS = [
    "results/tiny/mixed/lmm_coefficients.csv",
    "results/tiny/mixed/convergence.csv",
    "results/tiny/mixed/spec.json",
    "results/tiny/mixed/reliability.csv",
    "results/tiny/mixed/responders.csv",
    "results/tiny/mixed/participant_change.csv",
    "results/tiny/mixed/reliable_change_excluded.csv",
    "results/tiny/mixed/reliable_change.spec.json",
]
REPORTS = [f"reports/tiny/tables/{name}.{ext}" for name in ("lmm_coefficients", "responders") for ext in ("csv", "tex", "md")] + [
    f"reports/tiny/figures/responders.{ext}" for ext in ("png", "pdf")
]
RULES = ("fit_mixed_models", "estimate_reliable_change", "plot_responders", "render_mixed_tables")


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("mixed")
    process = snakemake(workdir, COHORTS, *RESULTS, *REPORTS)
    assert process.returncode == 0, process.stderr[-4000:]
    return workdir


@pytest.fixture(scope="module")
def plan() -> dict:
    return load_prereg(REPO / "config" / "prereg.yaml")


def test_every_output_is_made_and_logged(mixed_run):
    for path in RESULTS + REPORTS:
        assert (mixed_run / path).stat().st_size > 0, path
    for rule in RULES:
        assert (mixed_run / "logs" / rule / "tiny.log").is_file(), rule
    assert "converged with profiled_bounded" in (mixed_run / "logs/fit_mixed_models/tiny.log").read_text(encoding="utf-8")


def test_outputs_equal_the_registered_analysis_run_directly(mixed_run, plan):
    outcomes = read_outcomes(mixed_run / "results/tiny/outcomes/conversation_scores.csv")
    mixed = plan["mixed_models"]
    direct = mixed_analysis(
        outcomes, mixed["outcomes"], plan["design"]["arms"], plan["design"]["reference_arm"], mixed["optimizers"],
        mixed["terms"], mixed["scenario_reference"], mixed["alpha"],
    )
    written = pd.read_csv(mixed_run / "results/tiny/mixed/lmm_coefficients.csv")
    pd.testing.assert_frame_equal(written, direct.coefficients, check_dtype=False, rtol=1e-12, atol=1e-12)
    change = reliable_change_analysis(
        outcomes, plan["design"]["arms"], mixed["reliable_change"]["reliability_arm"], mixed["optimizers"],
        plan["design"]["conversations_per_participant"], plan["design"]["post_conversations"],
    )
    responders = pd.read_csv(mixed_run / "results/tiny/mixed/responders.csv")
    pd.testing.assert_frame_equal(responders, change.responders, check_dtype=False, rtol=1e-12, atol=1e-12)
    reliability = pd.read_csv(mixed_run / "results/tiny/mixed/reliability.csv").iloc[0]
    assert reliability["r1"] == pytest.approx(change.reliability.iloc[0]["r1"], rel=1e-12)
    participants = pd.read_csv(mixed_run / "results/tiny/mixed/participant_change.csv", dtype={"participant_id": str})
    assert len(participants) == 120 and set(participants["classification"]) <= {"improved", "no_reliable_change", "worsened"}
    assert np.allclose(participants["d"], participants["post_mean"] - participants["baseline"])


def test_spec_records_carry_the_registered_ids(mixed_run, plan):
    lmm = json.loads((mixed_run / "results/tiny/mixed/spec.json").read_text(encoding="utf-8"))
    change = json.loads((mixed_run / "results/tiny/mixed/reliable_change.spec.json").read_text(encoding="utf-8"))
    assert lmm["analysis_id"] == plan["mixed_models"]["id"] and lmm["family"] == "mixed"
    assert change["analysis_id"] == plan["mixed_models"]["reliable_change"]["id"]
    assert lmm["estimator"] == "mixedlm_reml" and lmm["sample"] == {"unit": "conversation", "n_obs": 360, "n_conversations": 360, "n_participants": 120}
    assert lmm["exclusions"] == [rule["id"] for rule in plan["exclusions"]]


def test_tables_are_labelled_synthetic(mixed_run):
    for name in ("lmm_coefficients", "responders"):
        for extension in ("csv", "tex", "md"):
            assert "SYNTHETIC DATA" in (mixed_run / f"reports/tiny/tables/{name}.{extension}").read_text(encoding="utf-8")


def test_rule_all_builds_the_mixed_outputs_and_rerun_is_a_no_op(mixed_run):
    process = snakemake(mixed_run, COHORTS, *RESULTS, *REPORTS, "--dry-run")
    assert process.returncode == 0 and "Nothing to be done" in process.stdout + process.stderr
    everything = snakemake(mixed_run, COHORTS, "--dry-run", "--forceall")
    assert everything.returncode == 0, everything.stderr[-2000:]
    for rule in RULES:
        assert rule in everything.stdout, rule


def test_rerunning_the_rules_gives_byte_identical_outputs(mixed_run):
    paths = [*RESULTS, *(path for path in REPORTS if not path.endswith((".png", ".pdf")))]
    before = {path: (mixed_run / path).read_bytes() for path in paths}
    # forcing the two fitting rules reruns the table and figure rules downstream of them too
    process = snakemake(mixed_run, COHORTS, *RESULTS, *REPORTS, "--forcerun", "fit_mixed_models", "estimate_reliable_change")
    assert process.returncode == 0, process.stderr[-4000:]
    for rule in RULES:
        assert f"rule {rule}:" in process.stdout + process.stderr, rule
    for path in paths:
        assert (mixed_run / path).read_bytes() == before[path], path


def test_nonconvergence_fails_the_rule_with_a_clear_message(tmp_path):
    plan = yaml.safe_load((REPO / "config" / "prereg.yaml").read_text(encoding="utf-8"))
    plan["mixed_models"]["optimizers"] = [{"method": "profiled_bounded", "maxiter": 1}]
    prereg = tmp_path / "prereg_one_iteration.yaml"
    prereg.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    overlay = tmp_path / "overlay_one_iteration.yaml"
    overlay.write_text(yaml.safe_dump({"prereg": str(prereg), "cohorts": COHORTS}), encoding="utf-8")
    # the later --configfile overrides the helper's overlay (which names the repository's plan)
    process = snakemake(tmp_path, COHORTS, "results/tiny/mixed/lmm_coefficients.csv", "--configfile", str(overlay))
    assert process.returncode == 1
    log = (tmp_path / "logs/fit_mixed_models/tiny.log").read_text(encoding="utf-8")
    assert "mixed model for 'validating_emotions' did not converge cleanly" in log
    assert "Register another optimizer or more iterations" in log
    assert "did not converge cleanly" in process.stderr
    # the message alone, once, without a traceback (on the terminal and in the log)
    output = process.stdout + process.stderr
    assert output.count("mixed model for 'validating_emotions' did not converge cleanly") == 1
    assert "Traceback" not in output and "Traceback" not in log
    assert not (tmp_path / "results/tiny/mixed/lmm_coefficients.csv").exists()
