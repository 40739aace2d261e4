"""Exceptions of the pipeline; each message says what is wrong and what to do next."""

from __future__ import annotations

from dataclasses import dataclass


class PipelineError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class ConfigError(PipelineError):
    """The run configuration or the registered plan is invalid."""


class InputFileError(PipelineError):
    """An input file is missing, empty, not UTF-8 or not parseable as CSV."""


@dataclass(frozen=True)
class ValidationIssue:
    """One problem found in an input table.

    ``row`` is the 1-based data row (the header is row 0), or None when the
    problem concerns the whole file or column.
    """

    file: str
    row: int | None
    column: str | None
    value: object
    expected: str

    def describe(self) -> str:
        """One line naming the file, row, column, bad value and what was expected."""
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        value = "" if self.value is None else f": value {self.value!r}"
        return f"{', '.join(where)}{value}; expected {self.expected}"


class CohortValidationError(PipelineError):
    """An input table breaks the data contract; ``issues`` lists every problem found."""

    max_listed = 25

    def __init__(self, issues: list[ValidationIssue]):
        self.issues = list(issues)
        lines = [issue.describe() for issue in self.issues[: self.max_listed]]
        more = len(self.issues) - len(lines)
        if more > 0:
            lines.append(f"... and {more} more problem(s) of the same kinds")
        header = (
            f"The cohort breaks the data contract ({len(self.issues)} problem(s)); "
            "fix the input files (see docs/data_contract.md) and run again:"
        )
        super().__init__("\n  ".join([header, *lines]))


class AnalysisError(PipelineError):
    """A registered analysis cannot be carried out on the data given."""
