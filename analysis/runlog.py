"""Logging for rule scripts: everything a step reports goes to its Snakemake log file."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def logged_step(log_path: str | Path, step: str) -> Iterator[logging.Logger]:
    """Send log records to ``log_path`` for the duration of a step.

    An exception raised inside the block is logged with its message (so the
    log says why the step failed) and re-raised, so Snakemake marks the job
    failed and removes its partial outputs.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logger = logging.getLogger(step)
    try:
        yield logger
    except Exception as error:
        logger.error("%s failed: %s", step, error)
        raise
    finally:
        root.removeHandler(handler)
        handler.close()
