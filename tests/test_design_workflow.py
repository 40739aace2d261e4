"""End to end: the planning family's rules on the suite's shared release run (cohort ``rel``), with a planner's overrides."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.planning.power import MDE_COLUMNS, POWER_COLUMNS, SAMPLE_SIZE_COLUMNS, design_analysis
from analysis.prereg.keywords import power_keywords
from analysis.prereg.plan import load_prereg
from tests.workflow_runs import POWER_OVERRIDES, SIMULATION, run_on_cohorts

pytestmark = pytest.mark.e2e


def test_planning_outputs_are_made_with_the_overrides(release_dir):
    power = pd.read_csv(release_dir / "results/rel/design/power.csv")
    assert list(power.columns) == POWER_COLUMNS
    assert sorted(power["n_per_arm"].unique()) == [20, 40] and set(power["n_sims"]) == {30}
    assert set(power["attrition"]) == {0.1}
    assert set(power.loc[power["kind"] == "hypothesis", "name"]) == {"H1", "H2", "H3", "H4"}
    assert list(pd.read_csv(release_dir / "results/rel/design/sample_size.csv").columns) == SAMPLE_SIZE_COLUMNS
    assert list(pd.read_csv(release_dir / "results/rel/design/mde.csv").columns) == MDE_COLUMNS
    spec = json.loads((release_dir / "results/rel/design/spec.json").read_text())
    assert spec["analysis_id"] == "design_power" and spec["details"]["overrides"] == POWER_OVERRIDES
    assert (release_dir / "logs/simulate_power/rel.log").is_file()


def test_the_same_inputs_give_byte_identical_planning_outputs(release_dir, tmp_path):
    """The planning outputs recomputed in this process from the run's outcomes and mixed models, with what
    rule simulate_power passes (the run's plan under the run's overrides), written as it writes them."""
    plan = load_prereg(release_dir / "prereg.yaml")
    results = design_analysis(
        outcomes=read_outcomes(release_dir / "results/rel/outcomes/conversation_scores.csv"),
        lmm_coefficients=pd.read_csv(release_dir / "results/rel/mixed/lmm_coefficients.csv"),
        dimensions=plan["outcomes"]["dimensions"],
        composite=plan["outcomes"]["composite"],
        arms=plan["design"]["arms"],
        reference_arm=plan["design"]["reference_arm"],
        plan_hypotheses=plan.get("hypotheses", []),
        alpha=plan["primary_analysis"]["alpha"],
        contrast_method=plan["primary_analysis"]["contrasts"]["method"],
        **power_keywords({**plan["power_analysis"], **POWER_OVERRIDES}),
    )
    for name in ("power", "sample_size", "mde"):
        write_csv(getattr(results, name), tmp_path / f"{name}.csv")
        assert (tmp_path / f"{name}.csv").read_bytes() == (release_dir / f"results/rel/design/{name}.csv").read_bytes(), name


def test_a_bad_override_stops_the_run_naming_it(tmp_path):
    cohorts = {"tiny": {"format": "simulated", "simulation": SIMULATION}}
    process = run_on_cohorts(tmp_path, cohorts, "--dry-run", power_overrides={"attrition": 1.5, "seeds": 3})
    assert process.returncode != 0
    output = process.stdout + process.stderr
    assert "power_overrides: $.attrition: 1.5 is greater than or equal to the maximum of 1" in output, output[-3000:]
    assert "'seeds' was unexpected" in output
