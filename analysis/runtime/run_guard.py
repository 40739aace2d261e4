"""Start Snakemake in a folder, first removing the lock a killed run left there when that is provably safe.

Snakemake locks the folder it works in (files in ``.snakemake/locks``) and removes the lock when it ends.
A run killed outright (SIGKILL, a closed terminal, power loss) cannot: the next run stops with "Directory
cannot be locked" until someone runs ``snakemake --unlock``. Snakemake's lock records no process, so it
cannot tell a stale lock from a live run's. This guard, which ``make reproduce``, ``make run`` and
``make power`` go through, can:

1. It takes an exclusive ``flock`` on ``.snakemake/run_guard.lock`` and hands it to Snakemake, which it
   then becomes (``exec``): the kernel holds the lock exactly as long as that Snakemake process lives,
   whatever ends it. A second guarded run in the same folder finds it taken and stops, naming the run.
2. Holding it, it removes Snakemake's lock only when no process on this machine runs Snakemake in the
   folder (runs started without ``make`` included) and the newest Snakemake log of the folder was written
   on this machine (a run started on another machine that shares the folder cannot be seen from here).
   Otherwise it prints one line saying what to run, and exits 1.

The outputs of the killed jobs are rebuilt by Snakemake itself (``--rerun-incomplete``, set in the
Makefile). Every output is written atomically (:mod:`analysis.runtime.atomic`), so no file is left half-written.

Command line::

    python -m analysis.runtime.run_guard SNAKEMAKE [ARGUMENT ...]

``SNAKEMAKE`` is the Snakemake executable; the arguments are passed on unchanged (``--directory`` is
honoured).
"""

from __future__ import annotations

import fcntl
import logging
import os
import platform
import re
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import psutil

from analysis.errors import PipelineError

__all__ = [
    "GUARD_FILE", "UNLOCK_HINT", "RunGuardError", "clear_stale_lock", "has_snakemake_lock", "live_snakemake_runs", "main", "newest_log_host",
    "snakemake_arguments", "working_directory",
]

GUARD_FILE = "run_guard.lock"  # in the folder's .snakemake/
UNLOCK_HINT = "`make unlock` (or `snakemake --unlock` with the same --directory)"

log = logging.getLogger("analysis.runtime.run_guard")


class RunGuardError(PipelineError):
    """The folder's lock may belong to a live run; the message says what the user should do."""


def snakemake_arguments(cmdline: Sequence[str]) -> list[str] | None:
    """The arguments after the Snakemake program in a process's command line, or None if it is not Snakemake.

    Recognised: the ``snakemake`` console script run directly or by a Python interpreter,
    ``python -m snakemake`` and ``python .../snakemake/__main__.py``.
    """
    for index, word in enumerate(cmdline[:3]):
        by_interpreter = index == 1 and os.path.basename(cmdline[0]).startswith("python")
        if os.path.basename(word) == "snakemake" and (index == 0 or by_interpreter or cmdline[index - 1] == "-m"):
            return list(cmdline[index + 1:])
        if word.replace(os.sep, "/").endswith("snakemake/__main__.py") and (index == 0 or by_interpreter):
            return list(cmdline[index + 1:])
    return None


def _directory_argument(arguments: Sequence[str]) -> str | None:
    """The value of the last ``--directory`` (``-d``) option of a Snakemake command line, if any."""
    directory = None
    for index, word in enumerate(arguments):
        if word in ("--directory", "-d") and index + 1 < len(arguments):
            directory = arguments[index + 1]
        elif word.startswith("--directory="):
            directory = word.split("=", 1)[1]
    return directory


def working_directory(arguments: Sequence[str], cwd: str | Path) -> Path:
    """The folder a Snakemake command line works in: its ``--directory`` (``-d``) resolved against ``cwd``, or ``cwd``."""
    directory = _directory_argument(arguments)
    return (Path(cwd) / directory).resolve() if directory else Path(cwd).resolve()


def live_snakemake_runs(directory: str | Path, exclude: Iterable[int] = ()) -> list[str]:
    """Processes on this machine that run Snakemake in ``directory`` (or may: their folder cannot be read).

    Parameters
    ----------
    directory : str or pathlib.Path
        The folder.
    exclude : iterable of int
        Process IDs to leave out (the caller and its parents).

    Returns
    -------
    list of str
        ``pid N (user): command`` per process, sorted by process ID.
    """
    directory = Path(directory).resolve()
    skip = set(exclude)
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "cwd", "username"]):
        info = process.info
        arguments = snakemake_arguments(info["cmdline"] or [])
        if info["pid"] in skip or arguments is None:
            continue
        given = _directory_argument(arguments)
        # another user's process: its folder cannot be read, so it may be this one
        unseen = info["cwd"] is None and not (given and os.path.isabs(given))
        if unseen or working_directory(arguments, info["cwd"] or "/") == directory:
            found.append((info["pid"], f"pid {info['pid']} ({info['username']}): {' '.join(info['cmdline'])}"))
    return [text for _, text in sorted(found)]


