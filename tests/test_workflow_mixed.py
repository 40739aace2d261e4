"""End to end: the mixed-model rules in the Snakemake DAG, on the suite's shared release run (cohort ``rel``) and a copy of it."""

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
from analysis.prereg.plan import load_prereg
from analysis.prereg.specs import read_spec_record
from analysis.render.mixed import mixed_tables_text
from analysis.render.tables import write_rendered_tables
from tests.workflow_runs import MIXED_REPORTS, MIXED_RESULTS, RELEASE_PARTICIPANTS, dry_run_jobs, snakemake

pytestmark = pytest.mark.e2e

RULES = ("fit_mixed_models", "estimate_reliable_change", "render_mixed_tables", "plot_responders")


@pytest.fixture(scope="module")
def run_plan(release_dir):
    """The run's own plan: the registered one with few Bayesian draws, its mixed-model section unchanged."""
    return load_prereg(release_dir / "prereg.yaml")


def test_every_output_is_made_and_logged(release_dir):
    for path in MIXED_RESULTS + MIXED_REPORTS:
        assert (release_dir / path).stat().st_size > 0, path
    for rule in RULES:
        assert (release_dir / "logs" / rule / "rel.log").is_file(), rule
    assert "converged with profiled_bounded" in (release_dir / "logs/fit_mixed_models/rel.log").read_text(encoding="utf-8")


def test_outputs_equal_the_registered_analysis_run_directly(release_dir, run_plan):
    outcomes = read_outcomes(release_dir / "results/rel/outcomes/conversation_scores.csv")
    mixed = run_plan["mixed_models"]
    direct = mixed_analysis(
        outcomes, mixed["outcomes"], run_plan["design"]["arms"], run_plan["design"]["reference_arm"], mixed["optimizers"],
        mixed["terms"], mixed["scenario_reference"], mixed["alpha"],
    )
    written = pd.read_csv(release_dir / "results/rel/mixed/lmm_coefficients.csv")
    pd.testing.assert_frame_equal(written, direct.coefficients, check_dtype=False, rtol=1e-12, atol=1e-12)
    change = reliable_change_analysis(
        outcomes, run_plan["design"]["arms"], mixed["reliable_change"]["reliability_arm"], mixed["optimizers"],
        run_plan["design"]["conversations_per_participant"], run_plan["design"]["post_conversations"],
    )
    responders = pd.read_csv(release_dir / "results/rel/mixed/responders.csv")
    pd.testing.assert_frame_equal(responders, change.responders, check_dtype=False, rtol=1e-12, atol=1e-12)
    reliability = pd.read_csv(release_dir / "results/rel/mixed/reliability.csv").iloc[0]
    assert reliability["r1"] == pytest.approx(change.reliability.iloc[0]["r1"], rel=1e-12)
    participants = pd.read_csv(release_dir / "results/rel/mixed/participant_change.csv", dtype={"participant_id": str})
    assert len(participants) == RELEASE_PARTICIPANTS and set(participants["classification"]) <= {"improved", "no_reliable_change", "worsened"}
    assert np.allclose(participants["d"], participants["post_mean"] - participants["baseline"])


def test_spec_records_carry_the_registered_ids(release_dir, run_plan):
    lmm = json.loads((release_dir / "results/rel/mixed/spec.json").read_text(encoding="utf-8"))
    change = json.loads((release_dir / "results/rel/mixed/reliable_change.spec.json").read_text(encoding="utf-8"))
    assert lmm["analysis_id"] == run_plan["mixed_models"]["id"] and lmm["family"] == "mixed"
    assert change["analysis_id"] == run_plan["mixed_models"]["reliable_change"]["id"]
    conversations = 3 * RELEASE_PARTICIPANTS
    assert lmm["estimator"] == "mixedlm_reml" and lmm["sample"] == {
        "unit": "conversation", "n_obs": conversations, "n_conversations": conversations, "n_participants": RELEASE_PARTICIPANTS}
    assert lmm["exclusions"] == [rule["id"] for rule in run_plan["exclusions"]]


def test_tables_are_labelled_synthetic(release_dir):
    for name in ("lmm_coefficients", "responders"):
        for extension in ("csv", "tex", "md"):
            assert "SYNTHETIC DATA" in (release_dir / f"reports/rel/tables/{name}.{extension}").read_text(encoding="utf-8")


