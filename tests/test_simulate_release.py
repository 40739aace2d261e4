"""The simulated release has the layout of the authors' release (the facts their notebook shows)."""

from __future__ import annotations

import pandas as pd

from analysis.adapters.paper_release import EXPERIMENT_1_COLUMNS, EXPERIMENT_2_COLUMNS, RELEASE_FILES, TEXT_LEVELS
from analysis.simulate.release import RELEASE_STARTERS, simulate_release, write_release

ARMS = {"control": 8, "video": 8, "coach": 8, "combined": 8}


def test_experiment_1_has_one_row_per_supporter_message(tmp_path):
    release = simulate_release(ARMS, seed=4, messages_per_conversation=5, n_raters=10, pairs_per_rater=5, pool_per_scenario=4)
    written = write_release(release, tmp_path)
    assert {role: path.relative_to(tmp_path).as_posix() for role, path in written.items()} == RELEASE_FILES
    experiment_1 = pd.read_csv(written["experiment_1"], dtype=str, keep_default_na=False)
    assert set(EXPERIMENT_1_COLUMNS) | {"id", "user_message", "message_count", "Fluent languages", "Employment status"} <= set(experiment_1.columns)
    messages = release.cohort.messages
    supporter = messages[messages["role"] == "supporter"]
    assert len(experiment_1) == len(supporter) and experiment_1["id"].is_unique
    # id, user_message and message_count vary within a conversation; the conversation-level columns repeat
    per_conversation = supporter["conversation_id"].map(release.conversation_ids).value_counts()
    assert experiment_1.groupby("conversation_id")["message_count"].nunique().sort_index().equals(per_conversation.sort_index().rename("message_count"))
    repeated = experiment_1.groupby("conversation_id")[list(EXPERIMENT_1_COLUMNS)].nunique()
    assert (repeated == 1).all().all()
    assert set(experiment_1["user_message"]) == set(supporter["text"])
    n_conversations = len(release.cohort.conversations)
    assert experiment_1["conversation_id"].nunique() == n_conversations < len(experiment_1)
    assert experiment_1["conversation_id"].str.fullmatch(r"\d{20}").all()
    assert experiment_1["user_id"].str.fullmatch(r"[0-9a-f]{24}").all()
    assert set(experiment_1["condition"]) == {"Control", "Influencer", "AICoach", "CoachPlusInfluencer"}
    assert set(experiment_1["Sex"]) <= {"Female", "Male", "Other"}
    assert set(experiment_1["baseline_empathy_item_1"]) <= set(TEXT_LEVELS)
    assert experiment_1["conversation"].str.startswith("Seeker: ").all()
    assert set(experiment_1["starter"]) <= set(RELEASE_STARTERS.values())


def test_starters_are_spelled_as_in_the_release():
    assert len(set(RELEASE_STARTERS.values())) == 5
    for scenario in ("loss_dad", "mom_unwell"):
        assert "\u2026" in RELEASE_STARTERS[scenario] and "\u2019" in RELEASE_STARTERS[scenario] and "'" not in RELEASE_STARTERS[scenario]
    assert RELEASE_STARTERS["loss_dad"] == "I lost my dad last week\u2026 I still can\u2019t believe he\u2019s really gone\u2026"


