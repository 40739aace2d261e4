"""Reliability and reliable change against the issue's formulas, a direct statsmodels fit, lme4 and the paper.

lme4 reference (rows ``model == "reliability"`` of tests/reference/mixed_lme4_*.csv, see tests/test_mixed.py):

    lmer(overall_empathy ~ post + (1 | participant_id), data = control arm only, REML = TRUE)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from analysis.errors import AnalysisError
from analysis.models.reliable_change import (
    EXCLUDED_COLUMNS,
    IMPROVED,
    NO_CHANGE,
    PARTICIPANT_COLUMNS,
    RELIABILITY_COLUMNS,
    RESPONDER_COLUMNS,
    WORSENED,
    Reliability,
    baseline_conversations,
    compare_with_published,
    load_published_reliable_change,
    participant_change,
    reliable_change_analysis,
    responder_summary,
    within_residual_sum_of_squares,
)
from analysis.prereg.specs import spec_record
from tests.test_mixed import ARMS, TOLERANCE, check_data_unchanged, mixed_plan, paper_sim_outcomes, small_cohort_outcomes


def analyse(data: pd.DataFrame, **overrides):
    plan = mixed_plan()
    settings = {
        "arms": ARMS, "reliability_arm": plan["reliable_change"]["reliability_arm"], "optimizers": plan["optimizers"],
        "conversations_per_participant": 3, "post_conversations": [2, 3], "outcome": plan["reliable_change"]["outcome"],
        "terms": plan["reliable_change"]["terms"], "critical_value": plan["reliable_change"]["critical_value"],
    }
    settings.update(overrides)
    return reliable_change_analysis(data, **settings)


def test_formulas_reproduce_the_published_values_from_the_published_variances():
    # Published: sigma2_u 11.87, sigma2_e 5.38 -> r1 0.688, r2 0.815, SE_d 2.841 (Kumar et al. 2026).
    published = Reliability(sigma2_u=11.87, sigma2_e=5.38, n_baseline=1, n_post=2)
    assert round(published.r1, 3) == 0.688
    assert round(published.r2, 3) == 0.815
    assert round(published.se_d, 3) == 2.841
    hand = Reliability(sigma2_u=12.0, sigma2_e=6.0, n_baseline=1, n_post=2)
    assert hand.r1 == pytest.approx(12 / 18) and hand.r2 == pytest.approx(12 / 15) and hand.se_d == pytest.approx(3.0)
    assert Reliability(12.0, 6.0, n_baseline=2, n_post=2).se_d == pytest.approx(np.sqrt(6.0))


@pytest.mark.parametrize("name", ["small_cohort", "paper_sim"])
def test_variance_components_equal_direct_statsmodels_fit_and_lme4(name):
    data = paper_sim_outcomes() if name == "paper_sim" else small_cohort_outcomes()
    reference = check_data_unchanged(data, name)
    row = analyse(data).reliability.iloc[0]
    control = data[data["arm"] == "control"]
    direct = smf.mixedlm("overall_empathy ~ post", control, groups=control["participant_id"]).fit(reml=True, method=["bfgs"], gtol=1e-8)
    assert row["sigma2_u"] == pytest.approx(float(direct.cov_re.iloc[0, 0]), abs=1e-6)
    assert row["sigma2_e"] == pytest.approx(direct.scale, abs=1e-6)
    lme4 = reference[reference["model"] == "reliability"].set_index("term")["estimate"]
    assert abs(row["sigma2_u"] - lme4["var(participant)"]) < TOLERANCE
    assert abs(row["sigma2_e"] - lme4["var(residual)"]) < TOLERANCE
    assert abs(-2 * row["log_likelihood"] - lme4["reml_criterion"]) < TOLERANCE
    assert row["r1"] == pytest.approx(row["sigma2_u"] / (row["sigma2_u"] + row["sigma2_e"]), rel=1e-12)
    assert row["r2"] == pytest.approx(row["sigma2_u"] / (row["sigma2_u"] + row["sigma2_e"] / 2), rel=1e-12)
    assert row["se_d"] == pytest.approx(np.sqrt(1.5 * row["sigma2_e"]), rel=1e-12)
    assert row["threshold"] == pytest.approx(1.96 * row["se_d"], rel=1e-12)
    assert (row["n_obs"], row["n_participants"]) == (len(control), control["participant_id"].nunique())


def test_change_scores_and_classification_by_hand():
    data = pd.DataFrame(
        {
            "participant_id": np.repeat(["a", "b", "c", "d", "e"], 3),
            "arm": np.repeat(["control", "control", "coach", "coach", "video"], 3),
            "conversation_number": np.tile([1, 2, 3], 5),
            "overall_empathy": [0, 6, 6, 0, -2, -3, 1, 3, 4, 2, 2, 2, 0, 3, 4],
        }
    )
    participants, excluded = participant_change(data, "overall_empathy", [1], [2, 3], se_d=1.0, critical_value=3.0)
    assert list(participants.columns) == PARTICIPANT_COLUMNS and excluded.empty
    table = participants.set_index("participant_id")
    # a: 6 - 0 = 6 > 3; b: -2.5 < -3? no; c: 2.5; d: 0; e: 3.5 - 0 = 3.5 > 3
    np.testing.assert_allclose(table["d"], [6.0, -2.5, 2.5, 0.0, 3.5])
    np.testing.assert_allclose(table["post_mean"], [6.0, -2.5, 3.5, 2.0, 3.5])
    assert table["classification"].tolist() == [IMPROVED, NO_CHANGE, NO_CHANGE, NO_CHANGE, IMPROVED]
    # the criterion is strict: a change of exactly z * SE_d is not reliable
    at_threshold, _ = participant_change(data, "overall_empathy", [1], [2, 3], se_d=2.0, critical_value=3.0)
    assert at_threshold.set_index("participant_id").loc["a", "classification"] == NO_CHANGE
    declined, _ = participant_change(data, "overall_empathy", [1], [2, 3], se_d=1.0, critical_value=2.0)
    assert declined.set_index("participant_id").loc["b", "classification"] == WORSENED


def test_participants_without_every_conversation_are_listed_not_dropped():
    data = small_cohort_outcomes()
    results = analyse(data)
    assert list(results.excluded.columns) == EXCLUDED_COLUMNS
    assert results.excluded.set_index("participant_id")["reason"].to_dict() == {
        "P0004": "no score for conversation(s) 2",
        "P0005": "no score for conversation(s) 3",
        "P0009": "no score for conversation(s) 1",
        "P0014": "no score for conversation(s) 3",
    }
    assert len(results.participants) + len(results.excluded) == data["participant_id"].nunique()
    responders = results.responders.set_index("arm")
    assert responders["n_excluded"].to_dict() == {"control": 2, "video": 0, "coach": 2, "combined": 0}
    # the reliability model still uses every control conversation, incomplete participants included
    assert results.reliability.iloc[0]["n_obs"] == (data["arm"] == "control").sum()


def test_responder_summary_equals_direct_pandas_computation():
    results = analyse(small_cohort_outcomes())
    assert list(results.responders.columns) == RESPONDER_COLUMNS
    assert list(results.reliability.columns) == RELIABILITY_COLUMNS
    participants = results.participants
    responders = results.responders.set_index("arm")
    for arm, group in participants.groupby("arm"):
        row = responders.loc[arm]
        assert row["n"] == len(group)
        assert row["n_improved"] == (group["d"] > results.reliability.iloc[0]["threshold"]).sum()
        assert row["n_worsened"] == (group["d"] < -results.reliability.iloc[0]["threshold"]).sum()
        assert row["n_improved"] + row["n_no_change"] + row["n_worsened"] == row["n"]
        assert row["share_improved"] == pytest.approx(row["n_improved"] / row["n"])
        assert row["share_no_change"] + row["share_improved"] + row["share_worsened"] == pytest.approx(1.0)
        assert row["mean_d"] == pytest.approx(group["d"].mean()) and row["sd_d"] == pytest.approx(group["d"].std(ddof=1))
    assert results.responders["arm"].tolist() == ARMS


def test_arm_without_participants_gets_an_empty_row():
    participants = pd.DataFrame({"participant_id": ["a"], "arm": ["control"], "baseline": [0.0], "post_mean": [1.0], "d": [1.0], "classification": [NO_CHANGE]})
    summary = responder_summary(participants, pd.DataFrame(columns=EXCLUDED_COLUMNS), ["control", "video"]).set_index("arm")
    assert summary.loc["video", "n"] == 0 and np.isnan(summary.loc["video", "share_improved"])
    assert summary.loc["control", "share_no_change"] == 1.0


def test_paper_sim_is_in_the_neighbourhood_of_the_published_values():
    # paper_sim is synthetic (calibrated to sigma2_u 11.87, sigma2_e 5.38), so only closeness is expected.
    # Measured: r1 0.698 (published 0.688), r2 0.822 (0.815), SE_d 2.819 (2.841); mean d control 0.076 (-0.053),
    # video 1.667 (1.551), coach 2.576 (2.855), combined 3.632 (3.575).
    comparison = compare_with_published(analyse(paper_sim_outcomes())).set_index(["quantity", "arm"])
    for quantity, tolerance in {"r1": 0.05, "r2": 0.05, "se_d": 0.25}.items():
        assert abs(comparison.loc[(quantity, ""), "difference"]) < tolerance, quantity
    mean_d = comparison.xs("mean_d", level="quantity")
    assert (mean_d["difference"].abs() < 0.5).all(), mean_d
    assert mean_d["achieved"].is_monotonic_increasing  # control < video < coach < combined, as published


def test_published_values_are_read_with_their_source():
    published = load_published_reliable_change()
    assert len(published) == 3 + 4 * 4
    indexed = published.set_index(["quantity", "arm"])["value"]
    assert indexed[("r1", "")] == 0.688 and indexed[("se_d", "")] == 2.841
    assert indexed[("mean_d", "combined")] == 3.575 and indexed[("share_improved", "coach")] == 0.216
    assert published["source"].str.contains("Kumar et al. 2026").all()


def test_bad_input_is_rejected():
    data = small_cohort_outcomes()
    with pytest.raises(AnalysisError, match="no conversations in the reliability arm 'placebo'"):
        analyse(data, reliability_arm="placebo")
    duplicated = pd.concat([data, data.iloc[[0]]], ignore_index=True)
    with pytest.raises(AnalysisError, match="more than one row for conversation 1"):
        analyse(duplicated)
    with pytest.raises(AnalysisError, match="needs a baseline conversation"):
        baseline_conversations(2, [1, 2])
    with pytest.raises(AnalysisError, match="lack the reliable-change outcome column 'composite'"):
        analyse(data, outcome="composite")
    control_participant = data.loc[data["arm"] == "control", "participant_id"].iloc[-1]
    gap = data.assign(overall_empathy=data["overall_empathy"].where(data["participant_id"] != control_participant))
    with pytest.raises(AnalysisError, match="3 missing value.*arm 'control'"):
        analyse(gap)


def test_missing_score_outside_the_reliability_arm_is_listed():
    data = small_cohort_outcomes()
    video = data.loc[data["arm"] == "video", "participant_id"].iloc[-1]
    gap = data.assign(overall_empathy=data["overall_empathy"].where((data["participant_id"] != video) | (data["conversation_number"] != 2)))
    excluded = analyse(gap).excluded.set_index("participant_id")
    assert excluded.loc[video, "reason"] == "no score for conversation(s) 2"


def test_spec_record_describes_the_run():
    results = analyse(small_cohort_outcomes())
    record = spec_record(analysis_id="reliable_change", family="mixed", cohort="small", confirmatory=False, **results.execution)
    assert record["terms"] == ["intercept", "post"]
    assert record["sample"]["n_participants"] == 116 and record["sample"]["n_participants_excluded"] == 4
    assert record["details"]["baseline_conversations"] == [1] and record["details"]["post_conversations"] == [2, 3]
    assert record["details"]["reliability_model"] == "overall_empathy ~ post + (1 | participant_id)"


def test_a_constant_outcome_in_the_reliability_arm_is_refused_with_the_reason():
    data = small_cohort_outcomes()
    flat = data.copy()
    flat.loc[flat["arm"] == "control", "overall_empathy"] = 3
    with pytest.raises(AnalysisError, match=r"'overall_empathy': reliability not estimable, every conversation in arm 'control' "
                                            r"has the same score \(3\): its SD is 0"):
        analyse(flat)


def test_no_within_participant_variation_is_refused_rather_than_a_zero_se_d():
    """Each control participant's scores are their own level plus the same post shift: sigma2_e = 0, SE_d = 0."""
    data = small_cohort_outcomes()
    exact = data.copy()
    control = exact["arm"] == "control"
    level = exact.loc[control, "participant_id"].str[1:].astype(int) % 5
    exact.loc[control, "overall_empathy"] = level + 2 * exact.loc[control, "post"]
    with pytest.raises(AnalysisError, match=r"reliable change not estimable, in arm 'control'.*SE_d are 0"):
        analyse(exact)


@pytest.mark.parametrize("n_fixed", [0, 1, 2])
def test_within_residual_sum_of_squares_equals_the_dummy_regression(n_fixed):
    """Second formulation: least squares on a dense design of one dummy per participant and the fixed
    columns, against the demeaned fit (Frisch-Waugh-Lovell); unequal group sizes."""
    rng = np.random.default_rng(7)
    groups = np.repeat([f"p{k}" for k in range(40)], rng.integers(1, 5, size=40))
    fixed = rng.normal(size=(len(groups), n_fixed))
    y = rng.normal(size=len(groups)) + fixed.sum(axis=1)
    dummies = pd.get_dummies(pd.Series(groups), dtype=float).to_numpy()
    design = np.column_stack([dummies, fixed])
    dense = float(np.sum((y - design @ np.linalg.lstsq(design, y, rcond=None)[0]) ** 2))
    assert within_residual_sum_of_squares(y, fixed, groups) == pytest.approx(dense, rel=1e-10)
