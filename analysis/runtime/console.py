"""What a run prints: one line per finished step with the overall progress count, failures last.

Snakemake's default output lists every job's inputs, outputs, log and resources (hundreds of lines
per run). :class:`StepConsole` turns Snakemake's log records into::

    Running 52 steps (VERBOSE=1 prints each step's inputs and outputs)
    [ 1/52] simulate_cohort (paper_sim)  2 s
    ... fit_bayes_ordinal (paper_sim): sampling (4 chains on 2 core(s)), 5200/20000 iterations ...
    [52/52] render_report (paper_sim)  4 s
    Done: 52 steps in 4 min 12 s. Each step's log: logs/<step>/<cohort>.log

and, when a step fails, a block at the very end naming the step and its log, with the message of
the pipeline's error that stopped it (:class:`analysis.errors.PipelineError`; the job wrote it to its
log only, see :data:`analysis.runtime.runlog.STEP_CONSOLE_ENV`), or, for any other failure (a bug), the log's
last lines. Lines starting with ``...`` are the heartbeats of long steps
(:class:`analysis.runtime.runlog.Heartbeat`), written by the jobs themselves.

:class:`LogHandler` plugs it into Snakemake as the logger plugin ``steps``
(``snakemake --logger steps``, found through ``workflow/plugins`` on ``PYTHONPATH``; the Makefile
sets both). Messages Snakemake prints about its own set-up are dropped, and so are its messages about
a failed job that the final block says better (the job's command and exit status, "look above for
error messages"); warnings, other errors (an invalid workflow, missing input files) and anything else
are passed through unchanged.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

from analysis.runtime.runlog import STEP_CONSOLE_ENV, expected_failure_message, format_duration

__all__ = ["FAILED_LOG_LINES", "SETUP_MESSAGES", "SUPERSEDED_ERRORS", "StepConsole", "LogHandler"]

FAILED_LOG_LINES = 15  # last lines of a failed step's log shown at the end of the run

# Informational messages of Snakemake's own machinery: dropped (VERBOSE=1 shows them).
SETUP_MESSAGES = (
    "Assuming unrestricted shared filesystem usage",
    "Building DAG of jobs",
    "Using shell:",
    "Provided cores:",
    "Provided resources:",
    "Rules claiming more threads will be scaled down",
    "Conda environments: ignored",
    "Singularity containers: ignored",
    "Select jobs to execute",
    "Execute ",
    "host:",
    "Waiting at most",
    "Removing temporary output",
    "Touching output file",
    "Storing output in storage",
    "Retrieving from storage",
    "Job stats:",
    "Elapsed time:",  # the closing summary says it
)
# Snakemake's errors about a failed job that the final block replaces: "look above" (the details are
# below), "at least one job did not complete" (the summary says how many).
SUPERSEDED_ERRORS = (
    "Exiting because a job execution failed",
    "WorkflowError:\nAt least one job did not complete successfully",
)
# A failed job's command, which Snakemake reports before the job's error: only its exit status is kept.
_FAILED_COMMAND = re.compile(r"CalledProcessError in .*returned non-zero exit status (-?\d+)", re.DOTALL)


def _wildcards_text(wildcards) -> str:
    if not wildcards:
        return ""
    values = [str(value) for value in (wildcards.values() if isinstance(wildcards, dict) else wildcards)]
    return f" ({', '.join(values)})"


class StepConsole:
    """Condense Snakemake log records into the lines a person reads.

    Parameters
    ----------
    write : callable
        Receives each output line (without a newline).
    clock : callable
        Monotonic clock in seconds (replaced in tests).
    show_failed_logs : int
        Number of a failed step's last log lines to show at the end.
    """

    def __init__(self, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 show_failed_logs: int = FAILED_LOG_LINES) -> None:
        self.write = write
        self.clock = clock
        self.show_failed_logs = show_failed_logs
        self.started = clock()
        self.jobs: dict[int, tuple[str, float]] = {}  # jobid -> (step label, start time)
        self.finished: list[tuple[str, float]] = []  # waiting for the next progress count
        self.failures: list[dict] = []
        self.exit_status: str | None = None  # of the failed command Snakemake reported last
        self.total: int | None = None
        self.done = 0
        self.closing: list[str] = []
        self.closed = False

    def handle(self, record: logging.LogRecord) -> None:
        """Process one Snakemake log record."""
        event = getattr(record, "event", None)
        if event == LogEvent.RUN_INFO and isinstance(getattr(record, "stats", None), dict):
            self.total = int(record.stats.get("total", 0)) or None
            if self.total:
                self.write(f"Running {self.total} steps (VERBOSE=1 prints each step's inputs and outputs)")
        elif event == LogEvent.JOB_INFO:
            label = f"{record.rule_name}{_wildcards_text(getattr(record, 'wildcards', None))}"
            self.jobs[int(record.jobid)] = (label, self.clock())
        elif event == LogEvent.JOB_FINISHED:
            label, started = self.jobs.pop(int(record.job_id), (f"job {record.job_id}", self.clock()))
            self.finished.append((label, self.clock() - started))
        elif event == LogEvent.PROGRESS:
            self.done, self.total = int(record.done), int(record.total)
            width = len(str(self.total))
            for label, seconds in self.finished:
                self.write(f"[{self.done:>{width}}/{self.total}] {label}  {format_duration(seconds)}")
            self.finished = []
        elif event in (LogEvent.JOB_ERROR, LogEvent.GROUP_ERROR):
            self._failure(record)
        elif event == LogEvent.ERROR:
            self._error(record)
        elif event is None:
            self._message(record)

    def _failure(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None) == LogEvent.GROUP_ERROR:
            infos = list(getattr(record, "job_error_info", []) or [])
            logs = list(getattr(record, "aux_logs", []) or [])
            for info in infos:
                self.failures.append({"label": info.get("rule_name", "group"), "logs": list(info.get("log") or []) + logs,
                                      "message": getattr(record, "msg", "") or ""})
        else:
            jobid = getattr(record, "jobid", None)
            label = self.jobs.pop(int(jobid), (record.rule_name, 0.0))[0] if jobid is not None else record.rule_name
            aux = getattr(record, "aux", {}) or {}
            message = getattr(record, "rule_msg", "") or "; ".join(f"{key}: {value}" for key, value in aux.items())
            self.failures.append({"label": label, "logs": list(getattr(record, "log", []) or []), "message": message})
        self.failures[-1]["exit_status"] = self.exit_status
        self.exit_status = None
        self.write(f"FAILED {self.failures[-1]['label']} (details at the end)")

    def _error(self, record: logging.LogRecord) -> None:
        """An exception Snakemake reports: a failed job's command (kept for the final block) or any
        other error (an invalid workflow, missing input files), passed through."""
        text = record.getMessage() if record.msg is not None else ""
        failed_command = _FAILED_COMMAND.search(text)
        if getattr(record, "exception", None) == "RuleException" and failed_command:
            self.exit_status = failed_command.group(1)
        elif not text.startswith(SUPERSEDED_ERRORS) and text.strip():
            self.write(text)

    def _message(self, record: logging.LogRecord) -> None:
        text = record.getMessage() if record.msg is not None else ""
        if not text.strip():
            return
        if text.startswith(SUPERSEDED_ERRORS):
            return
        if record.levelno < logging.WARNING:
            if text.startswith(SETUP_MESSAGES):
                return
            if text.startswith("Complete log(s):"):
                self.closing.append(f"Snakemake's own log: {text.split(':', 1)[1].strip()}")
                return
        self.write(text)

    def close(self) -> None:
        """Print the summary: how many steps ran and, last, every failure with its log's tail."""
        if self.closed:
            return
        self.closed = True
        for label, seconds in self.finished:
            self.write(f"[{self.done}/{self.total}] {label}  {format_duration(seconds)}")
        elapsed = format_duration(self.clock() - self.started)
        if self.failures:
            self.write("")
            self.write(f"{len(self.failures)} step(s) FAILED after {elapsed} ({self.done} of {self.total} steps done):")
            for failure in self.failures:
                self._report_failure(failure)
        elif self.total:
            self.write(f"Done: {self.done} of {self.total} steps in {elapsed}. Each step's log: logs/<step>/<cohort>.log")
        for line in self.closing:
            self.write(line)

    def _report_failure(self, failure: dict) -> None:
        """The step, then the message of the pipeline error that stopped it and its log; for any other
        failure, the exit status of its process and the last lines of its log (the traceback of a bug)."""
        self.write(f"FAILED {failure['label']}")
        if failure["message"]:
            self.write(f"  {failure['message']}")
        messages = [expected_failure_message(log) for log in failure["logs"]]
        if any(messages):
            for message in filter(None, messages):
                for line in message.splitlines():
                    self.write(f"  {line}")
            for log in failure["logs"]:
                self.write(f"  log: {log}")
            return
        if failure.get("exit_status") is not None:
            self.write(f"  exit status {failure['exit_status']}")
        for log in failure["logs"]:
            self.write(f"  log: {log}")
            self._log_tail(log)

    def _log_tail(self, log: str) -> None:
        path = Path(log)
        if not path.is_file():
            self.write("    (the log was not written)")
            return
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for line in lines[-self.show_failed_logs:]:
            self.write(f"    | {line}")


class LogHandler(LogHandlerBase):
    """Snakemake logger plugin ``steps``: :class:`StepConsole` on standard error."""

    # The plugin interface's fixed answers (abstract properties of LogHandlerBase), as class attributes.
    writes_to_stream = True
    writes_to_file = False
    has_filter = True
    has_formatter = True
    needs_rulegraph = False

    def __post_init__(self) -> None:
        self.stream: TextIO = sys.stderr
        self.console = StepConsole(self._write)
        # The jobs Snakemake starts inherit this: they write an expected failure to their log only, and
        # the final block shows it (once).
        os.environ[STEP_CONSOLE_ENV] = "1"

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.handle(record)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self.console.close()
        super().close()
