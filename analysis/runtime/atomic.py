"""Atomic file writing: a file is its previous version (or absent) or complete, never half-written.

Every output of the pipeline reaches the disk through this module. The content goes to a temporary
file in the target's folder (same file system, so the rename cannot copy), is flushed to the disk with
``fsync`` and then renamed onto the target with :func:`os.replace`, which is atomic on POSIX and
Windows: a reader, or a run killed at any moment, sees the old file or the new one. The temporary file
is removed when the writer raises. A writer killed outright (SIGKILL, power loss) cannot clean up: it
leaves a hidden ``.<name>.partial-<token><suffix>`` beside the target, which the next write of the same
target removes.

Temporary files are created with mode 0666 less the umask, as :func:`open` would create the target, so
the written file has the permissions a direct write gives it.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "PARTIAL_MARKER", "atomic_open", "atomic_path", "partial_files", "save_figure", "write_bytes", "write_csv", "write_json",
    "write_netcdf", "write_text",
]

# Between the target's name and the random token in a temporary file's name.
PARTIAL_MARKER = ".partial-"


def partial_files(path: str | Path) -> list[Path]:
    """The temporary files a killed writer of ``path`` left beside it, sorted.

    Parameters
    ----------
    path : str or pathlib.Path
        The target file.

    Returns
    -------
    list of pathlib.Path
        Files named ``.<name>.partial-*`` in the target's folder.
    """
    target = Path(path)
    pattern = os.path.join(glob.escape(str(target.parent)), f".{glob.escape(target.name)}{PARTIAL_MARKER}*")
    return sorted(Path(name) for name in glob.glob(pattern))


def _create_temporary(target: Path) -> Path:
    """Create an empty temporary file beside ``target`` (exclusive, mode 0666 less the umask)."""
    while True:
        candidate = target.with_name(f".{target.name}{PARTIAL_MARKER}{secrets.token_hex(6)}{target.suffix}")
        try:
            descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(descriptor)
        return candidate


def _fsync_path(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_directory(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows cannot open a folder)."""
    if os.name == "posix":
        _fsync_path(folder)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends, move what was written there onto ``path``.

    Parameters
    ----------
    path : str or pathlib.Path
        The target file. Its folder is created if needed. Leftovers of killed earlier writers of the same
        target (:func:`partial_files`) are removed first: a target has one writer at a time.

    Yields
    ------
    pathlib.Path
        An empty file in the target's folder, with the target's suffix (libraries that pick a format from
        the suffix pick the same one). Write it by path, closing every handle before the block ends.

    Notes
    -----
    On normal exit the file is fsynced and renamed onto the target with :func:`os.replace`, then the folder
    is fsynced. When the block raises, the temporary file is removed and the target is left as it was.

    Examples
    --------
    >>> with atomic_path("results/x/table.csv") as temporary:  # doctest: +SKIP
    ...     frame.to_csv(temporary, index=False)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in partial_files(target):
        leftover.unlink(missing_ok=True)
    temporary = _create_temporary(target)
    try:
        yield temporary
        _fsync_path(temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, encoding: str | None = "utf-8", newline: str | None = "\n") -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; on normal exit it replaces ``path``.

    Parameters
    ----------
    path : str or pathlib.Path
        The target file (see :func:`atomic_path`).
    mode : {"w", "wb"}
        Text or binary.
    encoding, newline : str or None
        As for :func:`open` in text mode (UTF-8, ``\\n`` line endings by default); ignored in binary mode.

    Yields
    ------
    file object
        The open temporary file; it is flushed, fsynced and closed before the rename.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode {mode!r}; expected 'w' or 'wb'")
    text = {"encoding": encoding, "newline": newline} if mode == "w" else {}
    with atomic_path(path) as temporary, open(temporary, mode, **text) as handle:
        yield handle


def write_text(path: str | Path, text: str, *, encoding: str = "utf-8", newline: str = "\n") -> None:
    """Write ``text`` to ``path`` atomically (UTF-8 and ``\\n`` line endings by default)."""
    with atomic_open(path, "w", encoding=encoding, newline=newline) as handle:
        handle.write(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def write_json(path: str | Path, value: Any, *, default: Callable[[Any], Any] | None = None) -> None:
    """Write ``value`` as JSON to ``path`` atomically: indented by 2, keys sorted, a final newline.

    Parameters
    ----------
    path : str or pathlib.Path
        The target file.
    value : object
        Anything :func:`json.dumps` serialises.
    default : callable, optional
        Passed to :func:`json.dumps` for objects it cannot serialise (e.g. ``str`` or ``int``).
    """
    write_text(path, json.dumps(value, indent=2, sort_keys=True, default=default) + "\n")


def write_csv(frame, path: str | Path, **to_csv: Any) -> None:
    """Write a pandas DataFrame as CSV to ``path`` atomically.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    path : str or pathlib.Path
        The target file.
    **to_csv
        Keyword arguments of :meth:`pandas.DataFrame.to_csv` (``index``, ``encoding``, ``lineterminator``, ...).
    """
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, **to_csv)


def save_figure(fig, path: str | Path, **savefig: Any) -> None:
    """Save a matplotlib figure to ``path`` atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (left open).
    path : str or pathlib.Path
        The target file.
    **savefig
        Keyword arguments of :meth:`matplotlib.figure.Figure.savefig`; give ``format`` explicitly.
    """
    with atomic_path(path) as temporary:
        fig.savefig(temporary, **savefig)


def write_netcdf(data, path: str | Path, **to_netcdf: Any) -> None:
    """Write an ArviZ InferenceData or xarray Dataset as netCDF to ``path`` atomically.

    Parameters
    ----------
    data : arviz.InferenceData or xarray.Dataset
        Anything with a ``to_netcdf(path, ...)`` method.
    path : str or pathlib.Path
        The target file.
    **to_netcdf
        Keyword arguments of the object's ``to_netcdf``.
    """
    with atomic_path(path) as temporary:
        data.to_netcdf(str(temporary), **to_netcdf)
