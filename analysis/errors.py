"""Exceptions of the pipeline; each message says what is wrong and what to do next."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = [
    "PipelineError", "ConfigError", "InputFileError", "ValidationIssue", "SHOWN_VALUE_MAX_CHARS", "CohortValidationError",
    "AnalysisError", "require_implemented", "exit_on_pipeline_error",
]


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
        value = "" if self.value is None else f": value {_shown_value(self.value)!r}"
        return f"{', '.join(where)}{value}; expected {self.expected}"


# Longest value an error message prints as it is; anything longer may be a message and is shortened.
SHOWN_VALUE_MAX_CHARS = 40


def _shown_value(value: object) -> object:
    """A bad value as an error message shows it: text (longer than ``SHOWN_VALUE_MAX_CHARS`` or holding
    white space) as a short scrubbed excerpt, so that no whole message is printed; a single short token
    (an ID, code or number) as it is, so that the user can find it."""
    if isinstance(value, str) and (len(value) > SHOWN_VALUE_MAX_CHARS or re.search(r"\s", value)):
        from analysis.cohorts.privacy import excerpt  # analysis.cohorts.privacy imports this module

        return excerpt(value, max_chars=SHOWN_VALUE_MAX_CHARS)
    return value


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


def require_implemented(key: str, value: object, implemented: object) -> None:
    """Refuse a registered option whose behaviour is fixed in code unless it is the one implemented.

    Parameters
    ----------
    key : str
        The option's place in the plan (e.g. ``perception.zero_gap``), named in the message.
    value : object
        The registered value.
    implemented : object
        The only value the code carries out.

    Raises
    ------
    ConfigError
        When ``value`` differs from ``implemented``: the spec record echoes the option, so running
        anything else under its name would misreport what ran.
    """
    if value != implemented:
        raise ConfigError(f"{key} '{value}' is not supported (implemented: {implemented})")


@contextmanager
def exit_on_pipeline_error() -> Iterator[None]:
    """End the process with the message of a :class:`PipelineError` raised inside, alone.

    For code that runs while Snakemake reads the workflow (``workflow/rules/common.smk``: the config, the
    plan): Snakemake would print the error with its class, the Snakefile's line and a traceback. Here the
    message is printed alone on standard error and the exit status is 1 (:class:`SystemExit`). Any other
    exception (a bug) passes through unchanged. Also a decorator: ``@exit_on_pipeline_error()``; on an
    input function only for an error that is fatal whichever rule applies (Snakemake tries the rules that
    match a file and skips those whose input functions raise; an exit ends the run instead).
    """
    try:
        yield
    except PipelineError as error:
        raise SystemExit(str(error)) from error
