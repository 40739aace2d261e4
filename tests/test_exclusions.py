"""Registered exclusions: every excluded record listed, the flow adds up exactly."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.cohorts.exclusions import apply_exclusions
from analysis.errors import AnalysisError, ConfigError


def run(cohort, plan, **overrides):
    """apply_exclusions on the cohort with the registered settings, some replaced by ``overrides``; whatever is
    excluded, the flow of the result must add up."""
    arguments = dict(
        participants=cohort.participants,
        conversations=cohort.conversations,
        messages=cohort.messages,
        scores=cohort.scores,
        rules=plan["exclusions"],
        dimensions=plan["outcomes"]["dimensions"],
        judges="all",
        conversations_per_participant=3,
        arms=plan["design"]["arms"],
    )
    arguments.update(overrides)
    result = apply_exclusions(**arguments)
    check_flow_adds_up(result.flow)
    return result


def excluded_records(result):
    """The records an exclusions result lists, by record_id."""
    return result.exclusions.set_index("record_id")


def check_flow_adds_up(flow):
    for arm, block in flow.groupby("arm"):
        randomised = block[block["stage"] == "randomised"].iloc[0]
        rest = block[block["stage"] != "randomised"][["n_participants", "n_conversations", "n_judge_sets"]].sum()
        assert rest["n_participants"] == randomised["n_participants"], arm
        assert rest["n_conversations"] == randomised["n_conversations"], arm
        assert rest["n_judge_sets"] == randomised["n_judge_sets"], arm


def test_complete_cohort_loses_nobody(small_cohort, plan):
    result = run(small_cohort, plan)
    assert result.exclusions.empty
    assert len(result.included) == len(small_cohort.conversations)
    analysed = result.flow.query("arm == 'all' and stage == 'analysed'").iloc[0]
    assert (analysed["n_participants"], analysed["n_conversations"]) == (24, 72)
    # two judges scored every conversation
    assert analysed["n_judge_sets"] == 144
    assert (result.included["judges"] == "judge_a;judge_b").all()


def test_unscored_conversation_takes_its_participant_with_it(small_cohort, plan):
    scores = small_cohort.scores
    drop = (scores["conversation_id"] == "p007-2") & (scores["dimension"] == "self_oriented")
    result = run(small_cohort, plan, scores=scores[~drop])
    listed = excluded_records(result)
    # both judges' sets of p007-2 lack self_oriented, so neither counts and nothing scores p007-2
    assert listed.loc["p007-2/judge_a", "rule"] == "incomplete_judge_scores"
    assert listed.loc["p007-2/judge_a", "reason"] == "judge judge_a scored 5 of 6 dimensions; missing: self_oriented"
    assert listed.loc["p007-2", "rule"] == "unscored_conversation"
    assert listed.loc["p007-2", "reason"].startswith("no score from any judge on: validating_emotions, ")
    assert listed.loc["p007", "level"] == "participant"
    assert listed.loc["p007", "reason"] == "2 of 3 conversations analysable"
    assert set(listed.index) == {"p007-2/judge_a", "p007-2/judge_b", "p007-2", "p007", "p007-1", "p007-3"}
    assert listed.loc["p007-1", "rule"] == "incomplete_participant"
    assert (listed["arm"] == "video").all()
    assert not result.included["participant_id"].eq("p007").any()
    video = result.flow.query("arm == 'video'").set_index(["stage", "rule"])
    assert video.loc[("excluded", "unscored_conversation"), "n_conversations"] == 1
    assert video.loc[("excluded", "incomplete_judge_scores"), "n_judge_sets"] == 2
    assert video.loc[("excluded", "incomplete_judge_scores"), "n_conversations"] == 0
    # the judge sets of p007-1 and p007-3 leave with their participant
    assert video.loc[("excluded", "incomplete_participant"), "n_judge_sets"] == 4
    assert video.loc[("excluded", "incomplete_participant"), "n_participants"] == 1
    assert video.loc[("excluded", "incomplete_participant"), "n_conversations"] == 2
    assert video.loc[("analysed", ""), "n_participants"] == 5


def test_missing_conversation_and_participant_without_conversations(small_cohort, plan):
    conversations = small_cohort.conversations[small_cohort.conversations["conversation_id"] != "p001-3"]
    participants = pd.concat(
        [small_cohort.participants, small_cohort.participants.iloc[[0]].assign(participant_id="p999", arm="coach")],
        ignore_index=True,
    )
    listed = excluded_records(run(small_cohort, plan, conversations=conversations, participants=participants))
    assert listed.loc["p001", "reason"] == "2 of 3 conversations analysable"
    assert listed.loc["p999", "reason"] == "0 of 3 conversations analysable"


def test_only_registered_judges_count(small_cohort, plan):
    scores = small_cohort.scores
    drop = (scores["conversation_id"] == "p010-1") & (scores["judge"] == "judge_b")
    kept = run(small_cohort, plan, scores=scores[~drop], judges=["judge_a"])
    assert kept.exclusions.empty
    lost = run(small_cohort, plan, scores=scores[~drop], judges=["judge_b"])
    assert "p010-1" in set(lost.exclusions["record_id"])
    assert excluded_records(lost).loc["p010-1", "reason"].startswith("no score from judge(s) judge_b on: validating_emotions, ")


def test_unknown_registered_judge_is_an_error(small_cohort, plan):
    with pytest.raises(ConfigError, match=r"names judge\(s\) \['gpt-9'\] that never occur"):
        run(small_cohort, plan, judges=["gpt-9"])


def test_no_supporter_message_rule(small_cohort, plan):
    messages = small_cohort.messages.copy()
    messages.loc[(messages["conversation_id"] == "p002-1") & (messages["role"] == "supporter"), "text"] = "  "
    rules = [{"id": "silent", "rule": "no_supporter_message", "description": "x"}, *plan["exclusions"]]
    listed = excluded_records(run(small_cohort, plan, messages=messages, rules=rules))
    assert listed.loc["p002-1", "rule"] == "silent"
    assert listed.loc["p002", "rule"] == "incomplete_participant"


def test_judges_cannot_be_mixed_dimension_by_dimension(small_cohort, plan):
    """Judge A scores three dimensions of a conversation and judge B the other three: no composite."""
    scores = small_cohort.scores
    dimensions = plan["outcomes"]["dimensions"]
    first, second = dimensions[:3], dimensions[3:]
    conversation = scores["conversation_id"] == "p004-3"
    drop = conversation & (
        ((scores["judge"] == "judge_a") & scores["dimension"].isin(second))
        | ((scores["judge"] == "judge_b") & scores["dimension"].isin(first))
    )
    mixed = scores[~drop]
    result = run(small_cohort, plan, scores=mixed)
    listed = excluded_records(result)
    assert listed.loc["p004-3/judge_a", "level"] == "judge_scores"
    assert listed.loc["p004-3/judge_b", "reason"] == (
        "judge judge_b scored 3 of 6 dimensions; missing: " + ", ".join(first)
    )
    assert listed.loc["p004-3", "rule"] == "unscored_conversation"
    assert not result.included["conversation_id"].eq("p004-3").any()
    every = result.flow.query("arm == 'all'").set_index(["stage", "rule"])
    assert every.loc[("excluded", "incomplete_judge_scores"), "n_judge_sets"] == 2
    # without the rule the old behaviour comes back: the mixed conversation is analysed
    without = [rule for rule in plan["exclusions"] if rule["rule"] != "incomplete_judge_scores"]
    lenient = run(small_cohort, plan, scores=mixed, rules=without)
    assert lenient.included["conversation_id"].eq("p004-3").any()


def test_a_partial_judge_is_dropped_while_a_complete_one_keeps_the_conversation(small_cohort, plan):
    scores = small_cohort.scores
    drop = (scores["conversation_id"] == "p011-1") & (scores["judge"] == "judge_b") & (scores["dimension"] == "advice_giving")
    result = run(small_cohort, plan, scores=scores[~drop])
    assert list(result.exclusions["record_id"]) == ["p011-1/judge_b"]
    row = result.included.set_index("conversation_id").loc["p011-1"]
    assert row["judges"] == "judge_a"
    analysed = result.flow.query("arm == 'all' and stage == 'analysed'").iloc[0]
    assert (analysed["n_conversations"], analysed["n_judge_sets"]) == (72, 143)


def test_a_dimension_never_scored_is_named_not_silently_excluding_everyone(small_cohort, plan):
    scores = small_cohort.scores[small_cohort.scores["dimension"] != "self_oriented"]
    with pytest.raises(AnalysisError, match=r"registered dimension\(s\) \['self_oriented'\] are never scored .* not estimable"):
        run(small_cohort, plan, scores=scores)
