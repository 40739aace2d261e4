"""Logging for rule scripts: everything a step reports goes to its Snakemake log file, and a step
that runs long shows a heartbeat on the terminal.

A step's log (``logs/<rule>/<cohort>.log``) holds what the step did. While the step runs, a
:class:`Heartbeat` writes one line every ``HEARTBEAT_SECONDS`` to the job's standard error (which
Snakemake passes to the terminal whatever its own output mode) and to the log: the step, its
current stage, the time spent and, where the stage reports how far it is, an estimate of the time
left. Code that knows its progress (the Bayesian sampler) reports it through
:func:`current_heartbeat`; every other step still says that it is alive. A step shorter than one
interval prints nothing. The heartbeat never touches an output file.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

HEARTBEAT_SECONDS = 15.0
HEARTBEAT_PREFIX = "..."  # marks heartbeat lines on the terminal (analysis.console passes them through)


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


@contextmanager
def logged_step(log_path: str | Path, step: str, heartbeat_seconds: float = HEARTBEAT_SECONDS) -> Iterator[logging.Logger]:
    """Send log records to ``log_path`` for the duration of a step, with a heartbeat.

    An exception raised inside the block is logged with its message (so the
    log says why the step failed) and re-raised, so Snakemake marks the job
    failed and removes its partial outputs. A step running longer than
    ``heartbeat_seconds`` prints a heartbeat line (:class:`Heartbeat`) every
    ``heartbeat_seconds`` to standard error and to the log.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logger = logging.getLogger(step)
    heartbeat = Heartbeat(step_label(log_path, step), logger=logger, interval=heartbeat_seconds).start()
    _CURRENT.append(heartbeat)
    try:
        yield logger
    except Exception as error:
        logger.error("%s failed: %s", step, error)
        raise
    finally:
        heartbeat.stop()
        _CURRENT.remove(heartbeat)
        root.removeHandler(handler)
        handler.close()
