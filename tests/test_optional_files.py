"""Tests of the optional cohort files (analysis.cohorts.optional): perception.csv, elo.csv and themes.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.cohorts import optional
from analysis.errors import AnalysisError, CohortValidationError, InputFileError
from tests.conftest import make_small_cohort


@pytest.fixture(scope="module")
def conversations() -> pd.DataFrame:
    return make_small_cohort(n_per_arm=15, judges=("only",), seed=8).conversations


@pytest.fixture(scope="module")
def perception(conversations) -> pd.DataFrame:
    """20 raters with 3 pairs each, every pair two different conversations of one scenario."""
    rng = np.random.default_rng(3)
    by_scenario = {name: group["conversation_id"].to_numpy() for name, group in conversations.groupby("scenario")}
    rows = []
    for rater in range(1, 21):
        for pair in range(1, 4):
            scenario = rng.choice(sorted(by_scenario))
            left, right = rng.choice(by_scenario[scenario], 2, replace=False)
            rows.append((f"R{rater:02d}", f"P{pair}", scenario, left, right, rng.choice(["left", "right"])))
    return pd.DataFrame(rows, columns=optional.PERCEPTION_COLUMNS)


def write(frame: pd.DataFrame, path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


# ------------------------------------------------------------------------------------- perception.csv and elo.csv


def test_valid_file_loads(perception, conversations, tmp_path):
    loaded = optional.load_perception(write(perception, tmp_path / "perception.csv"), conversations)
    pd.testing.assert_frame_equal(loaded[perception.columns], perception, check_dtype=False)


def test_every_problem_is_reported_with_row_column_and_value(perception, conversations, tmp_path):
    bad = perception.head(6).copy()
    bad.loc[0, "choice"] = "up"
    bad.loc[1, "conversation_left_id"] = "nobody"
    bad.loc[2, "pair_id"] = bad.loc[3, "pair_id"]
    bad.loc[2, "rater_id"] = bad.loc[3, "rater_id"]
    bad.loc[4, "conversation_right_id"] = bad.loc[4, "conversation_left_id"]
    bad.loc[5, "scenario"] = "promotion" if bad.loc[5, "scenario"] != "promotion" else "job_loss"
    path = write(bad, tmp_path / "perception.csv")
    with pytest.raises(CohortValidationError) as error:
        optional.load_perception(path, conversations)
    text = str(error.value)
    assert f"{path}, row 1, column 'choice': value 'up'; expected left or right" in text
    assert f"{path}, row 2, column 'conversation_left_id': value 'nobody'; expected an ID that exists in conversations.csv" in text
    assert "column 'rater_id+pair_id'" in text and "(first seen at row 3)" in text
    assert f"{path}, row 5, column 'conversation_right_id'" in text and "a conversation other than conversation_left_id" in text
    assert f"{path}, row 6, column 'scenario'" in text


def test_missing_column_and_empty_file(perception, conversations, tmp_path):
    with pytest.raises(CohortValidationError, match="'choice'.*a column with this name"):
        optional.load_perception(write(perception.drop(columns="choice"), tmp_path / "p.csv"), conversations)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputFileError, match="empty"):
        optional.load_perception(tmp_path / "empty.csv", conversations)


def test_elo_validation(conversations, tmp_path):
    ids = conversations["conversation_id"].head(4).tolist()
    good = pd.DataFrame({"conversation_id": ids, "elo_rating": [1500.0, 1490.5, 1622.0, 1388.0]})
    assert optional.load_elo(write(good, tmp_path / "elo.csv"), conversations)["elo_rating"].dtype == float
    bad = pd.DataFrame({"conversation_id": [ids[0], ids[0], "ghost", ids[2]], "elo_rating": ["1500", "1400", "1300", "high"]})
    path = write(bad, tmp_path / "bad.csv")
    with pytest.raises(CohortValidationError) as error:
        optional.load_elo(path, conversations)
    text = str(error.value)
    assert "row 2, column 'conversation_id'" in text and "unique" in text
    assert "row 3, column 'conversation_id': value 'ghost'" in text
    assert "row 4, column 'elo_rating'" in text
    (tmp_path / "inf.csv").write_text(f"conversation_id,elo_rating\n{ids[0]},inf\n")
    with pytest.raises(CohortValidationError, match="a finite number"):
        optional.load_elo(tmp_path / "inf.csv", conversations)


# ------------------------------------------------------------------------------------- themes.csv


def _messages():
    return pd.DataFrame(
        {
            "conversation_id": ["c1", "c1", "c1", "c2", "c2"],
            "turn": [1, 2, 3, 1, 2],
            "role": ["seeker", "supporter", "seeker", "seeker", "supporter"],
            "text": ["hi", "I am here for you.", "thanks", "hey", "Tell me more."],
        }
    )


def _raw_themes(rows):
    return pd.DataFrame(rows, columns=list(optional.THEME_COLUMNS), dtype=object)


def test_message_keys_name_conversation_and_turn():
    keys = optional.message_keys(pd.Series(["c1", "c2"]), pd.Series([2, 10]))
    assert keys.tolist() == ["c1 turn 2", "c2 turn 10"]


def test_valid_themes_are_typed_and_sorted():
    raw = _raw_themes([["c2", "2", "inviting", "cognitive"], ["c1", "2", "availability", "affective"]])
    themes = optional.validate_themes(raw, _messages(), "themes.csv")
    assert themes["conversation_id"].tolist() == ["c1", "c2"]
    assert themes["turn"].tolist() == [2, 2] and themes["turn"].dtype == np.int64


def test_theme_validation_lists_every_problem():
    raw = _raw_themes(
        [
            ["c1", "2", "availability", "affective"],
            ["c1", "2", "availability", "affective"],  # duplicate
            ["c1", "two", "inviting", "cognitive"],  # turn not an integer
            ["c2", "2", "inviting", "empathic"],  # unknown category
            ["c9", "1", "inviting", "cognitive"],  # no such message
            ["c2", "2", "availability", "motivational"],  # second category for a theme
            ["c2", "2", None, "cognitive"],  # empty theme
        ]
    )
    with pytest.raises(CohortValidationError) as caught:
        optional.validate_themes(raw, _messages(), "themes.csv")
    text = str(caught.value)
    assert "themes.csv, row 2, column 'conversation_id+turn+theme'" in text and "first seen at row 1" in text
    assert "themes.csv, row 3, column 'turn': value 'two'" in text
    assert "themes.csv, row 4, column 'category': value 'empathic'; expected one of ['affective'" in text
    assert "themes.csv, row 5, column 'message': value 'c9 turn 1'; expected an ID that exists in messages.csv" in text
    assert "themes.csv, row 6, column 'category': value 'motivational'; expected one category per theme" in text
    assert "themes.csv, row 7, column 'theme'" in text


@pytest.mark.parametrize("turn", ["inf", "1e400", "2.5"])
def test_a_turn_that_is_not_a_whole_number_is_named_not_a_crash(turn):
    raw = _raw_themes([["c1", "2", "availability", "affective"], ["c1", turn, "inviting", "cognitive"]])
    with pytest.raises(CohortValidationError, match=f"themes.csv, row 2, column 'turn': value '{turn}'"):
        optional.validate_themes(raw, _messages(), "themes.csv")


def test_a_theme_ending_in_a_newline_is_rejected():
    raw = _raw_themes([["c1", "2", "availability\n", "affective"]])
    with pytest.raises(CohortValidationError, match="themes.csv, row 1, column 'theme'"):
        optional.validate_themes(raw, _messages(), "themes.csv")


def test_theme_validation_names_a_missing_column():
    raw = _raw_themes([["c1", "2", "availability", "affective"]]).drop(columns="category")
    with pytest.raises(CohortValidationError, match="column 'category'"):
        optional.validate_themes(raw, _messages(), "themes.csv")


def test_load_themes_and_read_validated_themes_round_trip(tmp_path):
    source = tmp_path / "themes.csv"
    source.write_text("conversation_id,turn,theme,category\nc2,2,inviting,cognitive\nc1,2,availability,affective\n")
    themes = optional.load_themes(source, _messages())
    themes.to_csv(tmp_path / "typed.csv", index=False)
    pd.testing.assert_frame_equal(optional.read_validated_themes(tmp_path / "typed.csv"), themes)


def test_themes_at_level_merges_codes_of_one_parent():
    themes = pd.DataFrame(
        {
            "conversation_id": ["c1", "c1", "c2"],
            "turn": [2, 2, 2],
            "theme": ["availability", "presence", "inviting"],
            "category": ["affective", "affective", "cognitive"],
            "theme_level2": ["support", "support", "questions"],
        }
    )
    assert optional.themes_at_level(themes, "theme") is themes
    coarse = optional.themes_at_level(themes, "theme_level2")
    assert coarse.to_dict("list") == {
        "conversation_id": ["c1", "c2"], "turn": [2, 2], "theme": ["support", "questions"],
        "category": ["affective", "cognitive"],
    }
    with pytest.raises(AnalysisError, match="no column 'theme_level1'"):
        optional.themes_at_level(themes, "theme_level1")
    with pytest.raises(AnalysisError, match="more than one category"):
        optional.themes_at_level(themes.assign(category=["affective", "cognitive", "cognitive"]), "theme_level2")
