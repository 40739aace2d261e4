"""Property-based tests of the native contract: every generated input, not a list of them.

1. A valid cohort (any size, IDs of any printable form, message text with quotes, commas, line ends,
   emoji, right-to-left marks, very long fields; files in any of the dialects a user writes) is
   accepted, validation returns exactly what the files hold, and the validated copies the rule
   ``validate_cohort`` writes read back to the same tables and validate again to the same tables.
2. Any single corruption of a valid cohort (:func:`tests.cohort_strategies.corruptions`) is either
   still valid (and then round-trips too) or stops the rule with the pipeline's own error:
   :class:`~analysis.errors.CohortValidationError` naming file, row and column, or
   :class:`~analysis.errors.InputFileError` naming the file. No other exception escapes, and the rule
   writes nothing.

The rule script itself runs (``workflow/scripts/validate_cohort.py``, in this process with the
``snakemake`` object it expects), so "writes nothing" is checked on the real step. How many examples
run is the Hypothesis profile's business (tests/hypothesis_profiles.py; ``make fuzz`` runs thousands).
"""

from __future__ import annotations

import runpy
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from analysis.cohorts.contract import load_and_validate, read_validated
from analysis.cohorts.native import write_csv
from analysis.constants import EMPATHY_ITEMS, NATIVE_FILES, ROLES, SELF_RATINGS, TROUBLE_TYPES
from analysis.errors import CohortValidationError, InputFileError, PipelineError
from tests.cohort_strategies import (
    ARMS,
    CONVERSATIONS_PER_PARTICIPANT,
    REFERENCES,
    REGISTERED_DIMENSIONS,
    REPO,
    SMALLEST_COHORT,
    Corruption,
    CsvDialect,
    NativeCohort,
    cohort_of,
    corrupt_bytes,
    corrupt_frame,
    corruptions,
    csv_bytes,
    dialects,
    native_cohorts,
    typed_tables,
    write_cohort_files,
)

SCRIPT = REPO / "workflow" / "scripts" / "validate_cohort.py"
DESIGN = {"arms": list(ARMS), "dimensions": list(REGISTERED_DIMENSIONS), "conversations_per_participant": CONVERSATIONS_PER_PARTICIPANT}
# Columns the contract requires in each file (docs/data_contract.md).
REQUIRED: dict[str, set[str]] = {
    "participants": {"participant_id", "arm"},
    "conversations": {"conversation_id", "participant_id", "conversation_number", "scenario", "trouble_type"},
    "messages": {"conversation_id", "turn", "role", "text"},
    "scores": {"conversation_id", "judge", "dimension", "score"},
}
# The ID each table's rows are referred to by from another table.
REFERRED_BY_OTHERS: dict[str, str] = {"participants": "participant_id", "conversations": "conversation_id"}


class RuleFiles(list):
    """A rule's named files as Snakemake hands them to a script: by position, by name, or as attributes."""

    def __init__(self, **named: str):
        super().__init__(named.values())
        self.named = named

    def __getitem__(self, key):
        return self.named[key] if isinstance(key, str) else super().__getitem__(key)

    def __getattr__(self, key: str):
        try:
            return self.__dict__["named"][key]
        except KeyError:
            raise AttributeError(key) from None

    def keys(self):
        return self.named.keys()


def validated_paths(directory: Path) -> dict[str, str]:
    """Where the rule writes the validated copies and the summary (as results/<cohort>/validated/)."""
    return {**{name: str(directory / filename) for name, filename in NATIVE_FILES.items()}, "summary": str(directory / "validation.json")}


def run_validate_step(files: dict[str, str], directory: Path) -> dict[str, str]:
    """Run the rule script ``validate_cohort.py`` on ``files``; its outputs go to ``directory``."""
    outputs = validated_paths(directory)
    rule = SimpleNamespace(
        input=RuleFiles(**files), output=RuleFiles(**outputs), params=SimpleNamespace(**DESIGN, pseudonymise=None),
        log=[str(directory.parent / "validate_cohort.log")],
    )
    try:
        runpy.run_path(str(SCRIPT), init_globals={"snakemake": rule})
    except SystemExit as stop:
        # a step stops on the pipeline's own error with exit status 1, the error as its cause
        if isinstance(stop.__cause__, PipelineError):
            raise stop.__cause__ from None
        raise
    return outputs


