"""The environment of the rule jobs: where compiled code is cached, and which BLAS PyTensor links.

The Snakefile adds :func:`job_environment` to its own environment, which every job inherits:

* ``PYTENSOR_FLAGS``: ``base_compiledir`` under the repository's ``.cache/pytensor`` (PyTensor's
  C modules and its numba cache, which holds the Bayesian models' compiled log-densities), so a
  second cohort or a second run reuses what the first compiled; and ``blas__ldflags`` linking the
  OpenBLAS that the pinned scipy wheel ships (``scipy.libs/libscipy_openblas-*.so``). That library
  prefixes its symbols (``scipy_dgemm_``), so the flags rename PyTensor's BLAS calls with ``-D``
  macros. Without them PyTensor searches the system for a BLAS in every process (seconds each)
  and, finding none on a pip install, warns that it runs degraded.
* ``NUMBA_CACHE_DIR``: ``.cache/numba`` for numba functions compiled with ``cache=True``.

A value the user already set (a flag in ``PYTENSOR_FLAGS``, ``NUMBA_CACHE_DIR``) is kept.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
from collections.abc import Mapping
from pathlib import Path

__all__ = ["CACHE_FOLDER", "scipy_openblas", "pytensor_blas_ldflags", "job_environment"]

CACHE_FOLDER = ".cache"

# BLAS routines PyTensor's C code may declare (pytensor/tensor/blas_headers.py), single and double.
_BLAS_ROUTINES = (
    "axpy", "copy", "dot", "gbmv", "gemm", "gemv", "ger", "rot", "rotg", "rotm", "rotmg", "sbmv", "scal", "spmv", "spr",
    "swap", "symm", "symv", "syr", "syrk", "tbmv", "tbsv", "tpmv", "tpsv", "trmm", "trmv", "trsm", "trsv",
)
_SCIPY_OPENBLAS_PREFIX = "scipy_"


def scipy_openblas() -> Path | None:
    """The OpenBLAS shared library bundled with the installed scipy wheel, or None (e.g. conda's scipy)."""
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.submodule_search_locations:
        return None
    libraries = sorted((Path(next(iter(spec.submodule_search_locations))).parent / "scipy.libs").glob("libscipy_openblas-*.so"))
    return libraries[0] if libraries else None


def pytensor_blas_ldflags(library: Path) -> str:
    """``blas__ldflags`` linking PyTensor to scipy's bundled OpenBLAS ``library``.

    Links ``library`` by name with its folder as run path, and maps each BLAS routine ``x_`` that
    PyTensor calls onto the library's ``scipy_x_`` (PyTensor passes flags other than ``-l``/``-L``
    to the compiler).
    """
    name = library.name.removeprefix("lib").removesuffix(".so")
    folder = str(library.parent)
    renames = [f"-D{kind}{routine}_={_SCIPY_OPENBLAS_PREFIX}{kind}{routine}_" for routine in _BLAS_ROUTINES for kind in "sd"]
    return " ".join([f"-L{folder}", f"-l{name}", f"-Wl,-rpath,{folder}", *renames])


def _flag_names(flags: str) -> set[str]:
    lexer = shlex.shlex(flags, posix=True)
    lexer.whitespace = ","
    lexer.whitespace_split = True
    return {pair.split("=", 1)[0].strip() for pair in lexer if "=" in pair}


def job_environment(repository: str | Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment variables to set for the rule jobs.

    Parameters
    ----------
    repository : path
        The workflow's base folder; caches go to its ``.cache/``.
    environ : mapping, optional
        The current environment (default ``os.environ``); what it already sets is kept.

    Returns
    -------
    dict
        ``PYTENSOR_FLAGS`` (the user's flags plus ``base_compiledir`` and ``blas__ldflags`` where
        not set) and ``NUMBA_CACHE_DIR``.
    """
    environ = os.environ if environ is None else environ
    cache = Path(repository).resolve() / CACHE_FOLDER
    user_flags = environ.get("PYTENSOR_FLAGS", "")
    present = _flag_names(user_flags)
    flags = [user_flags] if user_flags.strip() else []
    if not present & {"base_compiledir", "compiledir"}:
        flags.append(f"base_compiledir={cache / 'pytensor'}")
    library = scipy_openblas()
    if "blas__ldflags" not in present and library is not None:
        flags.append(f"blas__ldflags='{pytensor_blas_ldflags(library)}'")
    return {
        "PYTENSOR_FLAGS": ",".join(flags),
        "NUMBA_CACHE_DIR": environ.get("NUMBA_CACHE_DIR") or str(cache / "numba"),
    }
