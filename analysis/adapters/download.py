"""Pinned downloads shared by the release adapters: URLs, fetching, Git LFS pointers, checksum checks.

Both releases (:mod:`analysis.adapters.paper_release`, :mod:`analysis.adapters.pilot_release`) name
their files at a pinned upstream commit with the checksums those files must have. This module holds
what they share: building a file's URL, probing that the source answers, fetching (streamed in
blocks, hashing as it goes), reading and writing Git LFS pointer files, comparing a file's
checksums (:mod:`analysis.runtime.checksums`) with the pinned ones, and the two errors a failed or
mismatched download raises. Each adapter words its own messages, naming its release and commit.
"""

from __future__ import annotations

import hashlib
import io
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import BinaryIO

from analysis.errors import InputFileError, PipelineError
from analysis.runtime.checksums import BLOCK_SIZE, git_blob_id

__all__ = [
    "LFS_POINTER_PREFIX", "ReleaseChecksumError", "ReleaseDownloadError", "parse_lfs_pointer", "lfs_pointer_text",
    "pinned_blob_id", "checksum_mismatch", "release_url", "probe_url", "fetch_to", "fetch",
]

log = logging.getLogger(__name__)

LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1"
# A long fetch reports its progress every this many bytes.
_PROGRESS_STEP = 16 << 20


class ReleaseChecksumError(InputFileError):
    """A release file's bytes do not match the checksums pinned in the manifest."""


class ReleaseDownloadError(InputFileError):
    """A release file could not be fetched from the download URL."""


def parse_lfs_pointer(content: bytes) -> dict | None:
    """The oid (sha256) and size of a Git LFS pointer file, or None when ``content`` is not one.

    Parameters
    ----------
    content : bytes
        A file's content; a pointer starts with :data:`LFS_POINTER_PREFIX` and is at most 1024 bytes.

    Returns
    -------
    dict or None
        ``sha256`` (hex digest, without the ``sha256:`` prefix) and ``size`` (int, bytes) of the
        content the pointer stands for; None when ``content`` is not a pointer.

    Raises
    ------
    PipelineError
        When ``content`` starts like a pointer but lacks a ``sha256:`` oid or a size.
    """
    if not content.startswith(LFS_POINTER_PREFIX) or len(content) > 1024:
        return None
    fields = dict(line.split(" ", 1) for line in content.decode("ascii").splitlines() if " " in line)
    oid = fields.get("oid", "")
    if not oid.startswith("sha256:") or "size" not in fields:
        raise PipelineError(f"malformed Git LFS pointer: {content[:200]!r}")
    return {"sha256": oid.removeprefix("sha256:"), "size": int(fields["size"])}


def lfs_pointer_text(sha256: str, size: int) -> bytes:
    """The Git LFS pointer file of content with this sha256 and size (as ``git lfs`` writes it).

    Parameters
    ----------
    sha256 : str
        Hex sha256 of the content (without the ``sha256:`` prefix).
    size : int
        Size of the content in bytes.

    Returns
    -------
    bytes
        The pointer's ASCII text: version, oid and size lines, each ending in a newline.
    """
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode("ascii")


def pinned_blob_id(found: Mapping, lfs: bool = False) -> str:
    """The git blob id a pinned tree holds for a file with checksums ``found``.

    Parameters
    ----------
    found : mapping
        ``size``, ``sha256`` and ``git_blob`` of the file's content
        (:func:`analysis.runtime.checksums.file_checksums`).
    lfs : bool
        Whether the tree stores the file in Git LFS: the tree then holds the pointer, whose blob id
        follows from the content's sha256 and size.

    Returns
    -------
    str
        Hex sha1 blob id: that of the LFS pointer when ``lfs``, otherwise ``found["git_blob"]``.
    """
    return git_blob_id(lfs_pointer_text(found["sha256"], found["size"])) if lfs else found["git_blob"]


