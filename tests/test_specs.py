"""Spec records are validated against their schema and describe the fitted models."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from analysis.errors import PipelineError
from analysis.models.did import primary_analysis
from analysis.prereg.specs import read_spec_record, spec_record, write_rule_spec_record, write_spec_record
from tests.conftest import simulated_outcomes

ARMS = ["control", "video", "coach", "combined"]


def test_primary_execution_describes_the_fit(tmp_path):
    results = primary_analysis(simulated_outcomes(n_per_arm=10), ["overall_empathy"], ARMS, "control", contrast_method="bonferroni")
    record = spec_record(analysis_id="primary_did", family="primary", cohort="x", confirmatory=True, **results.execution)
    assert record["terms"] == ["intercept", "video", "coach", "combined", "post", "video:post", "coach:post", "combined:post"]
    assert record["covariance"]["type"] == "cluster"
    assert record["multiplicity"]["method"] == "bonferroni"
    assert record["sample"] == {"n_obs": 120, "n_participants": 40}
    write_spec_record(record, tmp_path / "spec.json")
    assert read_spec_record(tmp_path / "spec.json") == record
    first = (tmp_path / "spec.json").read_bytes()
    write_spec_record(record, tmp_path / "spec.json")
    assert (tmp_path / "spec.json").read_bytes() == first


def test_record_breaking_schema_is_an_error():
    with pytest.raises(PipelineError, match="spec record breaks its schema"):
        spec_record(analysis_id="x", family="primary", cohort="c", confirmatory="yes", estimator="ols", outcomes=[], terms=[], sample={})
    with pytest.raises(PipelineError, match="Additional properties"):
        spec_record(analysis_id="x", family="p", cohort="c", confirmatory=True, estimator="ols", outcomes=[], terms=[], sample={}, colour="red")


EXECUTION = {"estimator": "ols", "outcomes": ["composite"], "terms": ["post"], "sample": {"n_obs": 3}}


def test_rule_record_takes_exclusions_and_aggregation_from_params(tmp_path):
    params = SimpleNamespace(analysis_id="a", confirmatory=False, exclusions=("short",), judge_aggregation={"method": "mean"})
    record = write_rule_spec_record(params, "c", "primary", EXECUTION, tmp_path / "spec.json")
    assert record["exclusions"] == ["short"]
    assert record["judge_aggregation"] == {"method": "mean"}
    assert read_spec_record(tmp_path / "spec.json") == record


def test_rule_record_with_empty_exclusions_and_aggregation(tmp_path):
    # a rule reading ratings, not the trial, declares both empty
    params = SimpleNamespace(analysis_id="a", confirmatory=True, exclusions=[], judge_aggregation=None)
    record = write_rule_spec_record(params, "c", "reliability", EXECUTION, tmp_path / "spec.json")
    assert record["exclusions"] == []
    assert record["judge_aggregation"] is None


@pytest.mark.parametrize("missing", ["exclusions", "judge_aggregation"])
def test_rule_record_without_a_declared_param_is_an_error(tmp_path, missing):
    fields = {"analysis_id": "a", "confirmatory": True, "exclusions": [], "judge_aggregation": None}
    del fields[missing]
    with pytest.raises(PipelineError, match=f"declares no `{missing}` param"):
        write_rule_spec_record(SimpleNamespace(**fields), "c", "reliability", EXECUTION, tmp_path / "spec.json")
    assert not (tmp_path / "spec.json").exists()


def test_execution_record_can_stand_in_for_the_params(tmp_path):
    execution = {**EXECUTION, "exclusions": ["long"], "judge_aggregation": None}
    record = write_rule_spec_record(SimpleNamespace(analysis_id="a", confirmatory=True), "c", "primary", execution, tmp_path / "spec.json")
    assert record["exclusions"] == ["long"]
    assert record["judge_aggregation"] is None


def test_execution_overrides_exclusions_and_aggregation(tmp_path):
    params = SimpleNamespace(analysis_id="a", confirmatory=False, exclusions=["short"], judge_aggregation={"method": "mean"})
    execution = {**EXECUTION, "exclusions": ["long"], "judge_aggregation": {"method": "single", "judges": ["j1"]}}
    record = write_rule_spec_record(params, "c", "primary", execution, tmp_path / "spec.json")
    assert record["exclusions"] == ["long"]
    assert record["judge_aggregation"] == {"method": "single", "judges": ["j1"]}
    assert "exclusions" in execution
