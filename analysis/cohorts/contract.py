"""The native data contract (v1): read, type and validate a cohort's four tables.

The contract is written down for people in ``docs/data_contract.md``; the
pandera schemas below are its executable form. Validation collects every
problem it can find and raises one :class:`~analysis.errors.CohortValidationError`
naming file, row, column, value and what was expected. Nothing is written
before validation succeeds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.cohorts.native import CohortTables
from analysis.constants import (
    EMPATHY_ITEMS,
    NATIVE_FILES,
    ROLES,
    SCORE_MAX,
    SCORE_MIN,
    SELF_RATINGS,
    TROUBLE_TYPES,
)
from analysis.errors import CohortValidationError, InputFileError, ValidationIssue
from analysis.runtime.checksums import file_checksums
from analysis.runtime.lazy_imports import lazy_module

__all__ = [
    "CONTRACT_VERSION", "IDENTIFIER_PATTERN", "IDENTIFIER_RULE", "CONTROL_CHARACTERS", "table_schemas", "read_csv_text",
    "schema_issues", "duplicate_issues", "reference_issues", "validate_cohort", "VALIDATED_DTYPES", "read_validated",
    "load_and_validate",
]

pa = lazy_module("pandera.pandas")

CONTRACT_VERSION = 1

# An ID: printable text without whitespace at either end and without control characters. `\Z`, not
# `$`, which also matches before a trailing newline.
IDENTIFIER_PATTERN = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?\Z"
IDENTIFIER_RULE = "a non-empty ID without leading or trailing spaces or control characters"


# C0 controls but tab, newline and carriage return, and DEL: a NUL or an escape sequence in a message
# would be copied into every table and report that shows the text.
CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def _likert(name: str) -> pa.Column:
    return pa.Column(
        "Int64",
        pa.Check.isin([1, 2, 3, 4, 5], error="an integer from 1 to 5 (or empty)"),
        nullable=True,
        required=False,
        coerce=True,
        title=name,
    )


def table_schemas(
    arms: Sequence[str], dimensions: Sequence[str], conversations_per_participant: int
) -> dict[str, pa.DataFrameSchema]:
    """The pandera schema of each native table under a registered plan.

    Parameters
    ----------
    arms : sequence of str
        Registered arms; ``participants.arm`` must be one of them.
    dimensions : sequence of str
        Registered dimensions; ``scores.dimension`` must be one of them.
    conversations_per_participant : int
        ``conversations.conversation_number`` runs from 1 to this.

    Returns
    -------
    dict of str to pandera.DataFrameSchema
        Keyed by table name (participants, conversations, messages, scores).
        Extra columns are allowed and kept.
    """
    identifier = pa.Check.str_matches(IDENTIFIER_PATTERN, error=IDENTIFIER_RULE)
    participant_columns = {
        "participant_id": pa.Column(str, identifier, nullable=False),
        "arm": pa.Column(str, pa.Check.isin(list(arms), error=f"one of the registered arms {list(arms)}")),
        "age": pa.Column(
            "Int64",
            pa.Check.in_range(0, 120, error="an integer age from 0 to 120 (or empty)"),
            nullable=True,
            required=False,
            coerce=True,
        ),
        "sex": pa.Column(str, nullable=True, required=False),
    }
    participant_columns.update({item: _likert(item) for item in EMPATHY_ITEMS})
    numbers = list(range(1, conversations_per_participant + 1))
    conversation_columns = {
        "conversation_id": pa.Column(str, identifier),
        "participant_id": pa.Column(str, identifier),
        "conversation_number": pa.Column(
            int, pa.Check.isin(numbers, error=f"an integer conversation number from 1 to {conversations_per_participant}"),
            coerce=True,
        ),
        "scenario": pa.Column(str, identifier),
        "trouble_type": pa.Column(str, pa.Check.isin(list(TROUBLE_TYPES), error=f"one of {list(TROUBLE_TYPES)}")),
    }
    conversation_columns.update({rating: _likert(rating) for rating in SELF_RATINGS})
    message_columns = {
        "conversation_id": pa.Column(str, identifier),
        "turn": pa.Column(int, pa.Check.ge(1, error="an integer turn number of at least 1"), coerce=True),
        "role": pa.Column(str, pa.Check.isin(list(ROLES), error=f"one of {list(ROLES)}")),
        "text": pa.Column(
            str,
            pa.Check(
                lambda text: ~text.str.contains(CONTROL_CHARACTERS, regex=True, na=False),
                element_wise=False,
                error="text without control characters (tab, newline and carriage return are allowed)",
            ),
            nullable=True,
        ),
    }
    score_columns = {
        "conversation_id": pa.Column(str, identifier),
        "judge": pa.Column(str, identifier),
        "dimension": pa.Column(
            str, pa.Check.isin(list(dimensions), error=f"one of the registered dimensions {list(dimensions)}")
        ),
        "score": pa.Column(
            float,
            pa.Check.in_range(SCORE_MIN, SCORE_MAX, error=f"a number in [{SCORE_MIN:g}, {SCORE_MAX:g}]"),
            coerce=True,
        ),
    }
    return {
        "participants": pa.DataFrameSchema(participant_columns, strict=False, name="participants"),
        "conversations": pa.DataFrameSchema(conversation_columns, strict=False, name="conversations"),
        "messages": pa.DataFrameSchema(message_columns, strict=False, name="messages"),
        "scores": pa.DataFrameSchema(score_columns, strict=False, name="scores"),
    }


def read_csv_text(path: str | Path, only_once: Collection[str] | None = None) -> pd.DataFrame:
    """Read a contract CSV with every column as text, checking the file first.

    Empty cells become missing values. Nothing is converted here: types are
    the schemas' business, so a bad value is reported with its file and row.

    Parameters
    ----------
    path : str or Path
        The file.
    only_once : collection of str, optional
        Column names the header may hold only once (default: every name).
        A repeated name outside them is kept with pandas' suffixes
        (``name.1``, ``name.2``, ...).

    Raises
    ------
    InputFileError
        When the file is missing, empty, not valid UTF-8, not parseable as CSV
        (a row with more values than the header is named), names a column
        twice or has a header but no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: file not found; expected a CSV file of the native data contract")
    raw = path.read_bytes()
    if not raw.strip():
        raise InputFileError(f"{path}: the file is empty; expected a header row and at least one data row")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        bad = raw[error.start : error.start + 1].hex()
        raise InputFileError(
            f"{path}: not valid UTF-8 (byte 0x{bad} at offset {error.start}, line {line}); "
            "expected UTF-8 text: re-save the file as UTF-8"
        ) from error
    try:
        # The header is read as a row: pandas would take the first column for an index when the first
        # data row has one value more than the header, and shift every value of the file by one column.
        cells = pd.read_csv(io.StringIO(text), header=None, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.ParserError as error:
        overlong = _row_with_too_many_values(text)
        problem = (
            f"row {overlong[0]} has {overlong[1]} values but the header names {overlong[2]} columns; expected one value "
            "per column (a value holding a comma must be quoted)"
            if overlong else str(error)
        )
        raise InputFileError(f"{path}: not a valid CSV file: {problem}") from error
    except pd.errors.EmptyDataError as error:
        raise InputFileError(f"{path}: not a valid CSV file: {error}") from error
    header = [f"Unnamed: {position}" if pd.isna(name) else name for position, name in enumerate(cells.iloc[0])]
    repeated = sorted({name for name in header if header.count(name) > 1 and (only_once is None or name in only_once)})
    if repeated:
        raise InputFileError(f"{path}: the header names the column(s) {repeated} more than once; expected each column once")
    seen: dict[str, int] = {}
    for position, name in enumerate(header):
        seen[name] = seen.get(name, -1) + 1
        header[position] = f"{name}.{seen[name]}" if seen[name] else name
    frame = cells.iloc[1:].set_axis(header, axis=1).reset_index(drop=True)
    if frame.empty:
        raise InputFileError(f"{path}: the file has a header but no data rows")
    return frame


def _row_with_too_many_values(text: str) -> tuple[int, int, int] | None:
    """The first data row holding more values than the header: (row as validation counts it, values,
    header columns), or None. Only called on a file pandas could not parse."""
    try:
        records = [record for record in csv.reader(io.StringIO(text, newline="")) if record]  # pandas skips blank lines
    except csv.Error:
        return None
    if not records:
        return None
    lengths = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
    overlong = np.flatnonzero(lengths[1:] > lengths[0])
    return (int(overlong[0]) + 1, int(lengths[overlong[0] + 1]), int(lengths[0])) if overlong.size else None


def schema_issues(frame: pd.DataFrame, schema: pa.DataFrameSchema, file: str) -> tuple[pd.DataFrame | None, list]:
    """Validate one table against a pandera schema.

    Returns the typed frame (None when it fails) and the list of
    :class:`~analysis.errors.ValidationIssue` found (file, 1-based data row,
    column, value, what was expected). Use it for any optional table so its
    errors read like the core contract's.
    """
    try:
        return schema.validate(frame, lazy=True), []
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    issues = []
    seen = set()
    for case in cases.itertuples(index=False):
        column = case.column
        if case.check == "column_in_dataframe":
            key = ("missing", case.failure_case)
            if key not in seen:
                issues.append(ValidationIssue(file, None, str(case.failure_case), None, "a column with this name (it is missing)"))
                seen.add(key)
            continue
        row = None if pd.isna(case.index) else int(case.index) + 1
        key = (column, row)
        if key in seen:
            continue
        seen.add(key)
        check = str(case.check)
        if check == "not_nullable":
            expected, value = "a value (the cell is empty)", None
        elif check.startswith(("coerce_dtype", "dtype")):
            expected, value = f"a value of type {schema.columns[column].dtype}", case.failure_case
        else:
            expected, value = check, case.failure_case
        issues.append(ValidationIssue(file, row, column, value, expected))
    return None, issues


def duplicate_issues(frame: pd.DataFrame, keys: list[str], file: str, what: str) -> list[ValidationIssue]:
    """One issue per row repeating the ``keys`` of an earlier row (naming that row)."""
    positions = pd.Series(frame.index, index=frame.index)
    first_row = positions.groupby([frame[key] for key in keys], dropna=False).transform("min")
    duplicated = frame.duplicated(keys, keep="first")
    issues = []
    for index in frame.index[duplicated]:
        value = frame.loc[index, keys[0]] if len(keys) == 1 else tuple(frame.loc[index, keys])
        issues.append(
            ValidationIssue(
                file, int(index) + 1, "+".join(keys), value, f"{what} unique (first seen at row {int(first_row[index]) + 1})"
            )
        )
    return issues


def reference_issues(frame: pd.DataFrame, column: str, known: pd.Series, file: str, target: str) -> list[ValidationIssue]:
    """One issue per row whose ``column`` value is not among ``known`` (the IDs of ``target``)."""
    unknown = ~frame[column].isin(known)
    return [
        ValidationIssue(file, int(index) + 1, column, frame.loc[index, column], f"an ID that exists in {target}")
        for index in frame.index[unknown]
    ]


def _two_arm_issues(participants: pd.DataFrame, file: str) -> list[ValidationIssue]:
    arms_per_participant = participants.groupby("participant_id")["arm"].nunique()
    issues = []
    for participant in arms_per_participant.index[arms_per_participant > 1]:
        rows = participants.index[participants["participant_id"] == participant]
        listing = ", ".join(f"{participants.loc[row, 'arm']} at row {int(row) + 1}" for row in rows)
        issues.append(
            ValidationIssue(file, int(rows[1]) + 1, "arm", participant, f"each participant in exactly one arm (found {listing})")
        )
    return issues


def validate_cohort(
    raw: CohortTables,
    files: dict[str, str],
    arms: Sequence[str],
    dimensions: Sequence[str],
    conversations_per_participant: int,
) -> CohortTables:
    """Check a cohort against the native contract and return typed tables.

    Parameters
    ----------
    raw : CohortTables
        The four tables as read by :func:`read_csv_text` (all text).
    files : dict of str to str
        Table name to the file it came from, used in messages.
    arms, dimensions, conversations_per_participant
        The registered design (see :func:`table_schemas`).

    Returns
    -------
    CohortTables
        The same rows with typed columns, sorted by their keys.

    Raises
    ------
    CohortValidationError
        Listing every problem: schema breaches (missing column, wrong type,
        score outside [1, 5], unknown dimension or arm), duplicate IDs,
        a participant in two arms, duplicate (conversation, judge, dimension)
        or (participant, conversation_number), and references to a
        participant or conversation that does not exist.
    """
    schemas = table_schemas(arms, dimensions, conversations_per_participant)
    typed = {}
    issues: list[ValidationIssue] = []
    for name, frame in raw.items():
        checked, found = schema_issues(frame, schemas[name], files[name])
        typed[name] = checked
        issues.extend(found)

    participants = raw.participants
    conversations = raw.conversations
    file_p, file_c, file_m, file_s = (files[name] for name in NATIVE_FILES)
    if "participant_id" in participants and "arm" in participants:
        two_arms = _two_arm_issues(participants, file_p)
        issues.extend(two_arms)
        two_arm_ids = {issue.value for issue in two_arms}
        repeated = participants[~participants["participant_id"].isin(two_arm_ids)]
        issues.extend(duplicate_issues(repeated, ["participant_id"], file_p, "participant_id to be"))
    if "conversation_id" in conversations:
        issues.extend(duplicate_issues(conversations, ["conversation_id"], file_c, "conversation_id to be"))
    if {"participant_id", "conversation_number"} <= set(conversations):
        issues.extend(
            duplicate_issues(
                conversations, ["participant_id", "conversation_number"], file_c,
                "each participant's conversation_number to be",
            )
        )
    if "participant_id" in conversations and "participant_id" in participants:
        issues.extend(reference_issues(conversations, "participant_id", participants["participant_id"], file_c, file_p))
    if {"conversation_id", "turn"} <= set(raw.messages):
        issues.extend(duplicate_issues(raw.messages, ["conversation_id", "turn"], file_m, "each conversation's turn to be"))
    if {"conversation_id", "judge", "dimension"} <= set(raw.scores):
        issues.extend(
            duplicate_issues(
                raw.scores, ["conversation_id", "judge", "dimension"], file_s, "(conversation_id, judge, dimension) to be"
            )
        )
    if "conversation_id" in conversations:
        for name, file in (("messages", file_m), ("scores", file_s)):
            frame = getattr(raw, name)
            if "conversation_id" in frame:
                issues.extend(reference_issues(frame, "conversation_id", conversations["conversation_id"], file, file_c))
    if issues:
        raise CohortValidationError(issues)
    return CohortTables(
        participants=typed["participants"].sort_values("participant_id", kind="stable").reset_index(drop=True),
        conversations=typed["conversations"].sort_values(["participant_id", "conversation_number"], kind="stable").reset_index(drop=True),
        messages=typed["messages"].sort_values(["conversation_id", "turn"], kind="stable").reset_index(drop=True),
        scores=typed["scores"].sort_values(["conversation_id", "judge", "dimension"], kind="stable").reset_index(drop=True),
    )


VALIDATED_DTYPES: dict[str, dict[str, str]] = {
    "participants": {"participant_id": "str", "arm": "str", "age": "Int64", "sex": "str", **{item: "Int64" for item in EMPATHY_ITEMS}},
    "conversations": {
        "conversation_id": "str",
        "participant_id": "str",
        "conversation_number": "int64",
        "scenario": "str",
        "trouble_type": "str",
        **{rating: "Int64" for rating in SELF_RATINGS},
    },
    "messages": {"conversation_id": "str", "turn": "int64", "role": "str", "text": "str"},
    "scores": {"conversation_id": "str", "judge": "str", "dimension": "str", "score": "float64"},
}


def read_validated(path: str | Path, table: str) -> pd.DataFrame:
    """Read a table written by the validation step with the contract's types.

    IDs stay text (so ``007`` is not read as 7); extra columns are read as text.
    """
    header = pd.read_csv(path, nrows=0).columns
    dtypes = {column: VALIDATED_DTYPES[table].get(column, "str") for column in header}
    return pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])


def load_and_validate(
    files: dict[str, str],
    arms: Sequence[str],
    dimensions: Sequence[str],
    conversations_per_participant: int,
) -> tuple[CohortTables, dict]:
    """Read the four native files, validate them and summarise what was read.

    Returns
    -------
    tables : CohortTables
        Typed, sorted tables (see :func:`validate_cohort`).
    summary : dict
        ``contract_version``, ``rows`` per table, ``judges`` and ``sha256``
        of every input file (keyed by table name).
    """
    raw = CohortTables(**{name: read_csv_text(path) for name, path in files.items()})
    tables = validate_cohort(raw, files, arms, dimensions, conversations_per_participant)
    summary = {
        "contract_version": CONTRACT_VERSION,
        "rows": {name: int(len(frame)) for name, frame in tables.items()},
        "judges": sorted(tables.scores["judge"].unique().tolist()),
        "sha256": {name: file_checksums(path)["sha256"] for name, path in files.items()},
    }
    return tables, summary