def validate(files: dict[str, str]):
    return load_and_validate(files, **DESIGN)[0]


def assert_tables_equal(actual, expected) -> None:
    for name in NATIVE_FILES:
        pd.testing.assert_frame_equal(getattr(actual, name) if hasattr(actual, name) else actual[name], expected[name],
                                      check_exact=True, obj=name)


def assert_round_trip(outputs: dict[str, str]) -> None:
    """The validated copies read back as the contract types them, and validate again to the same tables."""
    read_back = {name: read_validated(outputs[name], name) for name in NATIVE_FILES}
    again = validate({name: outputs[name] for name in NATIVE_FILES})
    assert_tables_equal(again, read_back)


IDENTIFIER_COLUMNS: dict[str, tuple[str, ...]] = {
    "participants": ("participant_id",),
    "conversations": ("conversation_id", "participant_id", "scenario"),
    "messages": ("conversation_id",),
    "scores": ("conversation_id", "judge"),
}
LIKERT_COLUMNS: dict[str, tuple[str, ...]] = {"participants": EMPATHY_ITEMS, "conversations": SELF_RATINGS}


def is_identifier(value) -> bool:
    """docs/data_contract.md's ID rule, restated in plain Python: text, no whitespace at either end, no control character."""
    return isinstance(value, str) and value != "" and value == value.strip() and not any(
        ord(character) < 0x20 or 0x7F <= ord(character) <= 0x9F for character in value
    )


def assert_contract_holds(tables) -> None:
    """Every rule of docs/data_contract.md holds in accepted tables (an oracle independent of the schemas)."""
    participants, conversations, messages, scores = (getattr(tables, name) for name in NATIVE_FILES)
    for table, columns in IDENTIFIER_COLUMNS.items():
        for column in columns:
            bad = [value for value in getattr(tables, table)[column] if not is_identifier(value)]
            assert not bad, f"{table}.{column} holds values that are not IDs: {bad!r}"
    for table, columns in LIKERT_COLUMNS.items():
        for column in set(columns) & set(getattr(tables, table).columns):
            assert getattr(tables, table)[column].dropna().isin(range(1, 6)).all(), f"{table}.{column} outside 1-5"
    assert participants["participant_id"].is_unique and participants["arm"].isin(ARMS).all()
    if "age" in participants:
        assert participants["age"].dropna().between(0, 120).all()
    assert conversations["conversation_id"].is_unique
    assert conversations["participant_id"].isin(participants["participant_id"]).all()
    assert conversations["conversation_number"].isin(range(1, CONVERSATIONS_PER_PARTICIPANT + 1)).all()
    assert not conversations.duplicated(["participant_id", "conversation_number"]).any()
    assert conversations["trouble_type"].isin(TROUBLE_TYPES).all()
    assert messages["conversation_id"].isin(conversations["conversation_id"]).all()
    assert (messages["turn"] >= 1).all() and not messages.duplicated(["conversation_id", "turn"]).any()
    assert messages["role"].isin(ROLES).all()
    assert not messages["text"].dropna().str.contains(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]").any()
    assert scores["conversation_id"].isin(conversations["conversation_id"]).all()
    assert scores["dimension"].isin(REGISTERED_DIMENSIONS).all()
    assert np.isfinite(scores["score"]).all() and scores["score"].between(1, 5).all()
    assert not scores.duplicated(["conversation_id", "judge", "dimension"]).any()


def data_rows(content) -> int | None:
    """Data rows of a table written from a text frame (None when the bytes were corrupted)."""
    return len(content) if isinstance(content, pd.DataFrame) else None


def issue_columns(issue) -> set[str]:
    return set(str(issue.column).split("+")) if issue.column is not None else set()