def checksum_mismatch(found: Mapping, sha256: str = "", size: int | None = None, git_blob: str = "", lfs: bool = False) -> str | None:
    """Which pinned checksum a file breaks, if any.

    Parameters
    ----------
    found : mapping
        The file's checksums: ``sha256``, and ``size`` when ``size`` is pinned, ``git_blob`` when
        ``git_blob`` is (:func:`analysis.runtime.checksums.file_checksums`).
    sha256 : str
        The pinned sha256; empty when the release does not publish one (not checked).
    size : int, optional
        The pinned size in bytes, checked with the sha256.
    git_blob : str
        The blob id of the pinned tree; empty when unknown (not checked).
    lfs : bool
        Whether ``git_blob`` is that of a Git LFS pointer (see :func:`pinned_blob_id`).

    Returns
    -------
    str or None
        ``"sha256"`` (the sha256 or the size differs), ``"git_blob"``, or None when every pinned
        checksum matches.
    """
    if sha256 and (found["sha256"] != sha256 or (size is not None and found["size"] != size)):
        return "sha256"
    if git_blob and pinned_blob_id(found, lfs) != git_blob:
        return "git_blob"
    return None


def release_url(base_url: str, path: str) -> str:
    """URL of one release file: ``base_url`` (ending in ``/`` or not) joined with its upstream path.

    Parameters
    ----------
    base_url : str
        The release's base URL; trailing slashes are dropped.
    path : str
        The file's path in the upstream repository, appended as is after one ``/``.

    Returns
    -------
    str
        The file's URL.
    """
    return base_url.rstrip("/") + "/" + path


def probe_url(url: str, timeout: float) -> str | None:
    """Whether ``url`` answers, quickly: ``None`` when it does, otherwise the reason it does not.

    An http(s) URL gets a HEAD request; other schemes (``file:``) are opened and closed.

    Parameters
    ----------
    url : str
        The URL to probe.
    timeout : float
        Seconds to wait for the connection.

    Returns
    -------
    str or None
        None when the URL answers; otherwise the error's reason (a URL error's ``reason``, else
        the error itself) as text.
    """
    method = "HEAD" if url.startswith(("http://", "https://")) else None
    try:
        request = urllib.request.Request(url, method=method)
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except (urllib.error.URLError, OSError, ValueError) as error:
        return str(getattr(error, "reason", error))


def fetch_to(url: str, handle: BinaryIO, timeout: float) -> tuple[int, str]:
    """Stream ``url`` into the open binary file ``handle``, replacing what it held.

    Parameters
    ----------
    url : str
        An http, https or file URL.
    handle : binary file
        Where the bytes go (emptied first).
    timeout : float
        Seconds to wait for the connection.

    Returns
    -------
    tuple of (int, str)
        The size in bytes and the sha256 of what was fetched.

    Raises
    ------
    urllib.error.URLError, OSError, ValueError
        As :func:`urllib.request.urlopen` raises them; the caller words the error.
    """
    digest = hashlib.sha256()
    size = 0
    next_report = _PROGRESS_STEP
    handle.seek(0)
    handle.truncate()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        for block in iter(lambda: response.read(BLOCK_SIZE), b""):
            handle.write(block)
            digest.update(block)
            size += len(block)
            if size >= next_report:
                log.info("  %s: %.0f MB so far", url.rsplit("/", 1)[-1], size / 2**20)
                next_report += _PROGRESS_STEP
    handle.flush()
    return size, digest.hexdigest()


def fetch(url: str, timeout: float) -> bytes:
    """The bytes at ``url`` (http, https or file), in memory.

    Parameters
    ----------
    url : str
        An http, https or file URL.
    timeout : float
        Seconds to wait for the connection.

    Returns
    -------
    bytes
        The full content at ``url``.

    Raises
    ------
    ReleaseDownloadError
        When the URL cannot be read (network down, not found, refused, timed out).
    """
    buffer = io.BytesIO()
    try:
        fetch_to(url, buffer, timeout)
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise ReleaseDownloadError(f"could not download {url}: {reason}") from error
    return buffer.getvalue()
