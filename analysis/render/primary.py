"""Compose the primary analysis' display tables (captions, notes) for one cohort."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis.render.tables import contrasts_table, primary_table, render_table

__all__ = ["CONTRAST_METHOD_LABELS", "primary_tables_text"]

CONTRAST_METHOD_LABELS = {"holm": "Holm", "bonferroni": "Bonferroni", "fdr_bh": "Benjamini-Hochberg", "none": "unadjusted"}


def primary_tables_text(
    coefficients: pd.DataFrame,
    fit: pd.DataFrame,
    contrasts: pd.DataFrame,
    arms: Sequence[str],
    reference_arm: str,
    contrast_method: str,
    cohort: str,
    synthetic: bool,
) -> dict[str, dict[str, str]]:
    """The primary DiD table and the arm-contrast table, each as CSV, LaTeX and Markdown text.

    Parameters
    ----------
    coefficients, fit, contrasts : pandas.DataFrame
        Outputs of :func:`analysis.models.did.primary_analysis` at full precision.
    arms, reference_arm : sequence of str, str
        Registered arms (display order) and the reference arm.
    contrast_method : str
        The registered multiplicity correction (prereg key, e.g. ``holm``).
    cohort : str
        Cohort name, shown in the captions.
    synthetic : bool
        Whether the cohort is simulated; captions then say SYNTHETIC.

    Returns
    -------
    dict
        ``{"primary_did": {...}, "arm_contrasts": {...}}``, each mapping
        ``csv``, ``tex`` and ``md`` to the rendered text.
    """
    method = CONTRAST_METHOD_LABELS[contrast_method]
    n_obs = int(fit["n_obs"].max())
    primary = render_table(
        primary_table(coefficients, fit, arms, reference_arm),
        caption=(
            f"Difference-in-differences estimates by outcome (OLS; reference arm {reference_arm}; "
            f"cohort {cohort}, N = {n_obs:,} conversations)"
        ),
        label=f"tab:primary-did-{cohort}",
        synthetic=synthetic,
    )
    contrast = render_table(
        contrasts_table(contrasts, method=method),
        caption=(
            f"Pairwise contrasts of the arms' post-training effects (Wald tests, cluster-robust covariance; "
            f"{method} adjustment within outcome; cohort {cohort})"
        ),
        label=f"tab:arm-contrasts-{cohort}",
        synthetic=synthetic,
    )
    return {"primary_did": primary, "arm_contrasts": contrast}