def rows_holding(frame: pd.DataFrame, column: str, value) -> set[int]:
    """1-based data rows whose ``column`` holds ``value``."""
    if column not in frame.columns:
        return set()
    cells = frame[column].tolist()
    return {index + 1 for index, cell in enumerate(cells) if cell == value or (cell in (None, "") and value in (None, ""))}


def names_the_corruption(error: CohortValidationError, corruption: Corruption, files: dict[str, str], before: pd.DataFrame,
                         after: pd.DataFrame) -> bool:
    """Whether some issue points at what was changed: its file, its row (or a row it now clashes with) and its column."""
    file = files[corruption.table]
    own = [issue for issue in error.issues if issue.file == file]
    others = [issue for issue in error.issues if issue.file != file]
    kind, column = corruption.kind, corruption.column
    if kind in ("cell", "orphan"):
        old = before.iloc[corruption.row][column]
        rows = {corruption.row + 1} | rows_holding(after, column, corruption.value)
        clash = any(issue.row in rows and (column in issue_columns(issue) or issue.value == corruption.value) for issue in own)
        orphaned = REFERRED_BY_OTHERS.get(corruption.table) == column and any(issue.value == old for issue in others)
        return clash or orphaned
    if kind == "duplicate_row":
        at = corruption.row + 1 if corruption.position == "next" else len(before)
        return any(issue.row in {corruption.row + 1, at + 1} for issue in own)
    if kind == "delete_row":
        key = REFERRED_BY_OTHERS.get(corruption.table)
        return key is not None and any(issue.value == before.iloc[corruption.row][key] for issue in others)
    if kind in ("drop_column", "rename_column"):
        return any(issue.row is None and issue.column == column for issue in own)
    return True


def check_rejection(error: CohortValidationError, corruption: Corruption, files: dict[str, str], text: dict, content: dict) -> None:
    """Every issue names one of the cohort's files, a data row of it (or none) and a column; the message lists them."""
    assert error.issues, "a CohortValidationError lists at least one issue"
    by_path = {path: name for name, path in files.items()}
    for issue in error.issues:
        assert issue.file in by_path, f"issue names a file that is not an input: {issue}"
        rows = data_rows(content[by_path[issue.file]])
        assert issue.row is None or (isinstance(issue.row, int) and 1 <= issue.row <= (rows or issue.row)), issue
        assert issue.column is None or (isinstance(issue.column, str) and issue.column), issue
    for issue in error.issues[: CohortValidationError.max_listed]:
        assert issue.describe() in str(error)
    if not corruption.on_bytes:
        assert names_the_corruption(error, corruption, files, text[corruption.table], content[corruption.table]), (
            f"no issue points at the corruption {corruption}: {error}"
        )


def must_be_rejected(corruption: Corruption, text: dict) -> bool:
    """Corruptions the contract cannot accept: a repeated row, a reference to nothing, a required column gone or repeated."""
    if corruption.kind in ("duplicate_row", "orphan", "duplicate_column"):
        return True
    if corruption.kind == "drop_column" or (corruption.kind == "rename_column" and corruption.value != corruption.column):
        return corruption.column in REQUIRED[corruption.table] or corruption.value in text[corruption.table].columns
    return corruption.kind in ("empty", "missing")


def with_message(text: str) -> NativeCohort:
    """The smallest cohort with one message text."""
    return cohort_of({**SMALLEST_COHORT, "messages": {**SMALLEST_COHORT["messages"], "text": [text]}})


# Found by these properties, kept as explicit examples (each failed before its fix):
# a lone carriage return in a text cell was written unquoted, so the validated copy split the row in two;
LONE_CARRIAGE_RETURN = with_message("one\rtwo")


