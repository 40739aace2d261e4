"""What a Bayesian fit rule writes, in the order that keeps a failed fit inspectable.

Both registered Bayesian models (rules fit_bayes_ordinal and fit_bayes_composite) end the same way: the
diagnostics go to the rule's log folder first, so they survive a fit that breaks its gates; then the gates are
enforced; only a fit that passes them (or is only warned about) gets its posterior written (and then, by the
rule, its spec record).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from analysis.cohorts.native import write_csv
from analysis.runtime.atomic import write_netcdf

if TYPE_CHECKING:
    from analysis.models.bayes import BayesFit, Gates

__all__ = ["write_bayes_fit"]


def write_bayes_fit(
    fit: BayesFit,
    *,
    gates: Gates,
    analysis_id: str,
    diagnostics: str | Path,
    idata: str | Path,
    log: logging.Logger,
) -> None:
    """Write a Bayesian fit's diagnostics, enforce its gates, then write its posterior.

    Parameters
    ----------
    fit : BayesFit
        The fitted model.
    gates : Gates
        The registered diagnostic gates the fit was made under.
    analysis_id : str
        The model's analysis ID, named by a gate's error.
    diagnostics, idata : str or Path
        Where the per-parameter diagnostics (CSV) and the InferenceData
        (netCDF) go.
    log : logging.Logger
        The rule's log.

    Raises
    ------
    DiagnosticsError
        When the fit breaks a gate under the ``fail`` policy; the diagnostics
        are written, the posterior is not.
    """
    # analysis.models.bayes loads the PyMC stack: the rule has it loaded already, an importer of this module need not
    from analysis.models.bayes import enforce_gates

    write_csv(fit.diagnostics, diagnostics)
    log.info("diagnostics: %s (every element in %s)", fit.execution["diagnostics"], diagnostics)
    enforce_gates(fit.problems, gates=gates, analysis_id=analysis_id)
    write_netcdf(fit.idata, idata)
    log.info("wrote %s", idata)
