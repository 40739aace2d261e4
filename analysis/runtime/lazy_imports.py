"""Heavy libraries imported on first use, so that a step pays only for what it runs.

Every rule runs in a fresh Python process. Importing scipy.stats, statsmodels, scikit-learn, pandera or
choix costs about a second each time, which is most of a small step's run time. A module of this
package that needs one of them binds it with :func:`lazy_module`; the library is imported the first
time one of its attributes is read. A step that only renders a table, or plots results another step
computed, then never imports the statistics stack it does not use. ``tests/test_imports.py`` checks
that importing this package's modules does not import these libraries.
"""

from __future__ import annotations

import importlib
import types

__all__ = ["lazy_module"]


class _LazyModule(types.ModuleType):
    """A stand-in for a module that imports it when one of its attributes is read."""

    def __getattr__(self, attribute: str):
        module = importlib.import_module(self.__name__)
        return getattr(module, attribute)

    def __dir__(self) -> list[str]:
        return dir(importlib.import_module(self.__name__))


def lazy_module(name: str) -> types.ModuleType:
    """A module that is imported the first time one of its attributes is read.

    Parameters
    ----------
    name : str
        Absolute module name, e.g. ``"scipy.stats"``.

    Returns
    -------
    types.ModuleType
        A stand-in: ``lazy_module("scipy.stats").norm`` imports :mod:`scipy.stats`
        (once; later reads use the imported module from ``sys.modules``) and
        returns its ``norm``.

    Examples
    --------
    >>> stats = lazy_module("scipy.stats")
    >>> float(stats.norm.cdf(0.0))
    0.5
    """
    return _LazyModule(name)
