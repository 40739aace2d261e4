"""Logging for rule scripts: everything a step reports goes to its Snakemake log file, and a step
that runs long shows a heartbeat on the terminal.

A step's log (``logs/<rule>/<cohort>.log``) holds what the step did. While the step runs, a
:class:`Heartbeat` writes one line every ``HEARTBEAT_SECONDS`` to the job's standard error (which
Snakemake passes to the terminal whatever its own output mode) and to the log: the step, its
current stage, the time spent and, where the stage reports how far it is, an estimate of the time
left. Code that knows its progress (the Bayesian sampler) reports it through
:func:`current_heartbeat`; every other step still says that it is alive. A step shorter than one
interval prints nothing. The heartbeat never touches an output file.

A step that stops on one of the pipeline's own errors (:class:`analysis.errors.PipelineError`: bad
input, a broken gate, an undeclared deviation, ...) ends with its message alone: in its log and, unless
the step console (:mod:`analysis.runtime.console`) will print it at the end of the run, once on standard
error; no traceback, exit status 1. Any other exception is a bug: its full traceback goes to the log
and to standard error.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from analysis.errors import PipelineError

__all__ = [
    "HEARTBEAT_SECONDS", "HEARTBEAT_PREFIX", "STEP_CONSOLE_ENV", "LOG_FORMAT", "format_duration", "Heartbeat",
    "current_heartbeat", "step_label", "expected_failure_message", "logged_step",
]

HEARTBEAT_SECONDS = 15.0
HEARTBEAT_PREFIX = "..."  # marks heartbeat lines on the terminal (analysis.runtime.console passes them through)
# Set (to "1") by the step console in the Snakemake process, whose jobs inherit it: the console prints each
# failed step's message at the end of the run, so the job writes it to its log only (shown once).
STEP_CONSOLE_ENV = "LEND_AN_EAR_STEP_CONSOLE"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# A log line that starts a record (LOG_FORMAT), and the one of an expected failure: "<date> <time> ERROR
# <step>: <step> failed: <message>", the log's last record (the message's further lines follow it).
_RECORD_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ \S+: ")
_EXPECTED_FAILURE_LINE = re.compile(r"^\S+ \S+ ERROR (?P<step>\S+): (?P=step) failed: (?P<first>.*)$")


def format_duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s`` or ``1 h 02 min``: a duration as people read it."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Heartbeat:
    """The stage and progress of a running step, reported every ``interval`` seconds.

    Parameters
    ----------
    label : str
        What runs, e.g. ``fit_bayes_ordinal (paper_sim)``.
    logger : logging.Logger, optional
        Also receives every heartbeat line (so the rule's log keeps the progress).
    stream : file-like, optional
        Where the lines go; default the process's standard error at the time of each line.
    interval : float
        Seconds between lines; the first comes one interval after :meth:`start`.
    clock : callable
        Monotonic clock in seconds (replaced in tests).

    Notes
    -----
    :meth:`stage` names what the step does now; :meth:`update` says how far that stage is
    (``done`` of ``total`` ``unit``). The time left is the stage's own estimate when given
    (``remaining_seconds``), else a linear extrapolation of the stage's rate so far; a stage
    without a count says so instead of guessing. Updates may come from any thread.
    """

    def __init__(
        self,
        label: str,
        logger: logging.Logger | None = None,
        stream: TextIO | None = None,
        interval: float = HEARTBEAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.logger = logger
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._stage = "running"
        self._stage_started = self._started
        self._done: float | None = None
        self._total: float | None = None
        self._unit = ""
        self._remaining: float | None = None
        self._detail = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def stage(self, name: str) -> None:
        """Start a new stage (its progress is unknown until :meth:`update`)."""
        with self._lock:
            self._stage = name
            self._stage_started = self.clock()
            self._done = self._total = self._remaining = None
            self._unit = self._detail = ""

    def update(
        self, done: float, total: float, unit: str = "", remaining_seconds: float | None = None, detail: str = ""
    ) -> None:
        """Report the current stage's progress: ``done`` of ``total`` ``unit``.

        ``remaining_seconds`` is the stage's own estimate of the time left, if it has one;
        ``detail`` is appended to the line (e.g. divergences so far).
        """
        with self._lock:
            self._done, self._total, self._unit = float(done), float(total), unit
            self._remaining = remaining_seconds
            self._detail = detail

    def line(self) -> str:
        """The heartbeat line for now."""
        now = self.clock()
        with self._lock:
            parts = [f"{HEARTBEAT_PREFIX} {self.label}: {self._stage}"]
            elapsed_stage = now - self._stage_started
            if self._done is not None and self._total:
                share = min(self._done / self._total, 1.0)
                unit = f" {self._unit}" if self._unit else ""
                parts.append(f"{int(self._done)}/{int(self._total)}{unit} ({share:.0%})")
                remaining = self._remaining
                if remaining is None and self._done > 0:
                    remaining = elapsed_stage * (self._total - self._done) / self._done
                estimate = f"about {format_duration(remaining)} left" if remaining is not None and math.isfinite(remaining) else "time left not yet known"
            else:
                estimate = "time left not measurable in this stage"
            if self._detail:
                parts.append(self._detail)
            parts.append(f"{format_duration(now - self._started)} so far")
            parts.append(estimate)
        return ", ".join(parts)

    def beat(self) -> None:
        """Write one line to the stream and the logger."""
        text = self.line()
        stream = self.stream if self.stream is not None else sys.stderr
        stream.write(text + "\n")
        stream.flush()
        if self.logger is not None:
            self.logger.info(text)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def start(self) -> Heartbeat:
        """Beat every ``interval`` seconds in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {self.label}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


_CURRENT: list[Heartbeat] = []


def current_heartbeat() -> Heartbeat:
    """The heartbeat of the step running in this process, or a silent one outside a step.

    Library code reports its stage and progress here without knowing whether it runs in a rule.
    """
    return _CURRENT[-1] if _CURRENT else Heartbeat("(not a step)", interval=math.inf)


def step_label(log_path: str | Path, step: str) -> str:
    """``step (wildcards)`` from a log path of the form ``logs/<rule>/<wildcards>.log``."""
    name = Path(log_path).name.removesuffix(".log")
    return f"{step} ({name})" if name and name != step else step


def expected_failure_message(log_path: str | Path) -> str | None:
    """The message of the pipeline error that ended the step logged at ``log_path``.

    Parameters
    ----------
    log_path : str or Path
        A step's log, as :func:`logged_step` writes it.

    Returns
    -------
    str or None
        The message (all its lines), or None when the log is missing or the step did not end on one of
        the pipeline's own errors (it succeeded, or a bug stopped it: its log ends with the traceback).
    """
    path = Path(log_path)
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for index in range(len(lines) - 1, -1, -1):
        if _RECORD_LINE.match(lines[index]):
            match = _EXPECTED_FAILURE_LINE.match(lines[index])
            return "\n".join([match["first"], *lines[index + 1:]]) if match else None
    return None


@contextmanager
def logged_step(log_path: str | Path, step: str, heartbeat_seconds: float = HEARTBEAT_SECONDS) -> Iterator[logging.Logger]:
    """Send log records to ``log_path`` for the duration of a step, with a heartbeat.

    A step running longer than ``heartbeat_seconds`` prints a heartbeat line (:class:`Heartbeat`)
    every ``heartbeat_seconds`` to standard error and to the log.

    Raises
    ------
    SystemExit
        With status 1 when the block raises a :class:`~analysis.errors.PipelineError` (an expected
        failure: bad input, a broken gate, ...). Its message is logged (``<step> failed: <message>``,
        the log's last line, read back by :func:`expected_failure_message`) and, unless the step
        console prints it at the end of the run (``STEP_CONSOLE_ENV`` set), written once to standard
        error; no traceback. Snakemake marks the job failed and removes its partial outputs.
    Exception
        Any other exception (a bug) is logged with its full traceback and re-raised, so Python prints
        the traceback on standard error too.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logger = logging.getLogger(step)
    label = step_label(log_path, step)
    heartbeat = Heartbeat(label, logger=logger, interval=heartbeat_seconds).start()
    _CURRENT.append(heartbeat)
    try:
        yield logger
    except PipelineError as error:
        heartbeat.stop()  # the failure is the log's last line
        logger.error("%s failed: %s", step, error)
        if not os.environ.get(STEP_CONSOLE_ENV):
            sys.stderr.write(f"{label} failed: {error}\n")
            sys.stderr.flush()
        raise SystemExit(1) from error
    except Exception:
        heartbeat.stop()
        logger.exception("%s failed on an unexpected error (a bug in the pipeline, not in its input); traceback:", step)
        raise
    finally:
        heartbeat.stop()
        _CURRENT.remove(heartbeat)
        root.removeHandler(handler)
        handler.close()
