"""End to end: the pilot release through the DAG (local copy, download stand-in, no source at all)."""

from __future__ import annotations

import json
import shutil

import jsonschema
import pandas as pd
import pytest
import yaml

from analysis.adapters.pilot_release import read_manifest
from analysis.prereg.specs import SCHEMA_PATH
from analysis.secondary.agreement import CROWD_WORKER_COLUMNS, EXPERT_COLUMNS, PAIRWISE_COLUMNS
from tests.workflow_runs import SIMULATION, run_on_cohorts

pytestmark = pytest.mark.e2e

PILOT_TARGETS = [
    *(f"results/pilot/reliability/{name}.csv" for name in ("pairwise", "experts", "crowd_workers", "excluded")),
    *(f"reports/pilot/tables/{name}.{ext}" for name in ("agreement", "expert_reliability") for ext in ("csv", "tex", "md")),
    "reports/pilot/figures/agreement_heatmap.png",
    "reports/pilot/figures/agreement_heatmap.pdf",
    "results/pilot/import/parse_issues.csv",
]


@pytest.fixture(scope="module")
def pilot_run(tmp_path_factory, pilot_release_dir):
    workdir = tmp_path_factory.mktemp("pilot")
    process = run_on_cohorts(workdir, {"pilot": {"format": "pilot_release", "path": str(pilot_release_dir)}}, *PILOT_TARGETS)
    assert process.returncode == 0, process.stderr[-4000:]
    return workdir


def _spec_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def test_pilot_outputs_hold_the_registered_agreement(pilot_run, pilot_release_dir):
    pairwise = pd.read_csv(pilot_run / "results/pilot/reliability/pairwise.csv")
    assert list(pairwise.columns) == PAIRWISE_COLUMNS
    assert len(pairwise) == 60 and set(pairwise["kappa_categories"]) == {"full"}
    kappa = pairwise.set_index(["dimension", "rater_a", "rater_b"])["kappa"]
    assert kappa[("encouraging_elaboration", "experts", "gemini")] == pytest.approx(0.86, abs=0.005)
    assert kappa[("dismissing_emotions", "experts", "gemini")] == pytest.approx(0.17, abs=0.005)
    assert list(pd.read_csv(pilot_run / "results/pilot/reliability/experts.csv").columns) == EXPERT_COLUMNS
    assert list(pd.read_csv(pilot_run / "results/pilot/reliability/crowd_workers.csv").columns) == CROWD_WORKER_COLUMNS
    issues = pd.read_csv(pilot_run / "results/pilot/import/parse_issues.csv")
    assert len(issues) == 14 and list(issues.columns) == ["file", "row", "column", "value", "reason"]
    record = json.loads((pilot_run / "results/pilot/reliability/spec.json").read_text(encoding="utf-8"))
    jsonschema.validate(record, _spec_schema())
    assert record["analysis_id"] == "agreement" and record["details"]["kappa_categories"] == "full"
    summary = json.loads((pilot_run / "results/pilot/import/import.json").read_text(encoding="utf-8"))
    assert summary["sha256"] == dict(zip(read_manifest()["path"], read_manifest()["sha256"], strict=True))
    table = (pilot_run / "reports/pilot/tables/agreement.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" not in table and "0.86***" in table
    assert (pairwise["kappa_z_variance"] == "under_null").all() and "SE under kappa = 0" in table
    crowd = pd.read_csv(pilot_run / "results/pilot/reliability/crowd_workers.csv")
    assert (crowd.loc[crowd["worker_id"] == "all_workers", "kappa_se_cluster_bootstrap"] > 0).all()
    assert record["seed"] == 20260306
    assert not (pilot_run / "data/downloads").exists()


def test_release_is_downloaded_and_verified_when_no_local_copy_exists(tmp_path, pilot_release_dir):
    cohorts = {"pilot": {"format": "pilot_release", "path": str(tmp_path / "absent"), "download_url": pilot_release_dir.as_uri() + "/"}}
    process = run_on_cohorts(tmp_path, cohorts, "results/pilot/import/parse_issues.csv")
    assert process.returncode == 0, process.stderr[-4000:]
    assert "the pinned release will be downloaded from file://" in process.stdout + process.stderr
    downloaded = tmp_path / "data/downloads/pilot_release/pilot"
    for path in read_manifest()["path"]:
        assert (downloaded / path).read_bytes() == (pilot_release_dir / path).read_bytes(), path
    summary = json.loads((tmp_path / "results/pilot/import/import.json").read_text(encoding="utf-8"))
    assert all(path.startswith("data/downloads/pilot_release/pilot/") for path in summary["read_from"].values())


def test_no_copy_and_no_network_skips_the_pilot_clearly_and_plans_the_rest(tmp_path):
    cohorts = {
        "pilot": {"format": "pilot_release", "path": str(tmp_path / "absent"), "download_url": "file:///nonexistent/release/"},
        "tiny": {"format": "simulated", "simulation": SIMULATION},
    }
    process = run_on_cohorts(tmp_path, cohorts, "--dry-run")
    output = process.stdout + process.stderr
    assert process.returncode == 0, output[-4000:]
    assert "cohort 'pilot' (format pilot_release) is SKIPPED" in output and "cannot be downloaded from file:///nonexistent/release/" in output
    assert "import_pilot_release" not in output and "download_pilot_release" not in output
    assert "fit_primary_did" in output and "fit_judge_sensitivity" in output


def test_a_changed_local_copy_stops_the_import_naming_the_file(tmp_path, pilot_release_dir):
    copy = tmp_path / "release"
    for path in read_manifest()["path"]:
        (copy / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pilot_release_dir / path, copy / path)
    target = copy / "annotations/lend_an_ear/expert3_ratings.csv"
    target.write_bytes(target.read_bytes() + b"\n")
    process = run_on_cohorts(tmp_path, {"pilot": {"format": "pilot_release", "path": str(copy)}}, "results/pilot/import/parse_issues.csv")
    assert process.returncode == 1
    assert "expert3_ratings.csv: sha256" in process.stderr
    # the message alone, once, without a traceback; also in the rule's log
    output = process.stdout + process.stderr
    assert output.count("expert3_ratings.csv: sha256") == 1 and "Traceback" not in output
    log = (tmp_path / "logs/import_pilot_release/pilot.log").read_text(encoding="utf-8")
    assert "expert3_ratings.csv: sha256" in log and "Traceback" not in log
    assert not (tmp_path / "data/imported/pilot_release/pilot/scores.csv").exists()
