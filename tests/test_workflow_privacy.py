"""End to end, small: a native cohort registered with `pseudonymise_ids`, through the steps that write its IDs.

Only the validation and the copy of its optional perception.csv run (two jobs): the steps after them read
these outputs, and tests/test_workflow_report.py scans every output of a whole pseudonymised release cohort.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import pandas as pd
import pytest

from analysis.cohorts.native import write_native
from tests.conftest import make_small_cohort
from tests.workflow_runs import run_on_cohorts

pytestmark = pytest.mark.e2e

TARGETS = ["results/mine/validated/validation.json", "results/mine/pseudonymised/perception.csv"]


def native_cohort(directory: Path) -> set[str]:
    """Write a small native cohort with a perception.csv; return its raw IDs."""
    cohort = make_small_cohort(n_per_arm=2)
    write_native(cohort, directory)
    conversations = cohort.conversations["conversation_id"]
    pd.DataFrame({
        "rater_id": ["rater-alpha", "rater-alpha", "rater-beta"], "pair_id": ["pair-one", "pair-two", "pair-one"],
        "scenario": ["job_loss", "promotion", "job_loss"], "conversation_left_id": conversations[[0, 1, 0]].to_numpy(),
        "conversation_right_id": conversations[[3, 4, 3]].to_numpy(), "choice": ["left", "right", "right"],
    }).to_csv(directory / "perception.csv", index=False)
    return {*cohort.participants["participant_id"], *conversations, "rater-alpha", "rater-beta", "pair-one", "pair-two"}


def test_a_native_cohort_carries_only_pseudonyms_from_its_validation_on(tmp_path):
    workdir, key = tmp_path / "run", tmp_path / "keys" / "mine.key"
    raw_ids = native_cohort(workdir / "input")
    key.parent.mkdir()
    key.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    cohort = {"format": "native", "path": str(workdir / "input"), "pseudonymise_ids": {"key_file": str(key)}}
    process = run_on_cohorts(workdir, {"mine": cohort}, *TARGETS)
    assert process.returncode == 0, process.stderr[-4000:]

    written = sorted(path for folder in ("results", "logs") for path in (workdir / folder).rglob("*") if path.is_file())
    assert len(written) >= 6 + 4  # five validated files and the perception copy; a log and a benchmark per job
    raw = re.compile("|".join(map(re.escape, sorted(raw_ids))).encode("utf-8"))
    assert not {str(path.relative_to(workdir)) for path in written if raw.search(path.read_bytes())}
    assert not [path for path in written if key.read_bytes().strip() in path.read_bytes()]
    conversations = pd.read_csv(workdir / "results/mine/validated/conversations.csv")
    perception = pd.read_csv(workdir / "results/mine/pseudonymised/perception.csv")
    assert conversations["participant_id"].str.fullmatch(r"p_[0-9a-f]{16}").all()
    assert perception[["conversation_left_id", "conversation_right_id"]].stack().isin(conversations["conversation_id"]).all()
    assert perception["choice"].tolist() == ["left", "right", "right"]  # the file's rows, in its order
    assert perception["pair_id"].nunique() == 2 and perception["rater_id"].nunique() == 2
    summary = json.loads((workdir / "results/mine/validated/validation.json").read_text(encoding="utf-8"))
    assert summary["pseudonymised"]["key_file"] == str(key)

    # a new key reruns what the old one made
    key.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    dry = run_on_cohorts(workdir, {"mine": cohort}, "--dry-run", *TARGETS)
    assert dry.returncode == 0, dry.stderr[-4000:]
    assert f"Updated input files: {key}" in dry.stdout + dry.stderr
    assert {"validate_cohort", "pseudonymise_cohort_file"} <= set(re.findall(r"^(?:local)?rule (\w+):", dry.stdout, flags=re.M))


def test_a_key_in_the_run_folder_stops_the_run_before_any_job(tmp_path):
    workdir = tmp_path / "run"
    native_cohort(workdir / "input")
    inside = workdir / "mine.key"
    inside.write_text(secrets.token_hex(32), encoding="utf-8")
    cohort = {"format": "native", "path": str(workdir / "input"), "pseudonymise_ids": {"key_file": str(inside)}}
    process = run_on_cohorts(workdir, {"mine": cohort}, *TARGETS)
    output = process.stdout + process.stderr
    assert process.returncode != 0
    assert output.count(f"{inside}: the pseudonymisation key lies inside {workdir}") == 1
    assert "Traceback" not in output and inside.read_text(encoding="utf-8") not in output
    assert not (workdir / "results").exists()
