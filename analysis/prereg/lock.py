"""Lock the registered plan: a fingerprint of ``config/prereg.yaml`` taken when it was registered.

The lock file (``config/prereg.lock``, YAML) holds the sha256 of the *canonicalised* plan, the
date it was taken and the tool that took it. Canonicalisation makes the fingerprint depend on the
plan's content only, not on its layout: the YAML is parsed, normalised to JSON types (dates become
ISO 8601 strings) and serialised as JSON with sorted keys, no insignificant whitespace and UTF-8
characters kept as they are. Comments, key order, quoting and indentation therefore never change
the fingerprint; any change of a value, a key or a list order does.

From the moment a plan is locked, a plan that no longer matches its lock is an *amendment*: the
pre-registration audit (:mod:`analysis.prereg.audit`) reports it as a deviation of kind ``plan_amended``
until it is declared in the run configuration's ``deviations:`` list or the plan is locked again.

Command line (also ``make prereg-lock``)::

    python -m analysis.prereg.lock                      # lock config/prereg.yaml -> config/prereg.lock
    python -m analysis.prereg.lock --check              # exit 1 if the plan does not match its lock
    python -m analysis.prereg.lock --prereg P --lock L --date 2026-01-26
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

from analysis import __version__
from analysis.errors import ConfigError
from analysis.prereg.plan import load_prereg, read_yaml
from analysis.runtime import atomic

__all__ = [
    "LOCK_ALGORITHM", "TOOL", "canonical_plan", "plan_digest", "lock_record", "write_lock", "read_lock",
    "lock_status", "main",
]

LOCK_ALGORITHM = "sha256 of the plan as canonical JSON (sorted keys, separators ',' and ':', UTF-8)"
TOOL = "analysis.prereg.lock"

log = logging.getLogger(TOOL)


def _json_default(value: Any) -> str:
    """Normalise YAML-only scalar types (dates, datetimes) to ISO 8601 text."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"the plan holds a value of type {type(value).__name__}, which has no JSON form: {value!r}")


def canonical_plan(plan: Any) -> str:
    """The plan as canonical JSON text.

    Parameters
    ----------
    plan : object
        The parsed plan (what ``yaml.safe_load`` returns).

    Returns
    -------
    str
        JSON with keys sorted at every level, the separators ``,`` and ``:`` and non-ASCII
        characters kept; YAML dates become ISO 8601 strings.
    """
    return json.dumps(plan, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def plan_digest(plan: Any) -> str:
    """Hex sha256 of :func:`canonical_plan` encoded as UTF-8."""
    return hashlib.sha256(canonical_plan(plan).encode("utf-8")).hexdigest()


def lock_record(plan: Any, locked_on: dt.date, prereg_name: str) -> dict:
    """The lock's content for ``plan``.

    Returns
    -------
    dict
        ``prereg`` (file name of the plan), ``sha256``, ``algorithm``, ``locked_on`` (ISO date),
        ``tool`` and ``tool_version``.
    """
    return {
        "prereg": prereg_name,
        "sha256": plan_digest(plan),
        "algorithm": LOCK_ALGORITHM,
        "locked_on": locked_on.isoformat(),
        "tool": TOOL,
        "tool_version": __version__,
    }


def write_lock(prereg_path: str | Path, lock_path: str | Path, locked_on: dt.date | None = None) -> dict:
    """Validate the plan and write its lock.

    Parameters
    ----------
    prereg_path : str or Path
        The plan (validated with :func:`analysis.prereg.plan.load_prereg` first: an invalid plan is
        never locked).
    lock_path : str or Path
        Where the lock goes (YAML).
    locked_on : datetime.date, optional
        The lock date; today (UTC) when omitted.

    Returns
    -------
    dict
        The lock record written.
    """
    prereg_path = Path(prereg_path)
    plan = load_prereg(prereg_path)
    record = lock_record(plan, locked_on or dt.datetime.now(dt.timezone.utc).date(), prereg_path.name)
    text = (
        "# Lock of the registered plan, written by `python -m analysis.prereg.lock` (make prereg-lock).\n"
        "# Do not edit: a plan that no longer matches this sha256 is reported as an amendment.\n"
        + yaml.safe_dump(record, sort_keys=True, allow_unicode=True)
    )
    atomic.write_text(lock_path, text)
    return record


def read_lock(path: str | Path) -> dict:
    """Read a lock file, checking that it holds a sha256 and a date.

    Raises
    ------
    ConfigError
        When the file is missing, not YAML, or lacks ``sha256`` / ``locked_on``.
    """
    record = read_yaml(path)
    if not isinstance(record, dict) or not record.get("sha256") or not record.get("locked_on"):
        raise ConfigError(f"{path}: not a plan lock; expected the keys sha256 and locked_on (run `make prereg-lock`)")
    return {**record, "locked_on": str(record["locked_on"])}


def lock_status(plan: Any, lock: dict | None) -> dict:
    """Compare a plan with its lock.

    Parameters
    ----------
    plan : object
        The parsed plan.
    lock : dict or None
        The lock record (:func:`read_lock`), or None when the plan has no lock.

    Returns
    -------
    dict
        ``status`` (``unlocked``, ``matches`` or ``amended``), ``sha256`` (of the plan now),
        ``locked_sha256`` and ``locked_on`` (None when unlocked).
    """
    digest = plan_digest(plan)
    if lock is None:
        return {"status": "unlocked", "sha256": digest, "locked_sha256": None, "locked_on": None}
    status = "matches" if lock["sha256"] == digest else "amended"
    return {"status": status, "sha256": digest, "locked_sha256": lock["sha256"], "locked_on": lock["locked_on"]}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: lock the plan, or check it against its lock (``--check``)."""
    parser = argparse.ArgumentParser(prog="python -m analysis.prereg.lock", description="Lock the registered plan.")
    parser.add_argument("--prereg", default="config/prereg.yaml", help="the plan (default: config/prereg.yaml)")
    parser.add_argument("--lock", default=None, help="the lock file (default: the plan's path with suffix .lock)")
    parser.add_argument("--date", default=None, help="lock date YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 unless the plan matches its lock")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    prereg = Path(arguments.prereg)
    lock_path = Path(arguments.lock) if arguments.lock else prereg.with_suffix(".lock")
    try:
        if arguments.check:
            lock = read_lock(lock_path) if lock_path.is_file() else None
            status = lock_status(read_yaml(prereg), lock)
            log.info("%s: %s (sha256 %s; locked %s on %s)", prereg, status["status"], status["sha256"],
                     status["locked_sha256"], status["locked_on"])
            return 0 if status["status"] == "matches" else 1
        locked_on = dt.date.fromisoformat(arguments.date) if arguments.date else None
        record = write_lock(prereg, lock_path, locked_on)
    except (ConfigError, ValueError) as error:
        log.error("%s", error)
        return 2
    log.info("locked %s (sha256 %s) on %s -> %s", prereg, record["sha256"], record["locked_on"], lock_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