def newest_log_host(directory: str | Path) -> str | None:
    """The host named in the newest Snakemake log of ``directory`` (``.snakemake/log``), or None."""
    logs = sorted((Path(directory) / ".snakemake" / "log").glob("*.snakemake.log"))
    if not logs:
        return None
    with open(logs[-1], encoding="utf-8", errors="replace") as handle:
        head = "".join(handle.readline() for _ in range(40))
    match = re.search(r"^\s*Host: (.+)$", head, re.MULTILINE)
    return match.group(1).strip() if match else None


def has_snakemake_lock(directory: str | Path) -> bool:
    """Whether Snakemake's lock files are in ``directory`` (``.snakemake/locks``)."""
    locks = Path(directory) / ".snakemake" / "locks"
    return locks.is_dir() and any(locks.iterdir())


def clear_stale_lock(directory: str | Path, *, live_runs: Sequence[str], log_host: str | None, this_host: str) -> str | None:
    """Remove Snakemake's lock in ``directory`` when the run that left it is provably gone.

    Call it holding the guard's flock (no guarded run is alive).

    Parameters
    ----------
    directory : str or pathlib.Path
        The folder Snakemake works in.
    live_runs : sequence of str
        Snakemake processes working in the folder on this machine (:func:`live_snakemake_runs`).
    log_host : str or None
        Host of the newest Snakemake log of the folder (:func:`newest_log_host`).
    this_host : str
        This machine's name (``platform.node()``, as Snakemake writes it).

    Returns
    -------
    str or None
        The line to print when a stale lock was removed; None when there was no lock.

    Raises
    ------
    RunGuardError
        When the lock may belong to a live run: the message names it and says what to run.
    """
    locks = Path(directory) / ".snakemake" / "locks"
    if not has_snakemake_lock(directory):
        return None
    if live_runs:
        raise RunGuardError(
            f"Another Snakemake run works in {directory} ({'; '.join(live_runs)}): wait for it to end, or stop it, "
            "then run again."
        )
    if log_host != this_host:
        started = f"on {log_host}" if log_host else "on an unknown machine (no Snakemake log names one)"
        raise RunGuardError(
            f"{directory} is locked by a Snakemake run started {started}, which cannot be seen from {this_host}: if no run "
            f"is going there, remove the lock with {UNLOCK_HINT}, then run again."
        )
    shutil.rmtree(locks)
    return (
        f"A killed run left its lock in {locks} (no Snakemake process works in {directory} any more): removed it; "
        "the outputs of its unfinished steps are rebuilt."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: guard, then become Snakemake (returns only on refusal)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        log.error("usage: python -m analysis.runtime.run_guard SNAKEMAKE [ARGUMENT ...]")
        return 2
    executable, arguments = argv[0], argv[1:]
    directory = working_directory(arguments, os.getcwd())
    (directory / ".snakemake").mkdir(parents=True, exist_ok=True)
    # Read-only: the file's content is never used, only its flock.
    guard = os.open(directory / ".snakemake" / GUARD_FILE, os.O_RDONLY | os.O_CREAT, 0o666)
    own = [os.getpid(), *(parent.pid for parent in psutil.Process().parents())]
    try:
        fcntl.flock(guard, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(guard)
        runs = live_snakemake_runs(directory, exclude=own)
        log.error("Another run started with make works in %s (%s): wait for it to end, or stop it, then run again.",
                  directory, "; ".join(runs) or "its process is not visible from here")
        return 1
    if has_snakemake_lock(directory):
        try:
            log.info("%s", clear_stale_lock(directory, live_runs=live_snakemake_runs(directory, exclude=own),
                                            log_host=newest_log_host(directory), this_host=platform.node()))
        except RunGuardError as error:
            os.close(guard)
            log.error("%s", error)
            return 1
    os.set_inheritable(guard, True)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(executable, [executable, *arguments])
    except OSError as error:
        log.error("cannot start %s: %s", executable, error)
    os.close(guard)
    return 127


if __name__ == "__main__":
    sys.exit(main())
