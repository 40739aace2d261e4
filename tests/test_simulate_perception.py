"""The perception simulator: structure, validity, determinism and recovery of the published numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import expit

from analysis.cohorts.optional import load_elo, load_perception
from analysis.cohorts.outcomes import derive_outcomes
from analysis.constants import DIMENSIONS, MISATTUNED_DIMENSIONS
from analysis.secondary.perception import elo_analysis, perception_analysis
from analysis.simulate.perception import (
    PUBLISHED_BT_ELO_SPEARMAN,
    PUBLISHED_SLOPE,
    PerceptionSimulationParameters,
    calibrate_choice_scale,
    conversation_composite,
    expected_choice_probability,
    expected_slope,
    select_conversations,
    simulate_perception,
)
from tests.plan_keywords import elo_keywords, perception_keywords

SCENARIOS = ["job_loss", "promotion", "undervalued", "loss_dad", "mom_unwell"]


@pytest.fixture(scope="module")
def cohort():
    """400 conversations over five scenarios; six 1-5 dimensions sharing one latent quality."""
    rng = np.random.default_rng(11)
    n = 400
    conversations = pd.DataFrame(
        {
            "conversation_id": [f"c{i:03d}" for i in range(n)],
            "participant_id": [f"p{i // 3:03d}" for i in range(n)],
            "conversation_number": np.arange(n) % 3 + 1,
            "scenario": np.array(SCENARIOS)[np.arange(n) % 5],
            "trouble_type": np.where(np.arange(n) % 5 < 3, "workplace", "personal"),
        }
    )
    quality = rng.standard_normal(n)
    rows = []
    for dimension in DIMENSIONS:
        sign = -1.0 if dimension in MISATTUNED_DIMENSIONS else 1.0
        score = np.clip(np.round(3 + sign * 0.9 * quality + 0.7 * rng.standard_normal(n)), 1, 5)
        rows.append(pd.DataFrame({"conversation_id": conversations["conversation_id"], "judge": "j", "dimension": dimension, "score": score}))
    return conversations, pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def simulated(cohort, plan):
    conversations, scores = cohort
    return simulate_perception(conversations, scores, plan["outcomes"]["composite"], plan["judge_aggregation"], seed=3)


def test_structure_of_the_task(simulated, cohort):
    perception, elo, calibration = simulated
    conversations, _ = cohort
    assert list(perception.columns) == ["rater_id", "pair_id", "scenario", "conversation_left_id", "conversation_right_id", "choice"]
    assert len(perception) == 1500 and perception["rater_id"].nunique() == 150
    assert perception.groupby("rater_id").size().eq(10).all()
    assert not perception.duplicated(["rater_id", "pair_id"]).any()
    assert (perception["conversation_left_id"] != perception["conversation_right_id"]).all()
    scenario = conversations.set_index("conversation_id")["scenario"]
    assert (perception["conversation_left_id"].map(scenario) == perception["scenario"]).all()
    assert (perception["conversation_right_id"].map(scenario) == perception["scenario"]).all()
    assert set(perception["choice"]) == {"left", "right"}
    shown = set(perception["conversation_left_id"]) | set(perception["conversation_right_id"])
    assert shown <= set(elo["conversation_id"]) and len(elo) == 150
    assert elo["conversation_id"].map(scenario).value_counts().eq(30).all()
    assert calibration["n_choices"] == 1500 and 0 < calibration["elo_loading"] <= 1


def test_simulated_files_pass_the_contract(simulated, cohort, tmp_path):
    perception, elo, _ = simulated
    conversations, _ = cohort
    perception.to_csv(tmp_path / "perception.csv", index=False)
    elo.to_csv(tmp_path / "elo.csv", index=False)
    assert len(load_perception(tmp_path / "perception.csv", conversations)) == 1500
    assert len(load_elo(tmp_path / "elo.csv", conversations)) == 150


def test_deterministic_for_a_seed(simulated, cohort, plan):
    conversations, scores = cohort
    again = simulate_perception(conversations, scores, plan["outcomes"]["composite"], plan["judge_aggregation"], seed=3)
    pd.testing.assert_frame_equal(again[0], simulated[0])
    pd.testing.assert_frame_equal(again[1], simulated[1])
    other = simulate_perception(conversations, scores, plan["outcomes"]["composite"], plan["judge_aggregation"], seed=4)
    assert not other[0].equals(simulated[0])


def test_expected_choice_probability_equals_numerical_integration():
    for mean, sd in ((0.0, 1.0), (0.8, 0.5), (-1.3, 2.0)):
        direct, _ = integrate.quad(lambda z, m=mean, s=sd: expit(m + s * z) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi), -12, 12)
        assert expected_choice_probability(np.array([mean]), sd)[0] == pytest.approx(direct, abs=1e-7)
    # without perception noise the rule is exactly logistic in the gap
    np.testing.assert_allclose(expected_choice_probability(np.array([0.3, 1.2]), 0.0), expit([0.3, 1.2]))


def test_calibrated_scale_gives_the_target_slope():
    rng = np.random.default_rng(2)
    gap = np.abs(rng.integers(-12, 13, 1400)).astype(float)
    gap[gap == 0] = 1.0
    scenario = rng.choice(SCENARIOS, 1400)
    beta = calibrate_choice_scale(gap, scenario, sd=4.5, rho=0.65, slope=0.144)
    design = np.column_stack([np.ones(len(gap)), gap, pd.get_dummies(pd.Series(scenario), drop_first=True, dtype=float).to_numpy()])
    assert expected_slope(beta, gap / 4.5, design, 0.65) == pytest.approx(0.144, abs=1e-7)
    # with rho = 1 the slope per point is beta / sd
    beta_exact = calibrate_choice_scale(gap, scenario, sd=4.5, rho=1.0, slope=0.144)
    assert beta_exact == pytest.approx(0.144 * 4.5, rel=1e-6)


def test_recovers_the_published_slope_and_rank_correlation(cohort, plan):
    """Averaged over seeds, the registered analysis of simulated data recovers the published numbers
    (0.144 log-odds per point, Kumar et al. 2026; rho = .849 BT vs Elo); one seed's SD is about .028
    for the slope and .02 for rho, so the mean of eight is within about 3 SE of the target."""
    conversations, scores = cohort
    outcomes = derive_outcomes(
        pd.DataFrame({"participant_id": conversations["participant_id"].unique(), "arm": "control"}), conversations, scores,
        conversations, plan["outcomes"]["dimensions"], plan["outcomes"]["composite"], plan["judge_aggregation"],
        plan["design"]["post_conversations"],
    )
    settings = plan["secondary_analyses"]["perception"]
    slopes, rhos = [], []
    for seed in range(8):
        perception, elo, _ = simulate_perception(conversations, scores, plan["outcomes"]["composite"], plan["judge_aggregation"], seed)
        results = perception_analysis(perception, outcomes, **perception_keywords(settings))
        slopes.append(results.logit.set_index("term").loc["abs_gap", "estimate"])
        rhos.append(elo_analysis(results.choices, results.strengths, elo, **elo_keywords(settings)).rank_correlations["rho"].iloc[0])
    assert np.mean(slopes) == pytest.approx(PUBLISHED_SLOPE, abs=0.03)
    assert np.mean(rhos) == pytest.approx(PUBLISHED_BT_ELO_SPEARMAN, abs=0.025)


def test_selection_skips_scenarios_without_a_pair():
    table = pd.DataFrame({"conversation_id": [f"c{i}" for i in range(9)], "scenario": ["a"] * 4 + ["b"] * 4 + ["c"],
                          "composite": np.arange(9.0)})
    chosen = select_conversations(table, 6, np.random.default_rng(0))
    assert chosen["scenario"].value_counts().to_dict() == {"a": 3, "b": 3}


def test_composite_follows_the_registered_definition(cohort, plan):
    conversations, scores = cohort
    table = conversation_composite(conversations, scores, plan["outcomes"]["composite"], plan["judge_aggregation"])
    wide = scores.pivot_table(index="conversation_id", columns="dimension", values="score")
    expected = wide[list(DIMENSIONS[:3])].sum(axis=1) - wide[list(DIMENSIONS[3:])].sum(axis=1)
    np.testing.assert_allclose(table.set_index("conversation_id")["composite"], expected.loc[table["conversation_id"]])


@pytest.mark.parametrize("field", [{"perceived_correlation": 0.0}, {"bt_elo_spearman": 1.0}, {"n_raters": 0}, {"slope": -1.0}])
def test_invalid_parameters_are_rejected(field):
    with pytest.raises(ValueError):
        PerceptionSimulationParameters(**field)
