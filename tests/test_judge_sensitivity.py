"""Judge sensitivity: the primary DiD rerun once per judge, checked against direct statsmodels fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from analysis.cohorts.exclusions import apply_exclusions
from analysis.cohorts.outcomes import derive_outcomes
from analysis.errors import AnalysisError
from analysis.models.did import primary_analysis
from analysis.render.judge_sensitivity import judge_sensitivity_table, judge_sensitivity_text
from analysis.secondary.judge_sensitivity import (
    SENSITIVITY_COLUMNS,
    SINGLE_JUDGE_NOTE,
    judge_sensitivity,
)
from tests.conftest import make_small_cohort


def _run(cohort, plan, judges="all", aggregation=None):
    design, outcomes = plan["design"], plan["outcomes"]
    aggregation = aggregation or plan["judge_aggregation"]
    excluded = apply_exclusions(cohort.participants, cohort.conversations, cohort.messages, cohort.scores, plan["exclusions"], outcomes["dimensions"], aggregation.get("judges", "all"),
                                design["conversations_per_participant"], design["arms"])
    data = derive_outcomes(cohort.participants, cohort.conversations, cohort.scores, excluded.included, outcomes["dimensions"],
                           outcomes["composite"], aggregation, design["post_conversations"])
    primary = primary_analysis(data, plan["primary_analysis"]["outcomes"], design["arms"], design["reference_arm"])
    result = judge_sensitivity(
        cohort.participants, cohort.conversations, cohort.messages, cohort.scores, primary.coefficients, plan["exclusions"],
        outcomes["dimensions"], outcomes["composite"], design["post_conversations"], design["conversations_per_participant"],
        design["arms"], design["reference_arm"], plan["primary_analysis"]["outcomes"], judges=judges,
    )
    return result, primary


@pytest.fixture(scope="module")
def two_judges(plan):
    cohort = make_small_cohort(n_per_arm=10, judges=("judge_a", "judge_b"))
    return (cohort, *_run(cohort, plan))


def test_per_judge_estimates_average_to_the_mean_of_judges_primary(two_judges):
    _, result, primary = two_judges
    assert list(result.effects.columns) == SENSITIVITY_COLUMNS
    assert sorted(result.effects["judge"].unique()) == ["judge_a", "judge_b"]
    assert len(result.effects) == 2 * 7 * 3 and set(result.effects["term"]) == {"video:post", "coach:post", "combined:post"}
    # OLS is linear in the outcome and both judges score the same conversations: the mean-of-judges
    # estimate is exactly the mean of the per-judge estimates
    averaged = result.effects.groupby(["outcome", "term"])["estimate"].mean()
    registered = result.effects.groupby(["outcome", "term"])["primary_estimate"].first()
    np.testing.assert_allclose(averaged.to_numpy(), registered.to_numpy(), atol=1e-12)
    direct = primary.coefficients.set_index(["outcome", "term"])["estimate"]
    np.testing.assert_allclose(registered.to_numpy(), direct.loc[registered.index].to_numpy(), atol=0)
    np.testing.assert_allclose(result.effects["difference"], result.effects["estimate"] - result.effects["primary_estimate"], atol=0)


def test_one_judge_run_equals_a_direct_statsmodels_fit(two_judges):
    cohort, result, _ = two_judges
    scores = cohort.scores[cohort.scores["judge"] == "judge_b"]
    wide = scores.pivot(index="conversation_id", columns="dimension", values="score").reset_index()
    data = cohort.conversations.merge(cohort.participants[["participant_id", "arm"]], on="participant_id").merge(wide, on="conversation_id")
    data["post"] = (data["conversation_number"] > 1).astype(int)
    fit = smf.ols("advice_giving ~ C(arm, Treatment('control')) * post", data).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(data["participant_id"])[0]}
    )
    row = result.effects.set_index(["judge", "outcome", "term"]).loc[("judge_b", "advice_giving", "coach:post")]
    assert row["estimate"] == pytest.approx(fit.params["C(arm, Treatment('control'))[T.coach]:post"], abs=1e-10)
    assert row["std_error"] == pytest.approx(fit.bse["C(arm, Treatment('control'))[T.coach]:post"], abs=1e-10)
    assert (row["n_obs"], row["n_clusters"]) == (120, 40)


def test_single_judge_cohort_repeats_the_primary_with_a_note(plan):
    cohort = make_small_cohort(n_per_arm=8, judges=("only",))
    result, primary = _run(cohort, plan)
    assert set(result.effects["judge"]) == {"only"}
    np.testing.assert_allclose(result.effects["difference"], 0.0, atol=1e-12)
    assert result.execution["details"]["note"] == SINGLE_JUDGE_NOTE
    text = judge_sensitivity_text(result.effects, primary.coefficients, plan["judge_aggregation"], "x", synthetic=False)
    assert SINGLE_JUDGE_NOTE in text["md"] and "SYNTHETIC" not in text["md"]


def test_a_judge_missing_conversations_is_excluded_in_its_own_run_and_listed(plan):
    cohort = make_small_cohort(n_per_arm=8, judges=("judge_a", "judge_b"))
    dropped = cohort.conversations["conversation_id"].iloc[0]
    scores = cohort.scores[~((cohort.scores["judge"] == "judge_b") & (cohort.scores["conversation_id"] == dropped))]
    cohort = cohort.__class__(cohort.participants, cohort.conversations, cohort.messages, scores)
    result, _ = _run(cohort, plan)
    n_obs = result.effects.groupby("judge")["n_obs"].first()
    assert n_obs.to_dict() == {"judge_a": 96, "judge_b": 93}          # participant incomplete for judge_b only
    listed = result.exclusions[result.exclusions["judge"] == "judge_b"]
    assert set(listed["rule"]) == {"unscored_conversation", "incomplete_participant"}
    assert dropped in set(listed["record_id"])
    assert result.exclusions[result.exclusions["judge"] == "judge_a"].empty


def test_unknown_registered_judge_is_an_error(plan):
    cohort = make_small_cohort(n_per_arm=4)
    with pytest.raises(AnalysisError, match=r"judge\(s\) \['gemini'\] not in the cohort"):
        _run(cohort, plan, judges=["gemini"])


def test_rendered_table_shows_primary_and_each_judge(plan, two_judges):
    _, result, primary = two_judges
    table = judge_sensitivity_table(result.effects, primary.coefficients, "Primary (mean of judges)")
    assert list(table.columns) == ["Outcome", "Arm x post", "Primary (mean of judges)", "judge_a", "judge_b", "Largest |difference|"]
    assert len(table) == 7 * 3
    assert "SYNTHETIC DATA" in judge_sensitivity_text(result.effects, primary.coefficients, plan["judge_aggregation"], "s", True)["csv"]


def test_a_judge_with_a_constant_dimension_gets_not_estimable_rows(plan, two_judges):
    """judge_b gives every conversation 3 on advice_giving: that outcome has an SD of 0 in judge_b's run only."""
    cohort, reference, _ = two_judges
    scores = cohort.scores.copy()
    flat = (scores["judge"] == "judge_b") & (scores["dimension"] == "advice_giving")
    scores.loc[flat, "score"] = 3
    cohort = cohort.__class__(cohort.participants, cohort.conversations, cohort.messages, scores)
    result, primary = _run(cohort, plan)
    assert list(result.effects.columns) == SENSITIVITY_COLUMNS
    bad = result.effects[(result.effects["judge"] == "judge_b") & (result.effects["outcome"] == "advice_giving")]
    assert len(bad) == 3 and bad[["estimate", "std_error", "p_value", "difference"]].isna().all().all()
    assert bad["note"].str.contains(r"judge 'judge_b': outcome 'advice_giving': not estimable, every analysed conversation "
                                    r"has the same value").all()
    assert bad["primary_estimate"].notna().all() and (bad["n_obs"] == 120).all()
    good = result.effects.drop(bad.index)
    assert (good["note"] == "").all() and np.isfinite(good[["estimate", "std_error", "p_value"]].to_numpy()).all()
    # the other runs are untouched by the degenerate outcome
    unchanged = reference.effects.set_index(["judge", "outcome", "term"])
    ours = good.set_index(["judge", "outcome", "term"])
    judge_a = ours.xs("judge_a", level="judge", drop_level=False).index
    np.testing.assert_allclose(ours.loc[judge_a, "estimate"], unchanged.loc[judge_a, "estimate"], atol=1e-12)
    listed = result.execution["details"]["not_estimable"]
    assert [(entry["judge"], entry["outcome"]) for entry in listed] == [("judge_b", "advice_giving")]
    table = judge_sensitivity_table(result.effects, primary.coefficients, "Primary (mean of judges)")
    assert (table["judge_b"] == "not estimable").sum() == 3 and (table["judge_a"] != "not estimable").all()
    assert "not estimable" in table.attrs["note"]
