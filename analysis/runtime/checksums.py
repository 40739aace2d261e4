"""Checksums of files and bytes: sha256 for provenance and pinned releases, git blob ids.

A leaf module (standard library only), so that the cohort contract (provenance of the files it
validated) and the release adapters (pinned downloads) share one implementation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

__all__ = ["BLOCK_SIZE", "file_checksums", "git_blob_id"]

# Files are read in blocks of this many bytes, so a large release file is never held in memory.
BLOCK_SIZE = 1 << 20


def _blob_header(size: int) -> bytes:
    # Git hashes a blob as this header followed by the bytes.
    return b"blob " + str(size).encode("ascii") + b"\0"


def _blocks(path: str | Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        yield from iter(lambda: handle.read(BLOCK_SIZE), b"")


def git_blob_id(content: bytes) -> str:
    """Git's blob id of ``content``: sha1 of ``b"blob <length>\\0"`` followed by the bytes.

    Parameters
    ----------
    content : bytes
        The file's content, in full.

    Returns
    -------
    str
        The sha1 hex digest (40 lowercase hex characters) that ``git hash-object`` gives.
    """
    return hashlib.sha1(_blob_header(len(content)) + content).hexdigest()


def file_checksums(path: str | Path) -> dict:
    """Size, sha256 and git blob id of a file (read in blocks, in one pass).

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    dict
        ``size`` (bytes), ``sha256`` (64 lowercase hex characters) and ``git_blob``
        (40, as ``git hash-object`` gives).
    """
    size = Path(path).stat().st_size
    sha256, blob = hashlib.sha256(), hashlib.sha1(_blob_header(size))
    for block in _blocks(path):
        sha256.update(block)
        blob.update(block)
    return {"size": size, "sha256": sha256.hexdigest(), "git_blob": blob.hexdigest()}
