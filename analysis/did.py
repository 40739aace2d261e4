"""The registered primary analysis: OLS difference-in-differences with cluster-robust errors.

For each outcome, ``score ~ arm + post + arm:post`` with the reference arm
left out, fitted by :class:`statsmodels.regression.linear_model.OLS` with
``cov_type="cluster"`` by participant (statsmodels' default small-sample
correction, normal reference distribution as statsmodels uses for robust
covariances). Term names are stable: ``intercept``, ``post``, ``<arm>`` and
``<arm>:post``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests

from analysis.errors import AnalysisError

COEFFICIENT_COLUMNS = [
    "outcome", "term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high", "n_obs", "n_clusters",
]
FIT_COLUMNS = ["outcome", "n_obs", "n_clusters", "r2", "r2_adj", "residual_se", "f_statistic", "f_p_value"]
CONTRAST_COLUMNS = [
    "outcome", "arm_a", "arm_b", "estimate", "std_error", "statistic", "p_value", "p_adjusted", "ci_low", "ci_high",
    "outcome_sd", "estimate_sd", "ci_low_sd", "ci_high_sd",
]
EFFECT_COLUMNS = [
    "outcome", "arm", "term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high",
    "outcome_sd", "estimate_sd", "ci_low_sd", "ci_high_sd",
]


@dataclass(frozen=True)
class PrimaryResults:
    """The four tables of the primary analysis (columns: the ``*_COLUMNS`` lists).

    ``execution`` describes what was actually fitted (terms, covariance as
    statsmodels ran it, sample sizes), for the analysis' spec record.
    """

    coefficients: pd.DataFrame
    fit: pd.DataFrame
    contrasts: pd.DataFrame
    effects_sd: pd.DataFrame
    execution: dict


def design_matrix(data: pd.DataFrame, arms: Sequence[str], reference_arm: str) -> pd.DataFrame:
    """The DiD design: intercept, one dummy per non-reference arm, post, and arm x post.

    Raises
    ------
    AnalysisError
        When an arm in the data is not registered, or an arm or period has no
        observations (its effect would not be identified).
    """
    unknown = sorted(set(data["arm"]) - set(arms))
    if unknown:
        raise AnalysisError(f"arms {unknown} are not registered (registered: {list(arms)})")
    others = [arm for arm in arms if arm != reference_arm]
    post = data["post"].to_numpy(dtype=float)
    columns = {"intercept": np.ones(len(data)), "post": post}
    for arm in others:
        columns[arm] = (data["arm"] == arm).to_numpy(dtype=float)
    for arm in others:
        columns[f"{arm}:post"] = columns[arm] * post
    matrix = pd.DataFrame(columns, index=data.index)
    empty = [name for name, column in matrix.items() if not column.any()]
    if empty:
        raise AnalysisError(
            f"no observations for term(s) {empty}: every registered arm needs baseline and post conversations"
        )
    return matrix[["intercept", *others, "post", *(f"{arm}:post" for arm in others)]]


def fit_did(data: pd.DataFrame, outcome: str, arms: Sequence[str], reference_arm: str, cluster: str = "participant_id"):
    """Fit one outcome's DiD model.

    Parameters
    ----------
    data : pandas.DataFrame
        Conversation-level outcomes with columns arm, post, ``cluster`` and ``outcome``.
    outcome : str
        Column to model.
    arms : sequence of str
        Registered arms (their order fixes the term order).
    reference_arm : str
        The arm every other arm is compared with.
    cluster : str
        Column whose values define the clusters.

    Returns
    -------
    statsmodels.regression.linear_model.RegressionResultsWrapper
        Fitted with ``cov_type="cluster"``; parameters named as the design columns.
    """
    frame = data.dropna(subset=[outcome])
    if len(frame) != len(data):
        raise AnalysisError(f"outcome '{outcome}' has {len(data) - len(frame)} missing value(s) among analysed conversations")
    exog = design_matrix(frame, arms, reference_arm)
    groups = pd.factorize(frame[cluster], sort=True)[0]
    return sm.OLS(frame[outcome].to_numpy(dtype=float), exog).fit(cov_type="cluster", cov_kwds={"groups": groups})


def _coefficient_rows(result, outcome: str, alpha: float, n_clusters: int) -> pd.DataFrame:
    interval = result.conf_int(alpha=alpha)
    return pd.DataFrame(
        {
            "outcome": outcome,
            "term": result.params.index,
            "estimate": result.params.to_numpy(),
            "std_error": result.bse.to_numpy(),
            "statistic": result.tvalues.to_numpy(),
            "p_value": result.pvalues.to_numpy(),
            "ci_low": interval[0].to_numpy(),
            "ci_high": interval[1].to_numpy(),
            "n_obs": int(result.nobs),
            "n_clusters": n_clusters,
        }
    )


def _fit_row(result, outcome: str, n_clusters: int) -> dict:
    return {
        "outcome": outcome,
        "n_obs": int(result.nobs),
        "n_clusters": n_clusters,
        "r2": float(result.rsquared),
        "r2_adj": float(result.rsquared_adj),
        "residual_se": float(np.sqrt(result.mse_resid)),
        "f_statistic": float(np.squeeze(result.fvalue)),
        "f_p_value": float(np.squeeze(result.f_pvalue)),
    }


def arm_contrasts(result, outcome: str, arms: Sequence[str], reference_arm: str, alpha: float, method: str, outcome_sd: float) -> pd.DataFrame:
    """Pairwise Wald contrasts of the non-reference arms' ``arm:post`` effects.

    Pairs follow the registered arm order; ``estimate`` is ``a - b``. P-values
    are adjusted within the outcome by ``method`` (statsmodels ``multipletests``;
    ``none`` copies them).
    """
    others = [arm for arm in arms if arm != reference_arm]
    names = list(result.params.index)
    rows = []
    for arm_a, arm_b in combinations(others, 2):
        vector = np.zeros(len(names))
        vector[names.index(f"{arm_a}:post")] = 1.0
        vector[names.index(f"{arm_b}:post")] = -1.0
        test = result.t_test(vector)
        low, high = np.asarray(test.conf_int(alpha=alpha)).ravel()
        rows.append(
            {
                "outcome": outcome,
                "arm_a": arm_a,
                "arm_b": arm_b,
                "estimate": float(np.squeeze(test.effect)),
                "std_error": float(np.squeeze(test.sd)),
                "statistic": float(np.squeeze(test.tvalue)),
                "p_value": float(np.squeeze(test.pvalue)),
                "ci_low": float(low),
                "ci_high": float(high),
            }
        )
    table = pd.DataFrame(rows, columns=[c for c in CONTRAST_COLUMNS if c not in ("p_adjusted", "outcome_sd", "estimate_sd", "ci_low_sd", "ci_high_sd")])
    if table.empty:
        table["p_adjusted"] = []
    elif method == "none":
        table["p_adjusted"] = table["p_value"]
    else:
        table["p_adjusted"] = multipletests(table["p_value"].to_numpy(), method=method)[1]
    table["outcome_sd"] = outcome_sd
    table["estimate_sd"] = table["estimate"] / outcome_sd
    table["ci_low_sd"] = table["ci_low"] / outcome_sd
    table["ci_high_sd"] = table["ci_high"] / outcome_sd
    return table[CONTRAST_COLUMNS]


def post_effects_sd(coefficients: pd.DataFrame, arms: Sequence[str], reference_arm: str, outcome_sd: float) -> pd.DataFrame:
    """Each arm's post effect (reference: ``post``; others: ``<arm>:post``) in SD units."""
    terms = {arm: ("post" if arm == reference_arm else f"{arm}:post") for arm in arms}
    picked = coefficients.set_index("term").loc[list(terms.values())].reset_index()
    picked.insert(1, "arm", list(terms))
    picked["outcome_sd"] = outcome_sd
    for column in ("estimate", "ci_low", "ci_high"):
        picked[f"{column}_sd"] = picked[column] / outcome_sd
    return picked[EFFECT_COLUMNS]


