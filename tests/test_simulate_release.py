"""The simulated release has the layout of the authors' release."""

from __future__ import annotations

import pandas as pd

from analysis.constants import SCENARIO_OPENING_LINES
from analysis.paper_release import EXPERIMENT_1_COLUMNS, EXPERIMENT_2_COLUMNS, RELEASE_FILES, TEXT_LEVELS
from analysis.simulate_release import simulate_release, write_release

ARMS = {"control": 8, "video": 8, "coach": 8, "combined": 8}


def test_layout_matches_the_release(tmp_path):
    release = simulate_release(ARMS, seed=4, messages_per_conversation=5, n_raters=10, pairs_per_rater=5)
    written = write_release(release, tmp_path)
    assert {role: path.relative_to(tmp_path).as_posix() for role, path in written.items()} == RELEASE_FILES
    experiment_1 = pd.read_csv(written["experiment_1"], dtype=str, keep_default_na=False)
    assert set(EXPERIMENT_1_COLUMNS) <= set(experiment_1.columns)
    assert {"Fluent languages", "Employment status", "coach_feedback"} <= set(experiment_1.columns)
    n_conversations = len(release.cohort.conversations)
    assert experiment_1["conversation_id"].nunique() == n_conversations < len(experiment_1)
    assert experiment_1["conversation_id"].str.fullmatch(r"\d{20}").all()
    assert experiment_1["user_id"].str.fullmatch(r"[0-9a-f]{24}").all()
    assert set(experiment_1["condition"]) == {"Control", "Influencer", "AICoach", "CoachPlusInfluencer"}
    assert set(experiment_1["baseline_empathy_item_1"]) <= set(TEXT_LEVELS)
    assert experiment_1["conversation"].str.startswith("Seeker: ").all()
    assert set(experiment_1["starter"]) - set(SCENARIO_OPENING_LINES.values()), "some opening lines are spelled differently"
    header = written["elo_rankings"].read_text(encoding="utf-8").splitlines()[0]
    assert header == ",conversation_id,elo_rating,comparisons_count,updated_condition,overall_empathy,conversation_number,condition,elo_rank,starter"
    elo = pd.read_csv(written["elo_rankings"], dtype=str)
    assert (elo["Unnamed: 0"] == "0").sum() == elo["starter"].nunique()  # the index restarts in each scenario block
    experiment_2 = pd.read_csv(written["experiment_2"], dtype=str)
    assert set(EXPERIMENT_2_COLUMNS) <= set(experiment_2.columns)
    assert not experiment_2.duplicated(["participant_id", "conversation_left_id", "conversation_right_id"]).any()
    themes = pd.read_csv(written["all_themes"], dtype=str)
    assert list(themes.columns) == ["conversation_id", "turn", "theme", "category"]


def test_same_seed_same_release():
    first = simulate_release(ARMS, seed=9, messages_per_conversation=4, n_raters=5, pairs_per_rater=4)
    second = simulate_release(ARMS, seed=9, messages_per_conversation=4, n_raters=5, pairs_per_rater=4)
    for role in RELEASE_FILES:
        pd.testing.assert_frame_equal(first.files[role], second.files[role])
    other = simulate_release(ARMS, seed=10, messages_per_conversation=4, n_raters=5, pairs_per_rater=4)
    assert not first.files["experiment_1"]["conversation_id"].equals(other.files["experiment_1"]["conversation_id"])


def test_raters_choose_the_higher_composite_more_often_with_a_larger_gap():
    release = simulate_release({arm: 40 for arm in ARMS}, seed=2, messages_per_conversation=3, n_raters=200, pairs_per_rater=10)
    choices = release.files["experiment_2"].dropna(subset=["select_higher_annotation"])
    small = choices[choices["abs_score_diff"] <= 3]["select_higher_annotation"].mean()
    large = choices[choices["abs_score_diff"] >= 8]["select_higher_annotation"].mean()
    assert 0.5 < small < large