def test_rule_all_builds_the_mixed_outputs(release_dir):
    """What `rule all` reruns for the release once its outcomes are remade (the import, a checkpoint, is not rerun)."""
    everything = snakemake(release_dir, "--forcerun", "derive_outcomes", "--dry-run")
    assert everything.returncode == 0, everything.stderr[-2000:]
    planned = dry_run_jobs(everything.stdout + everything.stderr)["rel"]
    assert set(RULES) <= planned, set(RULES) - planned


def test_the_same_inputs_give_byte_identical_outputs(release_dir, run_plan, tmp_path):
    """The fits recomputed in this process from the run's outcomes, written and rendered as the rules write them."""
    outcomes = read_outcomes(release_dir / "results/rel/outcomes/conversation_scores.csv")
    mixed = run_plan["mixed_models"]
    direct = mixed_analysis(
        outcomes, mixed["outcomes"], run_plan["design"]["arms"], run_plan["design"]["reference_arm"], mixed["optimizers"],
        mixed["terms"], mixed["scenario_reference"], mixed["alpha"],
    )
    registered = mixed["reliable_change"]
    change = reliable_change_analysis(
        outcomes, arms=run_plan["design"]["arms"], reliability_arm=registered["reliability_arm"], optimizers=mixed["optimizers"],
        conversations_per_participant=run_plan["design"]["conversations_per_participant"],
        post_conversations=run_plan["design"]["post_conversations"], outcome=registered["outcome"], terms=registered["terms"],
        critical_value=registered["critical_value"],
    )
    for name, frame in {"lmm_coefficients": direct.coefficients, "convergence": direct.convergence,
                        "responders": change.responders, "reliability": change.reliability,
                        "participant_change": change.participants, "reliable_change_excluded": change.excluded}.items():
        write_csv(frame, tmp_path / f"{name}.csv")
        assert (tmp_path / f"{name}.csv").read_bytes() == (release_dir / f"results/rel/mixed/{name}.csv").read_bytes(), name
    # the tables, rendered as render_mixed_tables renders them from the files just compared
    levels = read_spec_record(release_dir / "results/rel/mixed/spec.json")["details"]["scenario_levels"]
    rendered = mixed_tables_text(
        coefficients=pd.read_csv(tmp_path / "lmm_coefficients.csv"),
        convergence=pd.read_csv(tmp_path / "convergence.csv", keep_default_na=False, na_values={"log_likelihood": [""]}),
        responders=pd.read_csv(tmp_path / "responders.csv"),
        reliability=pd.read_csv(tmp_path / "reliability.csv"),
        arms=run_plan["design"]["arms"],
        reference_arm=run_plan["design"]["reference_arm"],
        cohort="rel",
        synthetic=True,
        reference_scenario=levels[0] if levels else None,
    )
    tables = {f"{name}_{extension}": str(tmp_path / f"{name}.{extension}") for name in ("lmm_coefficients", "responders")
              for extension in ("csv", "tex", "md")}
    write_rendered_tables(rendered, tables)
    for name in ("lmm_coefficients", "responders"):
        for extension in ("csv", "tex", "md"):
            again = (tmp_path / f"{name}.{extension}").read_bytes()
            assert again == (release_dir / f"reports/rel/tables/{name}.{extension}").read_bytes(), (name, extension)


def test_nonconvergence_fails_the_rule_with_a_clear_message(release_dir, tmp_path):
    """In a copy of the shared run (timestamps kept), only the mixed models rerun: their optimizers changed."""
    workdir = tmp_path / "copy"
    shutil.copytree(release_dir, workdir, symlinks=True)
    plan = yaml.safe_load((release_dir / "prereg.yaml").read_text(encoding="utf-8"))
    plan["mixed_models"]["optimizers"] = [{"method": "profiled_bounded", "maxiter": 1}]
    prereg = tmp_path / "prereg_one_iteration.yaml"
    prereg.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    process = snakemake(workdir, "results/rel/mixed/lmm_coefficients.csv", prereg=prereg, inputs=release_dir)
    assert process.returncode == 1
    output = process.stdout + process.stderr
    assert "import_paper_release" not in output and "derive_outcomes" not in output
    log = (workdir / "logs/fit_mixed_models/rel.log").read_text(encoding="utf-8")
    assert "mixed model for 'validating_emotions' did not converge cleanly" in log
    assert "Register another optimizer or more iterations" in log
    assert "did not converge cleanly" in process.stderr
    # the message alone, once, without a traceback (on the terminal and in the log)
    assert output.count("mixed model for 'validating_emotions' did not converge cleanly") == 1
    assert "Traceback" not in output and "Traceback" not in log
    assert not (workdir / "results/rel/mixed/lmm_coefficients.csv").exists()
