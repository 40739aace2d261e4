"""End to end: the mixed-model rules in the Snakemake DAG, on the suite's shared simulated run and in temporary folders."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.models.mixed import mixed_analysis
from analysis.models.reliable_change import reliable_change_analysis
from analysis.prereg.specs import read_spec_record
from analysis.render.mixed import mixed_tables_text
from analysis.render.tables import write_rendered_tables
from tests.conftest import REPO
from tests.workflow_runs import MIXED_REPORTS, MIXED_RESULTS, N_PARTICIPANTS, SIMULATION, run_on_cohorts, run_simulated

pytestmark = pytest.mark.e2e

COHORTS = {"tiny": {"format": "simulated", "simulation": SIMULATION}}
# The rules the shared run runs for `tiny` (its figures are the release run's: tests/workflow_runs.py).
RULES = ("fit_mixed_models", "estimate_reliable_change", "render_mixed_tables")


def test_every_output_is_made_and_logged(simulated_run):
    for path in MIXED_RESULTS + MIXED_REPORTS:
        assert (simulated_run / path).stat().st_size > 0, path
    for rule in RULES:
        assert (simulated_run / "logs" / rule / "tiny.log").is_file(), rule
    assert "converged with profiled_bounded" in (simulated_run / "logs/fit_mixed_models/tiny.log").read_text(encoding="utf-8")


def test_outputs_equal_the_registered_analysis_run_directly(simulated_run, plan):
    outcomes = read_outcomes(simulated_run / "results/tiny/outcomes/conversation_scores.csv")
    mixed = plan["mixed_models"]
    direct = mixed_analysis(
        outcomes, mixed["outcomes"], plan["design"]["arms"], plan["design"]["reference_arm"], mixed["optimizers"],
        mixed["terms"], mixed["scenario_reference"], mixed["alpha"],
    )
    written = pd.read_csv(simulated_run / "results/tiny/mixed/lmm_coefficients.csv")
    pd.testing.assert_frame_equal(written, direct.coefficients, check_dtype=False, rtol=1e-12, atol=1e-12)
    change = reliable_change_analysis(
        outcomes, plan["design"]["arms"], mixed["reliable_change"]["reliability_arm"], mixed["optimizers"],
        plan["design"]["conversations_per_participant"], plan["design"]["post_conversations"],
    )
    responders = pd.read_csv(simulated_run / "results/tiny/mixed/responders.csv")
    pd.testing.assert_frame_equal(responders, change.responders, check_dtype=False, rtol=1e-12, atol=1e-12)
    reliability = pd.read_csv(simulated_run / "results/tiny/mixed/reliability.csv").iloc[0]
    assert reliability["r1"] == pytest.approx(change.reliability.iloc[0]["r1"], rel=1e-12)
    participants = pd.read_csv(simulated_run / "results/tiny/mixed/participant_change.csv", dtype={"participant_id": str})
    assert len(participants) == N_PARTICIPANTS and set(participants["classification"]) <= {"improved", "no_reliable_change", "worsened"}
    assert np.allclose(participants["d"], participants["post_mean"] - participants["baseline"])


def test_spec_records_carry_the_registered_ids(simulated_run, plan):
    lmm = json.loads((simulated_run / "results/tiny/mixed/spec.json").read_text(encoding="utf-8"))
    change = json.loads((simulated_run / "results/tiny/mixed/reliable_change.spec.json").read_text(encoding="utf-8"))
    assert lmm["analysis_id"] == plan["mixed_models"]["id"] and lmm["family"] == "mixed"
    assert change["analysis_id"] == plan["mixed_models"]["reliable_change"]["id"]
    assert lmm["estimator"] == "mixedlm_reml" and lmm["sample"] == {"unit": "conversation", "n_obs": 3 * N_PARTICIPANTS, "n_conversations": 3 * N_PARTICIPANTS,
                                                                      "n_participants": N_PARTICIPANTS}
    assert lmm["exclusions"] == [rule["id"] for rule in plan["exclusions"]]


def test_tables_are_labelled_synthetic(simulated_run):
    for name in ("lmm_coefficients", "responders"):
        for extension in ("csv", "tex", "md"):
            assert "SYNTHETIC DATA" in (simulated_run / f"reports/tiny/tables/{name}.{extension}").read_text(encoding="utf-8")


def test_rule_all_builds_the_mixed_outputs(simulated_run):
    everything = run_simulated(simulated_run, "--dry-run", "--forceall")
    assert everything.returncode == 0, everything.stderr[-2000:]
    for rule in (*RULES, "plot_responders"):
        assert rule in everything.stdout, rule


def test_the_same_inputs_give_byte_identical_outputs(simulated_run, plan, tmp_path):
    """The fits recomputed in this process from the run's outcomes, written and rendered as the rules write them."""
    outcomes = read_outcomes(simulated_run / "results/tiny/outcomes/conversation_scores.csv")
    mixed = plan["mixed_models"]
    direct = mixed_analysis(
        outcomes, mixed["outcomes"], plan["design"]["arms"], plan["design"]["reference_arm"], mixed["optimizers"],
        mixed["terms"], mixed["scenario_reference"], mixed["alpha"],
    )
    registered = mixed["reliable_change"]
    change = reliable_change_analysis(
        outcomes, arms=plan["design"]["arms"], reliability_arm=registered["reliability_arm"], optimizers=mixed["optimizers"],
        conversations_per_participant=plan["design"]["conversations_per_participant"],
        post_conversations=plan["design"]["post_conversations"], outcome=registered["outcome"], terms=registered["terms"],
        critical_value=registered["critical_value"],
    )
    for name, frame in {"lmm_coefficients": direct.coefficients, "convergence": direct.convergence,
                        "responders": change.responders, "reliability": change.reliability,
                        "participant_change": change.participants, "reliable_change_excluded": change.excluded}.items():
        write_csv(frame, tmp_path / f"{name}.csv")
        assert (tmp_path / f"{name}.csv").read_bytes() == (simulated_run / f"results/tiny/mixed/{name}.csv").read_bytes(), name
    # the tables, rendered as render_mixed_tables renders them from the files just compared
    levels = read_spec_record(simulated_run / "results/tiny/mixed/spec.json")["details"]["scenario_levels"]
    rendered = mixed_tables_text(
        coefficients=pd.read_csv(tmp_path / "lmm_coefficients.csv"),
        convergence=pd.read_csv(tmp_path / "convergence.csv", keep_default_na=False, na_values={"log_likelihood": [""]}),
        responders=pd.read_csv(tmp_path / "responders.csv"),
        reliability=pd.read_csv(tmp_path / "reliability.csv"),
        arms=plan["design"]["arms"],
        reference_arm=plan["design"]["reference_arm"],
        cohort="tiny",
        synthetic=True,
        reference_scenario=levels[0] if levels else None,
    )
    tables = {f"{name}_{extension}": str(tmp_path / f"{name}.{extension}") for name in ("lmm_coefficients", "responders")
              for extension in ("csv", "tex", "md")}
    write_rendered_tables(rendered, tables)
    for name in ("lmm_coefficients", "responders"):
        for extension in ("csv", "tex", "md"):
            again = (tmp_path / f"{name}.{extension}").read_bytes()
            assert again == (simulated_run / f"reports/tiny/tables/{name}.{extension}").read_bytes(), (name, extension)


