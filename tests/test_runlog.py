"""How a step ends on an error: the pipeline's own errors with their message alone (log, standard error,
exit status 1), a bug with its traceback; the same for errors raised while Snakemake reads the workflow.
No Snakemake run here: the end-to-end failures are checked in tests/test_workflow*.py."""

from __future__ import annotations

import ast
import builtins
import os
import subprocess
import sys
import textwrap

import pytest

from analysis.errors import AnalysisError, ConfigError, InputFileError, PipelineError, exit_on_pipeline_error
from analysis.runtime.runlog import STEP_CONSOLE_ENV, expected_failure_message, logged_step
from tests.conftest import REPO

UTF8_MESSAGE = ("messages.csv: not valid UTF-8 (byte 0xe9 at offset 89, line 2); expected UTF-8 text: "
                "re-save the file as UTF-8")


def run_step(tmp_path, body: str) -> subprocess.CompletedProcess:
    """A rule script as Snakemake runs it: its own Python process, the step inside ``logged_step``."""
    script = textwrap.dedent(f"""
        from analysis.errors import InputFileError
        from analysis.runtime.runlog import logged_step
        with logged_step({str(tmp_path / "logs/validate_cohort/bad.log")!r}, "validate_cohort") as log:
            log.info("reading the cohort")
            {body}
        """)
    environment = {key: value for key, value in os.environ.items() if key != STEP_CONSOLE_ENV}
    environment["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=120)


def test_a_script_stopped_by_a_pipeline_error_prints_its_message_once_without_a_traceback(tmp_path):
    process = run_step(tmp_path, f"raise InputFileError({UTF8_MESSAGE!r})")
    assert process.returncode == 1
    assert process.stderr == f"validate_cohort (bad) failed: {UTF8_MESSAGE}\n"
    assert process.stdout == ""
    log = (tmp_path / "logs/validate_cohort/bad.log").read_text(encoding="utf-8")
    assert log.count(UTF8_MESSAGE) == 1 and "Traceback" not in log
    assert expected_failure_message(tmp_path / "logs/validate_cohort/bad.log") == UTF8_MESSAGE


def test_a_script_stopped_by_a_bug_shows_its_traceback_on_stderr_and_in_its_log(tmp_path):
    process = run_step(tmp_path, "{}['arm']")
    assert process.returncode == 1
    assert "Traceback (most recent call last)" in process.stderr and process.stderr.rstrip().endswith("KeyError: 'arm'")
    log = (tmp_path / "logs/validate_cohort/bad.log").read_text(encoding="utf-8")
    assert "failed on an unexpected error" in log and "Traceback (most recent call last)" in log
    assert log.rstrip().endswith("KeyError: 'arm'")
    assert expected_failure_message(tmp_path / "logs/validate_cohort/bad.log") is None


@pytest.mark.parametrize("console", [False, True])
def test_a_multi_line_message_reaches_the_log_whole_and_stderr_unless_the_console_prints_it(tmp_path, monkeypatch, capsys, console):
    if console:
        monkeypatch.setenv(STEP_CONSOLE_ENV, "1")
    else:
        monkeypatch.delenv(STEP_CONSOLE_ENV, raising=False)
    message = "bayes_composite broke its registered diagnostic gates:\n  bulk ESS below 400: intercept (212)\n  R-hat above 1.01: post"
    log = tmp_path / "logs/fit_bayes_composite/tiny.log"
    with pytest.raises(SystemExit) as stopped:
        with logged_step(log, "fit_bayes_composite", heartbeat_seconds=0.01) as logger:
            logger.info("sampling")
            raise AnalysisError(message)
    assert stopped.value.code == 1
    assert capsys.readouterr().err == ("" if console else f"fit_bayes_composite (tiny) failed: {message}\n")
    assert expected_failure_message(log) == message


def test_no_failure_message_in_the_log_of_a_step_that_succeeded_or_never_ran(tmp_path):
    with logged_step(tmp_path / "ok.log", "apply_exclusions") as logger:
        logger.info("apply_exclusions failed: nothing")  # a message that looks like one is not a failure
    assert expected_failure_message(tmp_path / "ok.log") is None
    assert expected_failure_message(tmp_path / "missing.log") is None


def test_a_pipeline_error_while_the_workflow_is_read_ends_the_process_with_its_message():
    with pytest.raises(SystemExit) as stopped:
        with exit_on_pipeline_error():
            raise ConfigError("The registered plan is invalid:\n  prereg.yaml: at 'design': 'arms' is a required property")
    assert stopped.value.code == "The registered plan is invalid:\n  prereg.yaml: at 'design': 'arms' is a required property"

    @exit_on_pipeline_error()
    def settings(value):
        if value < 0:
            raise ConfigError(f"power_overrides: $.attrition: {value} is less than the minimum of 0")
        if value > 1:
            raise ValueError("a bug")
        return value

    assert settings(0.5) == 0.5
    with pytest.raises(SystemExit, match="is less than the minimum of 0"):
        settings(-1)
    with pytest.raises(ValueError, match="a bug"):  # not the pipeline's own: its traceback is kept
        settings(2)


def test_a_script_stopped_while_the_workflow_is_read_prints_the_message_alone(tmp_path):
    code = ("from analysis.errors import ConfigError, exit_on_pipeline_error\n"
            "with exit_on_pipeline_error():\n    raise ConfigError('config: cohorts.oops: path is required')\n")
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    assert (process.returncode, process.stdout, process.stderr) == (1, "", "config: cohorts.oops: path is required\n")


# Exception classes of the package that are not the pipeline's own errors on purpose, and why.
NOT_PIPELINE_ERRORS = {
    "ImportResolutionError": "a defect of the code (a script imports a module that does not exist): a bug, with its traceback",
    "_FailedAttempt": "one optimizer attempt of the mixed models; always caught there and reported as an AnalysisError",
}


def test_every_error_the_package_raises_on_purpose_is_a_pipeline_error():
    """Read from the source (importing every module would load PyMC): each class whose bases name an
    exception must reach PipelineError through classes of the package, unless listed above."""
    bases: dict[str, list[str]] = {}
    for path in sorted((REPO / "analysis").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names = [base.id if isinstance(base, ast.Name) else getattr(base, "attr", "") for base in node.bases]
                bases[node.name] = names

    def is_exception(name: str) -> bool:
        builtin = getattr(builtins, name, None)
        if isinstance(builtin, type) and issubclass(builtin, BaseException):
            return True
        return any(is_exception(base) for base in bases.get(name, []) if base != name)

    def reaches_pipeline_error(name: str) -> bool:
        return name == "PipelineError" or any(reaches_pipeline_error(base) for base in bases.get(name, []) if base != name)

    exceptions = sorted(name for name in bases if is_exception(name))
    assert {"ConfigError", "InputFileError", "CohortValidationError", "AnalysisError", "DiagnosticsError", "AuditError",
            "ReleaseChecksumError", "ReleaseDownloadError", "ResourceRequestError"} <= set(exceptions)
    strays = [name for name in exceptions if not reaches_pipeline_error(name) and name not in NOT_PIPELINE_ERRORS]
    assert strays == [], f"derive these from analysis.errors.PipelineError (or list why not): {strays}"
    assert issubclass(InputFileError, PipelineError)
