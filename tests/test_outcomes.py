"""Judge aggregation and the composite, against direct pandas computations."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import ConfigError
from analysis.outcomes import aggregate_judges, derive_outcomes


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
    assert list(table.columns[:8]) == [
        "conversation_id", "participant_id", "arm", "conversation_number", "post", "scenario", "trouble_type", "n_judges",
    ]


def test_median_and_single_judge(small_cohort, plan):
    scores = small_cohort.scores.copy()
    scores.loc[scores["judge"] == "judge_b", "score"] = 5.0
    median = aggregate_judges(scores, "median", "all")
    single = aggregate_judges(scores, "single", "all", judge="judge_b")
    assert (single["validating_emotions"] == 5.0).all() and (single["n_judges"] == 1).all()
    judge_a = scores[(scores["judge"] == "judge_a") & (scores["dimension"] == "self_oriented")].set_index("conversation_id")["score"]
    np.testing.assert_allclose(median.set_index("conversation_id")["self_oriented"], (judge_a + 5.0) / 2)


def test_analysed_conversation_without_scores_is_an_error(small_cohort, plan):
    scores = small_cohort.scores[small_cohort.scores["conversation_id"] != "p003-1"]
    cohort = type(small_cohort)(small_cohort.participants, small_cohort.conversations, small_cohort.messages, scores)
    with pytest.raises(ConfigError, match="lack an aggregated score"):
        outcomes(cohort, plan, {"method": "mean", "judges": "all"})
