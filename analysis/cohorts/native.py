"""The four tables of a native cohort, held together, and their CSV round trip."""

from __future__ import annotations

import csv
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from analysis.constants import NATIVE_FILES
from analysis.runtime import atomic

__all__ = ["CohortTables", "holds_carriage_return", "write_csv", "write_native"]


@dataclass(frozen=True)
class CohortTables:
    """One cohort in the native data contract (see ``docs/data_contract.md``).

    Attributes
    ----------
    participants, conversations, messages, scores : pandas.DataFrame
        The four native tables, one row per participant, conversation,
        message and (conversation, judge, dimension) score.
    """

    participants: pd.DataFrame
    conversations: pd.DataFrame
    messages: pd.DataFrame
    scores: pd.DataFrame

    def items(self):
        """Yield ``(table_name, frame)`` pairs in the contract's order."""
        for field in fields(self):
            yield field.name, getattr(self, field.name)


def holds_carriage_return(frame: pd.DataFrame) -> bool:
    """Whether a text cell of ``frame`` holds a carriage return (``\\r``)."""
    text = frame.select_dtypes(include=["object", "string", "category"])
    return any(text.iloc[:, i].astype("str").str.contains("\r", regex=False, na=False).any() for i in range(text.shape[1]))


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table as UTF-8 CSV at full precision, deterministically.

    Floats are written with their shortest round-trip representation, the
    index is dropped and line endings are ``\\n`` so that equal frames give
    byte-identical files. The file is written atomically (:mod:`analysis.runtime.atomic`).
    A table with a carriage return in a text cell is written with every field
    quoted: Python's csv writer leaves a lone ``\\r`` unquoted under ``\\n``
    line endings, and a reader would take it for the end of a row.
    """
    quoting = csv.QUOTE_ALL if holds_carriage_return(frame) else csv.QUOTE_MINIMAL
    atomic.write_csv(frame, path, index=False, encoding="utf-8", lineterminator="\n", quoting=quoting)


def write_native(tables: CohortTables, directory: str | Path) -> dict[str, Path]:
    """Write a cohort as the four native CSV files in ``directory``.

    Returns
    -------
    dict
        Table name to the path written.
    """
    directory = Path(directory)
    written = {}
    for name, frame in tables.items():
        path = directory / NATIVE_FILES[name]
        write_csv(frame, path)
        written[name] = path
    return written
