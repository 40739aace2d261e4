"""Judge aggregation and the composite, against direct pandas computations."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.cohorts.outcomes import aggregate_judges, derive_outcomes
from analysis.errors import ConfigError


def outcomes(cohort, plan, aggregation):
    return derive_outcomes(
        cohort.participants,
        cohort.conversations,
        cohort.scores,
        cohort.conversations[["conversation_id"]],
        plan["outcomes"]["dimensions"],
        plan["outcomes"]["composite"],
        aggregation,
        plan["design"]["post_conversations"],
    )


def test_mean_of_judges_and_composite(small_cohort, plan):
    table = outcomes(small_cohort, plan, {"method": "mean", "judges": "all"})
    scores = small_cohort.scores
    one = scores[(scores["conversation_id"] == "p005-2")]
    row = table.set_index("conversation_id").loc["p005-2"]
    for dimension in plan["outcomes"]["dimensions"]:
        assert row[dimension] == pytest.approx(one.loc[one["dimension"] == dimension, "score"].mean(), abs=1e-12)
    expected = (
        row["validating_emotions"] + row["encouraging_elaboration"] + row["demonstrating_understanding"]
        - row["advice_giving"] - row["self_oriented"] - row["dismissing_emotions"]
    )
    assert row["overall_empathy"] == pytest.approx(expected, abs=1e-12)
    assert row["post"] == 1 and row["n_judges"] == 2 and row["arm"] == "control"
    assert table.set_index("conversation_id").loc["p005-1", "post"] == 0
    assert list(table.columns[:9]) == [
        "conversation_id", "participant_id", "arm", "conversation_number", "post", "scenario", "trouble_type", "n_judges",
        "judges",
    ]
    assert row["judges"] == "judge_a;judge_b"


def test_median_of_three_judges_with_distinct_scores(small_cohort, plan):
    """Three judges scoring 1, 2 and 5: the median (2) differs from the mean (8/3), so the two cannot be confused."""
    scores = small_cohort.scores
    third = scores[scores["judge"] == "judge_a"].assign(judge="judge_c")
    three = pd.concat([scores, third], ignore_index=True)
    given = {"judge_a": 1.0, "judge_b": 2.0, "judge_c": 5.0}
    three["score"] = three["judge"].map(given)
    median = aggregate_judges(three, "median", "all").set_index("conversation_id")
    mean = aggregate_judges(three, "mean", "all").set_index("conversation_id")
    assert (median["validating_emotions"] == 2.0).all()
    assert mean["validating_emotions"].to_numpy() == pytest.approx(8.0 / 3.0, abs=1e-12)
    assert (median["n_judges"] == 3).all() and (median["judges"] == "judge_a;judge_b;judge_c").all()


def test_only_the_judges_the_exclusion_step_kept_make_a_row(small_cohort, plan):
    scores = small_cohort.scores.copy()
    scores.loc[scores["judge"] == "judge_b", "score"] = 5.0
    included = small_cohort.conversations[["conversation_id", "participant_id"]].assign(judges="judge_a;judge_b")
    included.loc[included["conversation_id"] == "p002-2", "judges"] = "judge_a"
    table = derive_outcomes(
        small_cohort.participants, small_cohort.conversations, scores, included, plan["outcomes"]["dimensions"],
        plan["outcomes"]["composite"], {"method": "mean", "judges": "all"}, plan["design"]["post_conversations"],
    ).set_index("conversation_id")
    judge_a = scores[(scores["conversation_id"] == "p002-2") & (scores["judge"] == "judge_a")].set_index("dimension")["score"]
    assert table.loc["p002-2", "judges"] == "judge_a" and table.loc["p002-2", "n_judges"] == 1
    assert table.loc["p002-2", "self_oriented"] == judge_a["self_oriented"]
    assert table.loc["p002-1", "n_judges"] == 2


def test_single_judge(small_cohort, plan):
    scores = small_cohort.scores.copy()
    scores.loc[scores["judge"] == "judge_b", "score"] = 5.0
    single = aggregate_judges(scores, "single", "all", judge="judge_b")
    assert (single["validating_emotions"] == 5.0).all() and (single["n_judges"] == 1).all()
    assert (single["judges"] == "judge_b").all()


def test_analysed_conversation_without_scores_is_an_error(small_cohort, plan):
    scores = small_cohort.scores[small_cohort.scores["conversation_id"] != "p003-1"]
    cohort = type(small_cohort)(small_cohort.participants, small_cohort.conversations, small_cohort.messages, scores)
    with pytest.raises(ConfigError, match="lack an aggregated score"):
        outcomes(cohort, plan, {"method": "mean", "judges": "all"})
