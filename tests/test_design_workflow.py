"""End to end: the planning family's rules on a small simulated cohort, with a planner's overrides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.design import MDE_COLUMNS, POWER_COLUMNS, SAMPLE_SIZE_COLUMNS
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

COHORT = {"small": {"format": "simulated", "simulation": {"seed": 3, "arm_sizes": {"control": 40, "video": 40, "coach": 40, "combined": 40}}}}
OVERRIDES = {"n_per_arm": [20, 40], "simulations": 30, "attrition": 0.1, "mde": {"power": 0.8, "effect_grid_sd": [0.2, 0.8]}}
TARGETS = [f"results/small/design/{name}" for name in ("power.csv", "sample_size.csv", "mde.csv", "spec.json")] + [
    "reports/small/figures/power_curves.png", "reports/small/figures/power_curves.pdf"]


def snakemake(workdir: Path, overrides: dict, *arguments: str) -> subprocess.CompletedProcess:
    overlay = workdir / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"prereg": str(REPO / "config" / "prereg.yaml"), "cohorts": COHORT,
                                       "power_overrides": overrides}))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--cores", "2", *arguments, "--configfile", str(overlay)]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def test_planning_outputs_are_made_with_the_overrides_and_are_reproducible(tmp_path):
    process = snakemake(tmp_path, OVERRIDES, *TARGETS)
    assert process.returncode == 0, process.stderr[-4000:]
    power = pd.read_csv(tmp_path / "results/small/design/power.csv")
    assert list(power.columns) == POWER_COLUMNS
    assert sorted(power["n_per_arm"].unique()) == [20, 40] and set(power["n_sims"]) == {30}
    assert set(power["attrition"]) == {0.1}
    assert set(power.loc[power["kind"] == "hypothesis", "name"]) == {"H1", "H2", "H3", "H4"}
    assert list(pd.read_csv(tmp_path / "results/small/design/sample_size.csv").columns) == SAMPLE_SIZE_COLUMNS
    assert list(pd.read_csv(tmp_path / "results/small/design/mde.csv").columns) == MDE_COLUMNS
    spec = json.loads((tmp_path / "results/small/design/spec.json").read_text())
    assert spec["analysis_id"] == "design_power" and spec["details"]["overrides"] == OVERRIDES
    assert (tmp_path / "logs/simulate_power/small.log").is_file()
    first = {name: (tmp_path / f"results/small/design/{name}").read_bytes() for name in ("power.csv", "mde.csv")}
    process = snakemake(tmp_path, OVERRIDES, *TARGETS, "--forcerun", "simulate_power")
    assert process.returncode == 0, process.stderr[-4000:]
    for name, content in first.items():
        assert (tmp_path / f"results/small/design/{name}").read_bytes() == content, name


def test_a_bad_override_stops_the_run_naming_it(tmp_path):
    process = snakemake(tmp_path, {"attrition": 1.5, "seeds": 3}, "--dry-run", *TARGETS)
    assert process.returncode != 0
    output = process.stdout + process.stderr
    assert "power_overrides: $.attrition: 1.5 is greater than or equal to the maximum of 1" in output, output[-3000:]
    assert "'seeds' was unexpected" in output