def test_elo_perception_and_themes_have_the_release_layout_and_coverage(tmp_path):
    # the release's perception task: 150 conversations (30 per scenario), 150 raters x 10 choices
    release = simulate_release({arm: 40 for arm in ARMS}, seed=5, messages_per_conversation=4)
    written = write_release(release, tmp_path)
    header = written["elo_rankings"].read_text(encoding="utf-8").splitlines()[0]
    assert header == ",conversation_id,elo_rating,comparisons_count,updated_condition,overall_empathy,conversation_number,condition,elo_rank,starter"
    elo = pd.read_csv(written["elo_rankings"], dtype=str)
    assert (elo["Unnamed: 0"] == "0").sum() == elo["starter"].nunique() == 5  # the index restarts in each starter block
    assert set(elo["starter"]) == {"job loss", "promotion", "undervalued", "loss dad", "mom unwell"}
    conversations = release.cohort.conversations.assign(release_id=lambda c: c["conversation_id"].map(release.conversation_ids))
    arm = conversations["participant_id"].map(release.cohort.participants.set_index("participant_id")["arm"])
    covered = (conversations["conversation_number"] == 1) | arm.isin(["coach", "combined"])
    assert set(elo["conversation_id"]) == set(conversations.loc[covered, "release_id"])
    experiment_2 = pd.read_csv(written["experiment_2"], dtype=str, keep_default_na=False)
    assert set(EXPERIMENT_2_COLUMNS) | {"select_higher_annotation"} <= set(experiment_2.columns)
    assert set(experiment_2["scenario"]) == {"job_loss", "loss_dad", "mom_unwell", "promotion", "undervalued"}
    rated = set(experiment_2["conversation_left_id"]) | set(experiment_2["conversation_right_id"])
    assert len(rated) == 150 and rated <= set(elo["conversation_id"])
    assert experiment_2["participant_id"].nunique() == 150 and (experiment_2["participant_choice"] != "").sum() == 1500 < len(experiment_2)
    assert set(experiment_2["participant_choice"]) == {"left", "right", ""}
    assert (experiment_2.loc[experiment_2["participant_choice"] == "", "select_higher_annotation"] == "").all()
    ties = experiment_2["abs_score_diff"].astype(float) == 0
    assert (experiment_2.loc[ties, "select_higher_annotation"] == "").all()
    assert not experiment_2.duplicated(["participant_id", "conversation_left_id", "conversation_right_id"]).any()
    themes = pd.read_csv(written["all_themes"], dtype=str, keep_default_na=False)
    assert list(themes.columns) == ["user_id", "conversation_number", "condition", "theme", "turn_number", "text",
                                    "Level 1", "Level 2", "Level 3 - interpretation"]
    assert set(themes["theme"]) == {"personal", "workplace"}
    assert {"Advice-giving", "Advice-Giving", "No match found", "unknown", ""} <= set(themes["Level 1"])
    assert (themes.loc[themes["Level 1"].isin(["No match found", "unknown", ""]), "Level 3 - interpretation"] == "").all()
    # turn_number counts every message of the transcript from 1, and the text is that (supporter) message
    messages = release.cohort.messages.assign(release_id=lambda m: m["conversation_id"].map(release.conversation_ids))
    by_user = conversations.assign(user_id=conversations["participant_id"].map(release.participant_ids))
    keyed = themes.merge(by_user.astype({"conversation_number": str})[["user_id", "conversation_number", "release_id"]])
    located = keyed.merge(messages.astype({"turn": str}), left_on=["release_id", "turn_number"], right_on=["release_id", "turn"])
    assert len(located) == len(themes) and (located["text_x"] == located["text_y"]).all() and (located["role"] == "supporter").all()


def test_same_seed_same_release():
    first = simulate_release(ARMS, seed=9, messages_per_conversation=4, n_raters=5, pairs_per_rater=4, pool_per_scenario=4)
    second = simulate_release(ARMS, seed=9, messages_per_conversation=4, n_raters=5, pairs_per_rater=4, pool_per_scenario=4)
    for role in RELEASE_FILES:
        pd.testing.assert_frame_equal(first.files[role], second.files[role])
    other = simulate_release(ARMS, seed=10, messages_per_conversation=4, n_raters=5, pairs_per_rater=4, pool_per_scenario=4)
    assert not first.files["experiment_1"]["conversation_id"].equals(other.files["experiment_1"]["conversation_id"])


def test_raters_choose_the_higher_composite_more_often_with_a_larger_gap():
    release = simulate_release({arm: 40 for arm in ARMS}, seed=2, messages_per_conversation=3, n_raters=200, pairs_per_rater=10)
    choices = release.files["experiment_2"].dropna(subset=["select_higher_annotation"])
    small = choices[choices["abs_score_diff"] <= 3]["select_higher_annotation"].mean()
    large = choices[choices["abs_score_diff"] >= 8]["select_higher_annotation"].mean()
    assert 0.5 < small < large
