"""End to end: the mixed-model rules in the Snakemake DAG, on the suite's shared simulated run and in temporary folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.models.mixed import mixed_analysis
from analysis.models.reliable_change import reliable_change_analysis
from tests.conftest import REPO
from tests.workflow_runs import MIXED_REPORTS, MIXED_RESULTS, N_PARTICIPANTS, SIMULATION, run_on_cohorts, run_simulated

pytestmark = pytest.mark.e2e

COHORTS = {"tiny": {"format": "simulated", "simulation": SIMULATION}}
RULES = ("fit_mixed_models", "estimate_reliable_change", "plot_responders", "render_mixed_tables")


@pytest.fixture(scope="module")
def mixed_run(simulated_run) -> Path:
    """The suite's shared simulated run (tests/workflow_runs.py), which builds the mixed outputs."""
    return simulated_run


def test_every_output_is_made_and_logged(mixed_run):
    for path in MIXED_RESULTS + MIXED_REPORTS:
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
    assert len(participants) == N_PARTICIPANTS and set(participants["classification"]) <= {"improved", "no_reliable_change", "worsened"}
    assert np.allclose(participants["d"], participants["post_mean"] - participants["baseline"])


def test_spec_records_carry_the_registered_ids(mixed_run, plan):
    lmm = json.loads((mixed_run / "results/tiny/mixed/spec.json").read_text(encoding="utf-8"))
    change = json.loads((mixed_run / "results/tiny/mixed/reliable_change.spec.json").read_text(encoding="utf-8"))
    assert lmm["analysis_id"] == plan["mixed_models"]["id"] and lmm["family"] == "mixed"
    assert change["analysis_id"] == plan["mixed_models"]["reliable_change"]["id"]
    assert lmm["estimator"] == "mixedlm_reml" and lmm["sample"] == {"unit": "conversation", "n_obs": 3 * N_PARTICIPANTS, "n_conversations": 3 * N_PARTICIPANTS,
                                                                      "n_participants": N_PARTICIPANTS}
    assert lmm["exclusions"] == [rule["id"] for rule in plan["exclusions"]]


def test_tables_are_labelled_synthetic(mixed_run):
    for name in ("lmm_coefficients", "responders"):
        for extension in ("csv", "tex", "md"):
            assert "SYNTHETIC DATA" in (mixed_run / f"reports/tiny/tables/{name}.{extension}").read_text(encoding="utf-8")


def test_rule_all_builds_the_mixed_outputs(mixed_run):
    everything = run_simulated(mixed_run, "--dry-run", "--forceall")
    assert everything.returncode == 0, everything.stderr[-2000:]
    for rule in RULES:
        assert rule in everything.stdout, rule


def test_the_same_inputs_give_byte_identical_outputs(mixed_run, plan, tmp_path):
    """The fits recomputed in this process from the run's outcomes, written as the rules write them."""
    outcomes = read_outcomes(mixed_run / "results/tiny/outcomes/conversation_scores.csv")
    mixed = plan["mixed_models"]
    direct = mixed_analysis(
        outcomes, mixed["outcomes"], plan["design"]["arms"], plan["design"]["reference_arm"], mixed["optimizers"],
        mixed["terms"], mixed["scenario_reference"], mixed["alpha"],
    )
    change = reliable_change_analysis(
        outcomes, plan["design"]["arms"], mixed["reliable_change"]["reliability_arm"], mixed["optimizers"],
        plan["design"]["conversations_per_participant"], plan["design"]["post_conversations"],
    )
    for name, frame in {"lmm_coefficients": direct.coefficients, "convergence": direct.convergence,
                        "responders": change.responders, "reliability": change.reliability}.items():
        write_csv(frame, tmp_path / f"{name}.csv")
        assert (tmp_path / f"{name}.csv").read_bytes() == (mixed_run / f"results/tiny/mixed/{name}.csv").read_bytes(), name


def test_nonconvergence_fails_the_rule_with_a_clear_message(tmp_path):
    plan = yaml.safe_load((REPO / "config" / "prereg.yaml").read_text(encoding="utf-8"))
    plan["mixed_models"]["optimizers"] = [{"method": "profiled_bounded", "maxiter": 1}]
    prereg = tmp_path / "prereg_one_iteration.yaml"
    prereg.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    process = run_on_cohorts(tmp_path, COHORTS, "results/tiny/mixed/lmm_coefficients.csv", prereg=str(prereg))
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