def primary_analysis(
    data: pd.DataFrame,
    outcomes: Sequence[str],
    arms: Sequence[str],
    reference_arm: str,
    alpha: float = 0.05,
    contrast_method: str = "holm",
) -> PrimaryResults:
    """Run the registered primary DiD analysis for every outcome.

    Parameters
    ----------
    data : pandas.DataFrame
        Conversation-level outcomes (see :func:`analysis.outcomes.derive_outcomes`).
    outcomes : sequence of str
        Outcomes to model, in output order.
    arms : sequence of str
        Registered arms; only arms present in the data's registered list are modelled.
    reference_arm : str
        Reference arm.
    alpha : float
        Two-sided level; intervals are ``1 - alpha``.
    contrast_method : str
        Multiplicity correction of the arm contrasts within outcome
        (``holm``, ``bonferroni``, ``fdr_bh`` or ``none``).

    Returns
    -------
    PrimaryResults
        Coefficients, model fit, arm contrasts and SD-unit effects.

    Notes
    -----
    The SD used for standardising is the sample SD (``ddof=1``) of the
    outcome over all analysed conversations.
    """
    coefficients, fits, contrasts, effects = [], [], [], []
    result = None
    for outcome in outcomes:
        result = fit_did(data, outcome, arms, reference_arm)
        outcome_sd = float(data[outcome].std(ddof=1))
        n_clusters = int(data["participant_id"].nunique())
        rows = _coefficient_rows(result, outcome, alpha, n_clusters)
        coefficients.append(rows)
        fits.append(_fit_row(result, outcome, n_clusters))
        contrasts.append(arm_contrasts(result, outcome, arms, reference_arm, alpha, contrast_method, outcome_sd))
        effects.append(post_effects_sd(rows, arms, reference_arm, outcome_sd))
    execution = {
        "estimator": "ols",
        "outcomes": list(outcomes),
        "terms": list(result.params.index) if result is not None else [],
        "reference_arm": reference_arm,
        "covariance": {
            "type": result.cov_type if result is not None else None,
            "cluster_by": "participant_id",
            "small_sample_correction": bool(result.cov_kwds.get("use_correction", True)) if result is not None else None,
            "reference_distribution": "t" if result is not None and result.use_t else "normal",
        },
        "alpha": alpha,
        "multiplicity": {"family": "within_outcome", "method": contrast_method},
        "sample": {"n_obs": int(len(data)), "n_participants": int(data["participant_id"].nunique())},
    }
    return PrimaryResults(
        coefficients=pd.concat(coefficients, ignore_index=True)[COEFFICIENT_COLUMNS],
        fit=pd.DataFrame(fits, columns=FIT_COLUMNS),
        contrasts=pd.concat(contrasts, ignore_index=True),
        effects_sd=pd.concat(effects, ignore_index=True),
        execution=execution,
    )