@example(cohort=LONE_CARRIAGE_RETURN, dialect=CsvDialect("utf-8", "\n", quote_all=True))
@given(cohort=native_cohorts(), dialect=dialects)
def test_a_valid_cohort_is_accepted_as_written_and_its_validated_copies_round_trip(cohort, dialect):
    with tempfile.TemporaryDirectory() as scratch:
        files = write_cohort_files(cohort.text, Path(scratch) / "cohort", dialect)
        tables = validate(files)
        assert_tables_equal(tables, cohort.expected)
        assert_contract_holds(tables)
        outputs = validated_paths(Path(scratch) / "validated")
        for name, frame in tables.items():
            write_csv(frame, outputs[name])
        assert_tables_equal({name: read_validated(outputs[name], name) for name in NATIVE_FILES}, cohort.expected)
        assert_round_trip(outputs)


def check_corruption(cohort: NativeCohort, corruption: Corruption, dialect: CsvDialect) -> None:
    """The property of one corrupted cohort: accepted and round-tripping, or stopped naming where, with nothing written."""
    content = dict(cohort.text)
    table = corruption.table
    if corruption.on_bytes:
        content[table] = corrupt_bytes(csv_bytes(content[table], dialect), corruption)
    else:
        content[table] = corrupt_frame(content[table], corruption)
    with tempfile.TemporaryDirectory() as scratch:
        files = write_cohort_files(content, Path(scratch) / "cohort", dialect)
        outputs_dir = Path(scratch) / "validated"
        try:
            outputs = run_validate_step(files, outputs_dir)
        except CohortValidationError as error:
            event(f"{corruption.kind}: CohortValidationError")
            check_rejection(error, corruption, files, cohort.text, content)
        except InputFileError as error:
            event(f"{corruption.kind}: InputFileError")
            assert any(path in str(error) for path in files.values()), f"the error names no input file: {error}"
        else:
            event(f"{corruption.kind}: accepted")
            assert not must_be_rejected(corruption, cohort.text), f"accepted although it cannot be valid: {corruption}"
            tables = {name: read_validated(outputs[name], name) for name in NATIVE_FILES}
            assert_contract_holds(SimpleNamespace(**tables))
            if not corruption.on_bytes:
                assert_tables_equal(tables, typed_tables(content))
            assert_round_trip(outputs)
            return
        assert not outputs_dir.exists() or not any(outputs_dir.iterdir()), "a failed validation wrote output"


SMALLEST = cohort_of(SMALLEST_COHORT)
corrupted_cohorts = native_cohorts(max_participants=3).flatmap(lambda cohort: st.tuples(st.just(cohort), corruptions(cohort.text, REFERENCES)))


# Found by the property (each was accepted before its fix): an ID ending in a line break (`$` matched
# before it), an ID holding a control character, a header naming a column twice (pandas renamed the
# second `arm.1` and the file passed).
@example(case=(SMALLEST, Corruption("cell", "participants", row=0, column="participant_id", value="p1\n")),
         dialect=CsvDialect("utf-8-sig", "\r\n", True))
@example(case=(SMALLEST, Corruption("cell", "scores", row=0, column="judge", value="gpt\x00")), dialect=CsvDialect("utf-8", "\n", False))
@example(case=(SMALLEST, Corruption("duplicate_column", "participants", column="arm", value="bad", payload="placebo")),
         dialect=CsvDialect("utf-8", "\r\n", False))
@given(case=corrupted_cohorts, dialect=dialects)
def test_any_single_corruption_is_accepted_or_stops_the_rule_naming_where(case, dialect):
    check_corruption(*case, dialect)


def test_a_stray_delimiter_in_the_first_data_row_is_named_not_read_as_an_index(tmp_path):
    # pandas took the first column for an index when the first data row had one value more than the header,
    # and every value of the file moved one column to the left
    text = {**SMALLEST_COHORT, "participants": {"participant_id": ["p1", "p2"], "arm": ["control", "video"]}}
    files = write_cohort_files(cohort_of(text).text, tmp_path, CsvDialect("utf-8", "\n", False))
    path = Path(files["participants"])
    path.write_bytes(path.read_bytes().replace(b"p1,control\n", b"p1,control,\n"))
    with pytest.raises(InputFileError, match=r"participants\.csv: not a valid CSV file: row 1 has 3 values but the header names 2 columns"):
        validate(files)
