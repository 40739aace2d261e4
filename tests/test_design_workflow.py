"""End to end: the planning family's rules on the suite's shared simulated run, with a planner's overrides."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.planning.power import MDE_COLUMNS, POWER_COLUMNS, SAMPLE_SIZE_COLUMNS
from tests.workflow_runs import POWER_OVERRIDES, run_on_cohorts, simulated_cohorts

pytestmark = pytest.mark.e2e


def test_planning_outputs_are_made_with_the_overrides(simulated_run):
    power = pd.read_csv(simulated_run / "results/tiny/design/power.csv")
    assert list(power.columns) == POWER_COLUMNS
    assert sorted(power["n_per_arm"].unique()) == [20, 40] and set(power["n_sims"]) == {30}
    assert set(power["attrition"]) == {0.1}
    assert set(power.loc[power["kind"] == "hypothesis", "name"]) == {"H1", "H2", "H3", "H4"}
    assert list(pd.read_csv(simulated_run / "results/tiny/design/sample_size.csv").columns) == SAMPLE_SIZE_COLUMNS
    assert list(pd.read_csv(simulated_run / "results/tiny/design/mde.csv").columns) == MDE_COLUMNS
    spec = json.loads((simulated_run / "results/tiny/design/spec.json").read_text())
    assert spec["analysis_id"] == "design_power" and spec["details"]["overrides"] == POWER_OVERRIDES
    assert (simulated_run / "logs/simulate_power/tiny.log").is_file()
    for extension in ("png", "pdf"):
        assert (simulated_run / f"reports/tiny/figures/power_curves.{extension}").stat().st_size > 0


def test_a_bad_override_stops_the_run_naming_it(tmp_path):
    process = run_on_cohorts(tmp_path, simulated_cohorts(tmp_path), "--dry-run", power_overrides={"attrition": 1.5, "seeds": 3})
    assert process.returncode != 0
    output = process.stdout + process.stderr
    assert "power_overrides: $.attrition: 1.5 is greater than or equal to the maximum of 1" in output, output[-3000:]
    assert "'seeds' was unexpected" in output
