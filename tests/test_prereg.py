"""The registered plan is validated at load: schema breaches and inconsistent names are errors."""

from __future__ import annotations

import copy

import pytest
import yaml

from analysis.errors import ConfigError
from analysis.prereg.plan import load_prereg


def load_modified(tmp_path, plan, change):
    modified = copy.deepcopy(plan)
    change(modified)
    path = tmp_path / "prereg.yaml"
    path.write_text(yaml.safe_dump(modified), encoding="utf-8")
    return load_prereg(path)


def test_repository_plan_is_valid(plan):
    assert plan["design"]["reference_arm"] in plan["design"]["arms"]
    assert plan["primary_analysis"]["contrasts"]["method"] == "holm"


def test_unknown_key_is_rejected(tmp_path, plan):
    with pytest.raises(ConfigError, match="Additional properties are not allowed"):
        load_modified(tmp_path, plan, lambda p: p["primary_analysis"].update(robust=True))


def test_unknown_multiplicity_method_is_rejected(tmp_path, plan):
    with pytest.raises(ConfigError, match=r"at 'primary_analysis/contrasts/method': 'sidak' is not one of"):
        load_modified(tmp_path, plan, lambda p: p["primary_analysis"]["contrasts"].update(method="sidak"))


def test_reference_arm_must_be_an_arm(tmp_path, plan):
    with pytest.raises(ConfigError, match="reference_arm 'placebo' is not one of design.arms"):
        load_modified(tmp_path, plan, lambda p: p["design"].update(reference_arm="placebo"))


def test_composite_must_use_registered_dimensions(tmp_path, plan):
    def drop_dimension(p):
        p["outcomes"]["dimensions"].remove("self_oriented")
    with pytest.raises(ConfigError, match="composite.subtract names 'self_oriented'"):
        load_modified(tmp_path, plan, drop_dimension)


def test_hypothesis_term_must_exist(tmp_path, plan):
    with pytest.raises(ConfigError, match="hypothesis H1 tests term 'placebo:post'"):
        load_modified(tmp_path, plan, lambda p: p["hypotheses"][0].update(term="placebo:post"))


def test_single_judge_needs_a_judge(tmp_path, plan):
    with pytest.raises(ConfigError, match="method is 'single' but judge_aggregation.judge is not set"):
        load_modified(tmp_path, plan, lambda p: p["judge_aggregation"].update(method="single"))


def test_missing_plan_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_prereg(tmp_path / "nope.yaml")

