"""Each arm's training effect from four estimators, in SD units, side by side.

For every outcome and arm the effect is the reference arm's own change (``post``) or another arm's
difference-in-differences effect (``<arm>:post``), from

* ``ols_cluster``: the primary OLS with cluster-robust SEs (``primary/effects_sd.csv``, its 95% CI);
* ``lmm_reml``: the linear mixed model ``score ~ arm * post + scenario + (1 | participant)``
  (``mixed/lmm_coefficients.csv``, Wald 95% CI);
* ``bayes_ordinal``: the joint cumulative-logit model's change in expected score (by default the
  population-averaged one; ``bayes/effects.csv``, posterior median and 95% HDI), dimensions only;
* ``bayes_linear``: the Bayesian linear model of the composite (``arm:post``, median and HDI).

All are divided by the same outcome SD, the sample SD of the outcome over the analysed
conversations that the primary analysis uses (``outcome_sd`` of ``effects_sd.csv``), so a reader
sees at a glance whether a conclusion depends on the estimator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError

__all__ = [
    "COMPARISON_COLUMNS", "ESTIMATORS", "OLS_COLUMNS", "LMM_COLUMNS", "BAYES_COLUMNS", "compare_estimators",
    "comparison_execution",
]

COMPARISON_COLUMNS = [
    "outcome", "arm", "term", "estimator", "estimate", "ci_low", "ci_high", "interval", "interval_prob",
    "outcome_sd", "estimate_sd", "ci_low_sd", "ci_high_sd",
]
ESTIMATORS: dict[str, str] = {
    "ols_cluster": "OLS, cluster-robust 95% CI",
    "lmm_reml": "Linear mixed model (REML), 95% CI",
    "bayes_ordinal": "Bayesian ordinal model, 95% HDI",
    "bayes_linear": "Bayesian linear model, 95% HDI",
}

OLS_COLUMNS = ("outcome", "arm", "term", "estimate", "ci_low", "ci_high", "outcome_sd")
LMM_COLUMNS = ("outcome", "term", "estimate", "ci_low", "ci_high")
BAYES_COLUMNS = ("model", "outcome", "arm", "term", "scale", "median", "hdi_low", "hdi_high", "hdi_prob")


def _effect_term(arm: str, reference_arm: str) -> str:
    return "post" if arm == reference_arm else f"{arm}:post"


def compare_estimators(
    ols_effects: pd.DataFrame,
    lmm_coefficients: pd.DataFrame,
    bayes_effects: pd.DataFrame,
    arms: Sequence[str],
    reference_arm: str,
    ordinal_scale: str = "expected_score",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """The effects of every estimator in SD units, one row per outcome, arm and estimator.

    Parameters
    ----------
    ols_effects : pandas.DataFrame
        ``primary/effects_sd.csv`` (outcome, arm, term, estimate, ci_low, ci_high, outcome_sd).
    lmm_coefficients : pandas.DataFrame
        ``mixed/lmm_coefficients.csv`` (the primary table's columns; only the ``post`` and
        ``<arm>:post`` rows are used).
    bayes_effects : pandas.DataFrame
        ``bayes/effects.csv``.
    arms, reference_arm
        Registered arms (output order) and the reference arm.
    ordinal_scale : str
        Scale of the ordinal model's rows put in SD units (``expected_score`` or
        ``expected_score_typical``).
    confidence : float
        Level of the OLS and LMM confidence intervals (``1 - alpha`` of the primary analysis).

    Returns
    -------
    pandas.DataFrame
        ``COMPARISON_COLUMNS``: ``estimate``, ``ci_low``, ``ci_high`` on the outcome's scale
        (posterior median and HDI for the Bayesian rows), ``interval`` (``confidence`` or
        ``hdi``) with ``interval_prob``, and the same divided by ``outcome_sd``. Outcomes follow
        the primary analysis; the ordinal model contributes the dimensions, the linear model the
        composite.

    Raises
    ------
    AnalysisError
        When an input lacks a column, an outcome of the primary analysis lacks an arm's effect
        in an input that should have it (naming the file, outcome and term), or an outcome's
        ``outcome_sd`` is 0, negative or missing (every SD-unit value would be infinite or NaN).
    """
    for frame, columns, name in (
        (ols_effects, OLS_COLUMNS, "primary/effects_sd.csv"),
        (lmm_coefficients, LMM_COLUMNS, "mixed/lmm_coefficients.csv"),
        (bayes_effects, BAYES_COLUMNS, "bayes/effects.csv"),
    ):
        missing = [column for column in columns if column not in frame.columns]
        if missing:
            raise AnalysisError(f"{name} lacks column(s) {missing}")
    sd = ols_effects.drop_duplicates("outcome").set_index("outcome")["outcome_sd"]
    outcomes = list(dict.fromkeys(ols_effects["outcome"]))
    for outcome in outcomes:
        value = pd.to_numeric(pd.Series([sd[outcome]]), errors="coerce").iloc[0]
        if not np.isfinite(value) or value <= 0:
            # dividing by it would give +-inf or NaN in every SD-unit column, without a word
            raise AnalysisError(
                f"outcome '{outcome}': not estimable in SD units, its outcome_sd in primary/effects_sd.csv is {value} "
                "(an outcome without variation, or a missing SD); rerun the primary analysis, which refuses such an outcome"
            )
    ordinal = bayes_effects[(bayes_effects["model"] == "ordinal") & (bayes_effects["scale"] == ordinal_scale)]
    linear = bayes_effects[(bayes_effects["model"] == "composite") & (bayes_effects["scale"] == "score")]
    sources = {
        "ols_cluster": (ols_effects.set_index(["outcome", "term"]), "estimate", "ci_low", "ci_high", "confidence", confidence, "primary/effects_sd.csv"),
        "lmm_reml": (lmm_coefficients.set_index(["outcome", "term"]), "estimate", "ci_low", "ci_high", "confidence", confidence, "mixed/lmm_coefficients.csv"),
        "bayes_ordinal": (ordinal.set_index(["outcome", "term"]), "median", "hdi_low", "hdi_high", "hdi", None, "bayes/effects.csv"),
        "bayes_linear": (linear.set_index(["outcome", "term"]), "median", "hdi_low", "hdi_high", "hdi", None, "bayes/effects.csv"),
    }
    rows = []
    for outcome in outcomes:
        for estimator, (table, estimate, low, high, interval, level, source) in sources.items():
            outcomes_there = set(table.index.get_level_values("outcome"))
            if outcome not in outcomes_there:
                if estimator in ("ols_cluster", "lmm_reml"):
                    raise AnalysisError(f"{source} has no rows for outcome '{outcome}' of the primary analysis")
                continue
            for arm in arms:
                term = _effect_term(arm, reference_arm)
                if (outcome, term) not in table.index:
                    raise AnalysisError(f"{source} has no row for outcome '{outcome}', term '{term}'")
                row = table.loc[(outcome, term)]
                rows.append(
                    {
                        "outcome": outcome, "arm": arm, "term": term, "estimator": estimator,
                        "estimate": float(row[estimate]), "ci_low": float(row[low]), "ci_high": float(row[high]),
                        "interval": interval, "interval_prob": float(level if level is not None else row["hdi_prob"]),
                        "outcome_sd": float(sd[outcome]),
                    }
                )
    comparison = pd.DataFrame(rows, columns=COMPARISON_COLUMNS[:-3])
    for column in ("estimate", "ci_low", "ci_high"):
        comparison[f"{column}_sd"] = comparison[column] / comparison["outcome_sd"]
    return comparison[COMPARISON_COLUMNS]


def comparison_execution(comparison: pd.DataFrame, reference_arm: str, alpha: float, ordinal_scale: str) -> dict:
    """What :func:`compare_estimators` ran, for the rule's spec record.

    Parameters
    ----------
    comparison : pandas.DataFrame
        The table :func:`compare_estimators` returned.
    reference_arm : str
        The registered reference arm.
    alpha : float
        The primary analysis' alpha (the OLS and LMM intervals are ``1 - alpha``).
    ordinal_scale : str
        Scale of the ordinal model's rows (as given to :func:`compare_estimators`).

    Returns
    -------
    dict
        ``estimator``, ``outcomes`` and ``terms`` (in table order), ``reference_arm``, ``alpha``,
        ``sample`` (``n_rows``) and ``details`` (the estimators, the standardiser, the ordinal scale).
    """
    return {
        "estimator": "comparison",
        "outcomes": list(dict.fromkeys(comparison["outcome"])),
        "terms": list(dict.fromkeys(comparison["term"])),
        "reference_arm": reference_arm,
        "alpha": alpha,
        "sample": {"n_rows": int(len(comparison))},
        "details": {
            "estimators": sorted(set(comparison["estimator"])),
            "standardiser": "outcome_sd of primary/effects_sd.csv",
            "ordinal_scale": ordinal_scale,
        },
    }
