"""The native data contract (docs/data_contract.md): every kind of bad input gets one clear error."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.cohorts.contract import load_and_validate, read_validated
from analysis.cohorts.native import write_csv
from analysis.constants import NATIVE_FILES
from analysis.errors import CohortValidationError, InputFileError


def validate(directory, plan):
    files = {name: str(directory / filename) for name, filename in NATIVE_FILES.items()}
    design = plan["design"]
    return load_and_validate(files, design["arms"], plan["outcomes"]["dimensions"], design["conversations_per_participant"])


def edit(directory, table, change):
    path = directory / NATIVE_FILES[table]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    write_csv(change(frame), path)


def set_value(directory, table, row, column, value):
    """Put ``value`` in one cell of a cohort file (``row``: the 0-based data row)."""
    edit(directory, table, lambda f: f.assign(**{column: f[column].where(f.index != row, value)}))


def single_issue(directory, plan):
    with pytest.raises(CohortValidationError) as caught:
        validate(directory, plan)
    return caught.value


def test_valid_cohort_is_typed_and_complete(cohort_dir, plan, small_cohort):
    tables, summary = validate(cohort_dir, plan)
    assert summary["rows"] == {name: len(frame) for name, frame in small_cohort.items()}
    assert summary["judges"] == ["judge_a", "judge_b"]
    assert len(summary["sha256"]["scores"]) == 64
    assert tables.scores["score"].dtype == "float64"
    assert tables.conversations["conversation_number"].dtype == "int64"
    assert tables.messages["text"].str.contains("\n").any(), "embedded newlines survive the CSV round trip"
    assert tables.messages["text"].str.contains('"').any(), "embedded quotes survive the CSV round trip"


def test_extra_columns_are_kept_and_ids_stay_text(cohort_dir, plan, tmp_path):
    edit(cohort_dir, "participants", lambda f: f.assign(participant_id="0" + f["participant_id"].str[1:], site="lab"))
    edit(cohort_dir, "conversations", lambda f: f.assign(participant_id="0" + f["participant_id"].str[1:]))
    tables, _ = validate(cohort_dir, plan)
    assert "site" in tables.participants
    write_csv(tables.participants, tmp_path / "p.csv")
    again = read_validated(tmp_path / "p.csv", "participants")
    assert again["participant_id"].iloc[0] == "0000"


def test_missing_file(cohort_dir, plan):
    (cohort_dir / "scores.csv").unlink()
    with pytest.raises(InputFileError, match=r"scores\.csv: file not found"):
        validate(cohort_dir, plan)


def test_missing_column(cohort_dir, plan):
    edit(cohort_dir, "scores", lambda f: f.drop(columns="dimension"))
    error = single_issue(cohort_dir, plan)
    assert "scores.csv, column 'dimension'" in str(error)
    assert "it is missing" in str(error)


# One bad cell in a valid cohort (file, 0-based row, column, value) and what the error must say of it.
BAD_CELLS = {
    "wrong_type": ("conversations", 4, "conversation_number", "two", "conversations.csv, row 5, column 'conversation_number': value 'two'; expected a value of type int64"),
    "score_outside_range": ("scores", 9, "score", "5.5", "scores.csv, row 10, column 'score': value 5.5; expected a number in [1, 5]"),
    "non_numeric_score": ("scores", 0, "score", "high", "row 1, column 'score': value 'high'"),
    "unknown_dimension": ("scores", 2, "dimension", "kindness", "scores.csv, row 3, column 'dimension': value 'kindness'; expected one of the registered dimensions"),
    "unknown_arm": ("participants", 1, "arm", "placebo", "participants.csv, row 2, column 'arm': value 'placebo'; expected one of the registered arms"),
    # the first row's conversation_id again
    "duplicate_conversation_id": ("conversations", 1, "conversation_id", "p000-1", "conversations.csv, row 2, column 'conversation_id': value 'p000-1'; expected conversation_id to be unique"),
    "conversation_of_unknown_participant": ("conversations", 3, "participant_id", "ghost", "conversations.csv, row 4, column 'participant_id': value 'ghost'; expected an ID that exists in"),
    "scores_of_unknown_conversation": ("scores", 0, "conversation_id", "nope", "scores.csv, row 1, column 'conversation_id': value 'nope'"),
}


@pytest.mark.parametrize(("table", "row", "column", "value", "expected"), list(BAD_CELLS.values()), ids=list(BAD_CELLS))
def test_a_bad_value_is_named_by_file_row_and_column(cohort_dir, plan, table, row, column, value, expected):
    set_value(cohort_dir, table, row, column, value)
    assert expected in str(single_issue(cohort_dir, plan))


def test_duplicate_participant_id(cohort_dir, plan):
    edit(cohort_dir, "participants", lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True))
    error = single_issue(cohort_dir, plan)
    assert "column 'participant_id': value 'p000'; expected participant_id to be unique (first seen at row 1)" in str(error)


def test_participant_in_two_arms(cohort_dir, plan):
    twin = lambda f: pd.concat([f, f.iloc[[0]].assign(arm="coach")], ignore_index=True)  # noqa: E731
    edit(cohort_dir, "participants", twin)
    error = single_issue(cohort_dir, plan)
    assert "each participant in exactly one arm (found control at row 1, coach at row 25)" in str(error)
    assert len(error.issues) == 1


def test_duplicate_conversation_judge_dimension(cohort_dir, plan):
    edit(cohort_dir, "scores", lambda f: pd.concat([f, f.iloc[[7]]], ignore_index=True))
    error = single_issue(cohort_dir, plan)
    assert "column 'conversation_id+judge+dimension'" in str(error)
    assert "(conversation_id, judge, dimension) to be unique (first seen at row 8)" in str(error)


def test_duplicate_conversation_number(cohort_dir, plan):
    set_value(cohort_dir, "conversations", 1, "conversation_number", "1")
    error = single_issue(cohort_dir, plan)
    assert "column 'participant_id+conversation_number': value ('p000', 1)" in str(error) or \
        "column 'participant_id+conversation_number': value ('p000', '1')" in str(error)
    assert "each participant's conversation_number to be unique (first seen at row 1)" in str(error)


def test_empty_file(cohort_dir, plan):
    (cohort_dir / "messages.csv").write_bytes(b"")
    with pytest.raises(InputFileError, match=r"messages\.csv: the file is empty"):
        validate(cohort_dir, plan)


def test_header_only_file(cohort_dir, plan):
    (cohort_dir / "participants.csv").write_text("participant_id,arm\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="has a header but no data rows"):
        validate(cohort_dir, plan)


def test_not_utf8(cohort_dir, plan):
    path = cohort_dir / "messages.csv"
    path.write_bytes(path.read_bytes().replace(b"suddenly", "soudain\u00e9".encode("latin-1"), 1))
    with pytest.raises(InputFileError, match=r"messages\.csv: not valid UTF-8 \(byte 0xe9 at offset \d+, line 2\)"):
        validate(cohort_dir, plan)


def test_every_problem_is_reported_at_once(cohort_dir, plan):
    set_value(cohort_dir, "participants", 1, "arm", "placebo")
    set_value(cohort_dir, "scores", 0, "score", "0")
    error = single_issue(cohort_dir, plan)
    assert {issue.file.rsplit("/", 1)[-1] for issue in error.issues} == {"participants.csv", "scores.csv"}


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f"])
def test_control_character_in_a_message_is_rejected_naming_row_and_column(cohort_dir, plan, character):
    set_value(cohort_dir, "messages", 2, "text", f"fine{character}then")
    error = single_issue(cohort_dir, plan)
    assert f"messages.csv, row 3, column 'text': value {f'fine{character}then'!r}" in str(error)
    assert "expected text without control characters" in str(error)


def test_tab_newline_and_carriage_return_in_a_message_are_kept(cohort_dir, plan):
    text = "one\ttwo\r\nthree\nfour"
    set_value(cohort_dir, "messages", 2, "text", text)
    tables, _ = validate(cohort_dir, plan)
    assert text in set(tables.messages["text"])