def test_nonconvergence_fails_the_rule_with_a_clear_message(simulated_run, tmp_path):
    """In a copy of the shared run (timestamps kept), only the mixed models rerun: their optimizers changed."""
    workdir = tmp_path / "copy"
    shutil.copytree(simulated_run, workdir, symlinks=True)
    plan = yaml.safe_load((REPO / "config" / "prereg.yaml").read_text(encoding="utf-8"))
    plan["mixed_models"]["optimizers"] = [{"method": "profiled_bounded", "maxiter": 1}]
    prereg = tmp_path / "prereg_one_iteration.yaml"
    prereg.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    process = run_on_cohorts(workdir, COHORTS, "results/tiny/mixed/lmm_coefficients.csv", prereg=str(prereg))
    assert process.returncode == 1
    output = process.stdout + process.stderr
    assert "simulate_cohort" not in output and "derive_outcomes" not in output
    log = (workdir / "logs/fit_mixed_models/tiny.log").read_text(encoding="utf-8")
    assert "mixed model for 'validating_emotions' did not converge cleanly" in log
    assert "Register another optimizer or more iterations" in log
    assert "did not converge cleanly" in process.stderr
    # the message alone, once, without a traceback (on the terminal and in the log)
    assert output.count("mixed model for 'validating_emotions' did not converge cleanly") == 1
    assert "Traceback" not in output and "Traceback" not in log
    assert not (workdir / "results/tiny/mixed/lmm_coefficients.csv").exists()
