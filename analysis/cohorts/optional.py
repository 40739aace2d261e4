"""The optional cohort files: schemas and loaders of ``perception.csv``, ``elo.csv`` and ``themes.csv``.

A cohort may carry three files beyond the core contract (see ``docs/data_contract.md``):

* ``perception.csv``: human raters' choices between two conversations of the same scenario
  (:func:`load_perception`), analysed by :mod:`analysis.secondary.perception`;
* ``elo.csv``: an LLM's pairwise Elo rating of each conversation (:func:`load_elo`);
* ``themes.csv``: a classifier's theme codes of supporter messages (:func:`validate_themes`,
  :func:`load_themes`), analysed by :mod:`analysis.secondary.taxonomy`.

They are validated with the helpers of :mod:`analysis.cohorts.contract`, so their errors read like
the core contract's (file, row, column, value, expected).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.cohorts import contract
from analysis.constants import THEME_CATEGORIES
from analysis.errors import AnalysisError, CohortValidationError, ValidationIssue
from analysis.runtime.lazy_imports import lazy_module

__all__ = [
    "PERCEPTION_COLUMNS", "ELO_COLUMNS", "THEME_COLUMNS", "perception_schema", "elo_schema", "load_perception", "load_elo",
    "themes_schema", "message_keys", "validate_themes", "load_themes", "read_validated_themes", "themes_at_level",
]

pa = lazy_module("pandera.pandas")

PERCEPTION_COLUMNS = ["rater_id", "pair_id", "scenario", "conversation_left_id", "conversation_right_id", "choice"]
ELO_COLUMNS = ["conversation_id", "elo_rating"]
THEME_COLUMNS: tuple[str, ...] = ("conversation_id", "turn", "theme", "category")


# ---------------------------------------------------------------------------------------------
# perception.csv and elo.csv


def perception_schema() -> pa.DataFrameSchema:
    """The pandera schema of ``perception.csv`` (extra columns are allowed and kept).

    Returns
    -------
    pandera.DataFrameSchema
        Schema ``"perception"``: ``rater_id``, ``pair_id``, ``scenario``, ``conversation_left_id`` and
        ``conversation_right_id`` as identifier strings, ``choice`` as ``"left"`` or ``"right"``;
        not strict.
    """
    identifier = pa.Check.str_matches(contract.IDENTIFIER_PATTERN, error=contract.IDENTIFIER_RULE)
    columns = {name: pa.Column(str, identifier) for name in PERCEPTION_COLUMNS[:-1]}
    columns["choice"] = pa.Column(str, pa.Check.isin(["left", "right"], error="left or right"))
    return pa.DataFrameSchema(columns, strict=False, name="perception")


def elo_schema() -> pa.DataFrameSchema:
    """The pandera schema of ``elo.csv``.

    Returns
    -------
    pandera.DataFrameSchema
        Schema ``"elo"``: ``conversation_id`` as an identifier string, ``elo_rating`` coerced to
        float and finite; not strict (extra columns are allowed and kept).
    """
    identifier = pa.Check.str_matches(contract.IDENTIFIER_PATTERN, error=contract.IDENTIFIER_RULE)
    finite = pa.Check(lambda values: np.isfinite(values), error="a finite number")
    return pa.DataFrameSchema(
        {"conversation_id": pa.Column(str, identifier), "elo_rating": pa.Column(float, finite, coerce=True)},
        strict=False, name="elo",
    )


def load_perception(path: str | Path, conversations: pd.DataFrame) -> pd.DataFrame:
    """Read and validate ``perception.csv`` against the cohort's conversations.

    Parameters
    ----------
    path : str or Path
        The file.
    conversations : pandas.DataFrame
        The cohort's validated conversations (conversation_id, scenario).

    Returns
    -------
    pandas.DataFrame
        The rows, typed, in file order.

    Raises
    ------
    InputFileError
        When the file is missing, empty or not CSV.
    CohortValidationError
        Listing every problem: a missing column, an empty ID, a choice other than left/right, a
        repeated (rater_id, pair_id), a conversation ID not in conversations.csv, a pair showing
        the same conversation twice, and a scenario that differs from the conversations'.
    """
    file = str(path)
    raw = contract.read_csv_text(path)
    typed, issues = contract.schema_issues(raw, perception_schema(), file)
    if {"rater_id", "pair_id"} <= set(raw):
        issues.extend(contract.duplicate_issues(raw, ["rater_id", "pair_id"], file, "(rater_id, pair_id) to be"))
    known = conversations["conversation_id"]
    scenario_of = conversations.set_index("conversation_id")["scenario"]
    for side in ("conversation_left_id", "conversation_right_id"):
        if side in raw:
            issues.extend(contract.reference_issues(raw, side, known, file, "conversations.csv"))
            if "scenario" in raw:
                expected = raw[side].map(scenario_of)
                wrong = expected.notna() & raw["scenario"].notna() & (expected != raw["scenario"])
                issues.extend(
                    ValidationIssue(file, int(index) + 1, "scenario", raw.loc[index, "scenario"],
                                    f"the scenario of {raw.loc[index, side]} in conversations.csv ({expected[index]})")
                    for index in raw.index[wrong]
                )
    if {"conversation_left_id", "conversation_right_id"} <= set(raw):
        same = raw["conversation_left_id"] == raw["conversation_right_id"]
        issues.extend(
            ValidationIssue(file, int(index) + 1, "conversation_right_id", raw.loc[index, "conversation_right_id"],
                            "a conversation other than conversation_left_id")
            for index in raw.index[same]
        )
    if issues:
        raise CohortValidationError(issues)
    return typed.reset_index(drop=True)


def load_elo(path: str | Path, conversations: pd.DataFrame) -> pd.DataFrame:
    """Read and validate ``elo.csv``: unique conversation IDs of the cohort and finite ratings.

    Parameters
    ----------
    path : str or Path
        The file.
    conversations : pandas.DataFrame
        The cohort's validated conversations (``conversation_id``).

    Returns
    -------
    pandas.DataFrame
        The rows, typed (``elo_rating`` as float, extra columns kept as text), in file order.

    Raises
    ------
    InputFileError, CohortValidationError
        As :func:`load_perception`.
    """
    file = str(path)
    raw = contract.read_csv_text(path)
    typed, issues = contract.schema_issues(raw, elo_schema(), file)
    if "conversation_id" in raw:
        issues.extend(contract.duplicate_issues(raw, ["conversation_id"], file, "conversation_id to be"))
        issues.extend(
            contract.reference_issues(raw, "conversation_id", conversations["conversation_id"], file, "conversations.csv")
        )
    if issues:
        raise CohortValidationError(issues)
    return typed.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# themes.csv


def themes_schema() -> pa.DataFrameSchema:
    """The pandera schema of ``themes.csv`` (extra columns are allowed and kept).

    Returns
    -------
    pandera.DataFrameSchema
        Schema ``"themes"``: ``conversation_id`` and ``theme`` as non-empty strings without leading
        or trailing spaces, ``turn`` coerced to int and at least 1, ``category`` one of
        :data:`analysis.constants.THEME_CATEGORIES`; not strict.
    """
    identifier = pa.Check.str_matches(r"^\S(.*\S)?\Z", error="a non-empty value without leading or trailing spaces")
    return pa.DataFrameSchema(
        {
            "conversation_id": pa.Column(str, identifier),
            "turn": pa.Column(int, pa.Check.ge(1, error="an integer turn number of at least 1"), coerce=True),
            "theme": pa.Column(str, identifier),
            "category": pa.Column(
                str, pa.Check.isin(list(THEME_CATEGORIES), error=f"one of {list(THEME_CATEGORIES)}")
            ),
        },
        strict=False,
        name="themes",
    )


def message_keys(conversation_id: pd.Series, turn: pd.Series) -> pd.Series:
    """``"<conversation_id> turn <n>"``: one text key per message, for reference checks.

    Parameters
    ----------
    conversation_id, turn : pandas.Series
        The messages' conversation IDs and turn numbers (aligned).

    Returns
    -------
    pandas.Series
        One key per message, ``"<conversation_id> turn <turn>"``, with the inputs' index.
    """
    return conversation_id.astype(str) + " turn " + turn.astype(str)


def validate_themes(raw: pd.DataFrame, messages: pd.DataFrame, file: str) -> pd.DataFrame:
    """Check a cohort's ``themes.csv`` and return it typed and sorted.

    Parameters
    ----------
    raw : pandas.DataFrame
        The file as read by :func:`analysis.cohorts.contract.read_csv_text` (all text).
    messages : pandas.DataFrame
        The cohort's validated messages (``conversation_id``, ``turn``).
    file : str
        The file name used in messages.

    Returns
    -------
    pandas.DataFrame
        ``conversation_id``, ``turn`` (int), ``theme``, ``category`` (and any
        extra columns), sorted by conversation, turn and theme.

    Raises
    ------
    CohortValidationError
        Listing every problem: a missing column, an empty value, a turn that
        is not a positive integer, a category outside
        ``affective | cognitive | motivational | misattuned``, the same
        (conversation, turn, theme) twice, a theme given two categories, and
        a (conversation, turn) that is not a message of the cohort.
    """
    typed, issues = contract.schema_issues(raw, themes_schema(), file)
    if {"conversation_id", "turn", "theme"} <= set(raw.columns):
        issues.extend(contract.duplicate_issues(raw, ["conversation_id", "turn", "theme"], file, "each message's theme to be"))
    if {"theme", "category"} <= set(raw.columns):
        usable = raw.dropna(subset=["theme", "category"])
        first = usable.groupby("theme", sort=False)["category"].transform("first")
        first_row = pd.Series(usable.index, index=usable.index).groupby(usable["theme"], sort=False).transform("min")
        for index in usable.index[usable["category"] != first]:
            issues.append(
                ValidationIssue(
                    file, int(index) + 1, "category", usable.loc[index, "category"],
                    f"one category per theme: theme {usable.loc[index, 'theme']!r} is "
                    f"{first[index]!r} at row {int(first_row[index]) + 1}",
                )
            )
    if {"conversation_id", "turn"} <= set(raw.columns):
        turn = pd.to_numeric(raw["turn"], errors="coerce")
        # a turn that is not a finite whole number is reported by the schema; only the others are looked up
        checkable = raw[np.isfinite(turn) & (turn == np.round(turn)) & raw["conversation_id"].notna()]
        keys = pd.DataFrame(
            {"message": message_keys(checkable["conversation_id"], turn[checkable.index].astype("int64"))},
            index=checkable.index,
        )
        known = message_keys(messages["conversation_id"], messages["turn"].astype("int64"))
        issues.extend(contract.reference_issues(keys, "message", known, file, "messages.csv (conversation_id and turn)"))
    if issues:
        issues.sort(key=lambda issue: (issue.row is not None, issue.row or 0))
        raise CohortValidationError(issues)
    return typed.sort_values(["conversation_id", "turn", "theme"], kind="stable").reset_index(drop=True)


def load_themes(path: str | Path, messages: pd.DataFrame) -> pd.DataFrame:
    """Read and validate a ``themes.csv`` file (see :func:`validate_themes`).

    Parameters
    ----------
    path : str or Path
        The file; its path is also the file name used in messages.
    messages : pandas.DataFrame
        The cohort's validated messages (``conversation_id``, ``turn``).

    Returns
    -------
    pandas.DataFrame
        As :func:`validate_themes`: typed, sorted by conversation, turn and theme.

    Raises
    ------
    InputFileError
        When the file is missing, empty or not CSV.
    CohortValidationError
        As :func:`validate_themes`.
    """
    return validate_themes(contract.read_csv_text(path), messages, str(path))


def read_validated_themes(path: str | Path) -> pd.DataFrame:
    """Read the typed themes written by the ``validate_themes`` rule.

    Parameters
    ----------
    path : str or Path
        The CSV the rule wrote (already validated; not checked again).

    Returns
    -------
    pandas.DataFrame
        Every column of the file: ``conversation_id``, ``theme`` and ``category`` as text, ``turn`` as
        int64, any other column as pandas infers it; only empty cells are missing values.
    """
    return pd.read_csv(
        path, dtype={"conversation_id": "str", "theme": "str", "category": "str", "turn": "int64"},
        keep_default_na=False, na_values=[""],
    )


def themes_at_level(themes: pd.DataFrame, level: str) -> pd.DataFrame:
    """Theme codes at one level of a hierarchical coding.

    Parameters
    ----------
    themes : pandas.DataFrame
        Validated theme codes; a hierarchical coding (the authors' release) carries each theme's
        parent in ``theme_level2``, with ``category`` shared by a parent's themes.
    level : str
        ``"theme"`` (the finest level: the codes as they are) or the column holding the parent level
        to analyse (``"theme_level2"``).

    Returns
    -------
    pandas.DataFrame
        ``conversation_id``, ``turn``, ``theme`` (the label at ``level``), ``category``: one row per
        message and theme at that level (two codes of one message with the same parent count once),
        sorted by conversation, turn and theme.

    Raises
    ------
    AnalysisError
        When ``level`` is not a column, has empty values, or gives one theme two categories.
    """
    if level == "theme":
        return themes
    if level not in themes.columns:
        raise AnalysisError(f"themes have no column {level!r} to analyse at (columns: {list(themes.columns)})")
    if themes[level].isna().any():
        raise AnalysisError(f"{int(themes[level].isna().sum())} theme code(s) have no {level}")
    coarse = themes[["conversation_id", "turn", level, "category"]].rename(columns={level: "theme"})
    categories = coarse.groupby("theme")["category"].nunique()
    if (categories > 1).any():
        raise AnalysisError(f"{level} themes with more than one category: {sorted(categories.index[categories > 1])}")
    coarse = coarse.drop_duplicates(["conversation_id", "turn", "theme"])
    return coarse.sort_values(["conversation_id", "turn", "theme"], kind="stable").reset_index(drop=True)
