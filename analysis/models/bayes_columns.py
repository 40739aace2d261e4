"""Column lists of the Bayesian models' output tables.

Kept apart from :mod:`analysis.models.bayes` so that the rules rendering those tables and figures
(:mod:`analysis.render.bayes`) can check their inputs without importing PyMC, PyTensor and ArviZ.
"""

from __future__ import annotations

__all__ = ["CONTRAST_COLUMNS", "DIAGNOSTIC_COLUMNS", "EFFECT_COLUMNS", "PPC_COLUMNS"]

EFFECT_COLUMNS = [
    "model", "outcome", "arm", "term", "scale", "median", "mean", "sd", "hdi_low", "hdi_high", "hdi_prob",
    "beneficial_direction", "prob_improvement",
]
CONTRAST_COLUMNS = [
    "model", "outcome", "arm_a", "arm_b", "scale", "median", "mean", "sd", "hdi_low", "hdi_high", "hdi_prob",
    "beneficial_direction", "prob_improvement",
]
DIAGNOSTIC_COLUMNS = [
    "model", "quantity", "parameter", "r_hat", "ess_bulk", "ess_tail", "gated", "passed", "divergences",
    "chains", "draws", "thin",
]
PPC_COLUMNS = [
    "dimension", "arm", "conversation_number", "category", "n_conversations", "observed_share",
    "predicted_median", "predicted_low", "predicted_high", "interval_prob",
]
