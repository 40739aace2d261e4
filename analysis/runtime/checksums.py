"""Checksums of files and bytes: sha256 for provenance and pinned releases, git blob ids.

A leaf module (standard library only), so that the cohort contract (provenance of the files it
validated) and the release adapters (pinned downloads) share one implementation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

__all__ = ["BLOCK_SIZE", "file_sha256", "file_checksums", "git_blob_id"]

# Files are read in blocks of this many bytes, so a large release file is never held in memory.
BLOCK_SIZE = 1 << 20


def _blocks(path: str | Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        yield from iter(lambda: handle.read(BLOCK_SIZE), b"")


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (read in blocks).

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    str
        The sha256 hex digest (64 lowercase hex characters) of the file's content.
    """
    digest = hashlib.sha256()
    for block in _blocks(path):
        digest.update(block)
    return digest.hexdigest()


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
    return hashlib.sha1(b"blob " + str(len(content)).encode("ascii") + b"\0" + content).hexdigest()


def file_checksums(path: str | Path) -> dict:
    """Size, sha256 and git blob id of a file (read in blocks, in one pass).

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    dict
        ``size`` (bytes), ``sha256`` and ``git_blob`` (hex digests).
    """
    size = Path(path).stat().st_size
    sha256, blob = hashlib.sha256(), hashlib.sha1(b"blob " + str(size).encode("ascii") + b"\0")
    for block in _blocks(path):
        sha256.update(block)
        blob.update(block)
    return {"size": size, "sha256": sha256.hexdigest(), "git_blob": blob.hexdigest()}
