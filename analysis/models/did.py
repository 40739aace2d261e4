"""The registered primary analysis: OLS difference-in-differences with cluster-robust errors.

For each outcome, ``score ~ arm + post + arm:post`` with the reference arm
left out, fitted by :class:`statsmodels.regression.linear_model.OLS` with
``cov_type="cluster"`` by participant (statsmodels' default small-sample
correction, normal reference distribution as statsmodels uses for robust
covariances). Term names are stable: ``intercept``, ``post``, ``<arm>`` and
``<arm>:post``.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.models.tidy import model_coefficients
from analysis.runtime.lazy_imports import lazy_module

linear_model = lazy_module("statsmodels.regression.linear_model")
stats = lazy_module("scipy.stats")
multitest = lazy_module("statsmodels.stats.multitest")

__all__ = [
    "COEFFICIENT_COLUMNS", "CONTRAST_COLUMNS", "CORRECTIONS", "EFFECT_COLUMNS", "FIT_COLUMNS", "HYPOTHESIS_COLUMNS",
    "VERDICTS", "PrimaryResults", "arm_contrasts", "design_matrix", "fit_did", "hypothesis_tests", "post_effects_sd", "primary_analysis",
]

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
HYPOTHESIS_COLUMNS = [
    "hypothesis", "row", "term", "outcome", "direction", "estimate", "std_error", "statistic", "ci_low", "ci_high",
    "p_value", "p_adjusted", "family", "method", "sided", "rule", "alpha", "direction_held", "significant", "decides",
    "verdict",
]
# registered correction -> statsmodels multipletests method
CORRECTIONS = {"holm": "holm", "bonferroni": "bonferroni", "hochberg": "simes-hochberg", "none": None}
VERDICTS = ("supported", "partly supported", "not supported")


@dataclass(frozen=True)
class PrimaryResults:
    """The tables of the primary analysis (columns: the ``*_COLUMNS`` lists).

    ``execution`` describes what was actually fitted (terms, covariance as
    statsmodels ran it, sample sizes), for the analysis' spec record.
    ``hypotheses`` holds the registered hypotheses' decisions
    (:func:`hypothesis_tests`; empty when none were given).
    """

    coefficients: pd.DataFrame
    fit: pd.DataFrame
    contrasts: pd.DataFrame
    effects_sd: pd.DataFrame
    execution: dict
    hypotheses: pd.DataFrame | None = None


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
    return linear_model.OLS(frame[outcome].to_numpy(dtype=float), exog).fit(cov_type="cluster", cov_kwds={"groups": groups})


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
        table["p_adjusted"] = _multipletests(table["p_value"].to_numpy(), method)
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
    hypotheses: Sequence[dict] = (),
    composite: str = "overall_empathy",
) -> PrimaryResults:
    """Run the registered primary DiD analysis for every outcome.

    Parameters
    ----------
    data : pandas.DataFrame
        Conversation-level outcomes (see :func:`analysis.cohorts.outcomes.derive_outcomes`).
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
    hypotheses : sequence of dict
        The plan's registered hypotheses, decided by :func:`hypothesis_tests`.
    composite : str
        Name of the composite outcome (rule ``composite_only``).

    Returns
    -------
    PrimaryResults
        Coefficients, model fit, arm contrasts, SD-unit effects and the hypotheses' decisions.

    Notes
    -----
    The SD used for standardising is the sample SD (``ddof=1``) of the
    outcome over all analysed conversations.
    """
    coefficients, fits, contrasts, effects = [], [], [], []
    result = None
    for outcome in outcomes:
        _check_estimable(data, outcome, arms)
        result = fit_did(data, outcome, arms, reference_arm)
        outcome_sd = float(data[outcome].std(ddof=1))
        n_clusters = int(data["participant_id"].nunique())
        rows = model_coefficients(result, alpha, outcome=outcome, n_clusters=n_clusters)[COEFFICIENT_COLUMNS]
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
    coefficient_table = pd.concat(coefficients, ignore_index=True)[COEFFICIENT_COLUMNS]
    contrast_table = pd.concat(contrasts, ignore_index=True)
    return PrimaryResults(
        coefficients=coefficient_table,
        fit=pd.DataFrame(fits, columns=FIT_COLUMNS),
        contrasts=contrast_table,
        effects_sd=pd.concat(effects, ignore_index=True),
        execution=execution,
        hypotheses=hypothesis_tests(coefficient_table, contrast_table, list(hypotheses), composite, alpha),
    )


def _check_estimable(data: pd.DataFrame, outcome: str, arms: Sequence[str]) -> None:
    """Refuse degenerate data with the outcome and the reason, before statsmodels returns infinities.

    Raises
    ------
    AnalysisError
        When the outcome column is missing, has no variation over the analysed conversations
        (its SD is 0: SD-unit effects would be infinite and every test undefined), or a
        registered arm has no analysed conversation left (e.g. after the exclusions).
    """
    if outcome not in data.columns:
        raise AnalysisError(f"outcome '{outcome}': not estimable, the column is missing from the analysed conversations (a dimension never scored?)")
    values = data[outcome].dropna()
    if values.empty:
        raise AnalysisError(f"outcome '{outcome}': not estimable, no analysed conversation has a score (a dimension never scored?)")
    if values.nunique() < 2:
        raise AnalysisError(
            f"outcome '{outcome}': not estimable, every analysed conversation has the same value ({values.iloc[0]}): "
            "the outcome SD is 0, so effects in SD units and every test are undefined"
        )
    present = set(data["arm"])
    unknown = sorted(present - set(arms))
    if unknown:
        raise AnalysisError(f"arms {unknown} are not registered (registered: {list(arms)})")
    empty = [arm for arm in arms if arm not in present]
    if empty:
        raise AnalysisError(
            f"outcome '{outcome}': not estimable, arm(s) {empty} have no analysed conversation "
            "(every participant of the arm was excluded, or none was randomised to it)"
        )


def _adjust(p_values: np.ndarray, correction: str) -> np.ndarray:
    if correction not in CORRECTIONS:
        raise AnalysisError(f"hypothesis correction '{correction}' is not one of {sorted(CORRECTIONS)}")
    method = CORRECTIONS[correction]
    if method is None or len(p_values) == 0:
        return p_values.copy()
    return _multipletests(p_values, method)


def _multipletests(p_values: np.ndarray, method: str) -> np.ndarray:
    """statsmodels' adjusted p-values, without its full garbage collection.

    ``multipletests(method="holm")`` calls ``gc.collect()``, a scan of every object of the process: a
    third of a second per call in a rule's process, half a second in a test worker. The objects that
    exist before the call are frozen (``gc.freeze``) for its duration, so the collection looks only at
    the call's own; the values are the same.
    """
    gc.freeze()
    try:
        return multitest.multipletests(p_values, method=method)[1]
    finally:
        gc.unfreeze()


def _hypothesis_estimates(hypothesis: dict, coefficients: pd.DataFrame, contrasts: pd.DataFrame) -> pd.DataFrame:
    """The estimate, SE, z, two-sided p and CI of the hypothesis' term for each of its outcomes.

    A coefficient term comes from ``coefficients``; a contrast ``arm_a:post - arm_b:post`` from the
    Wald contrasts (``contrasts``; a pair stored the other way round is negated, its CI mirrored).
    """
    outcomes = list(hypothesis.get("outcomes") or hypothesis["direction"])
    columns = ["estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"]
    contrast = hypothesis.get("contrast")
    rows = []
    for outcome in outcomes:
        if contrast is None:
            found = coefficients[(coefficients["outcome"] == outcome) & (coefficients["term"] == hypothesis["term"])]
            if found.empty:
                raise AnalysisError(
                    f"hypothesis {hypothesis['id']}: the primary analysis has no coefficient '{hypothesis['term']}' for outcome '{outcome}'"
                )
            values = found.iloc[0][columns].astype(float).to_dict()
        else:
            arm_a, arm_b = contrast["arm_a"], contrast["arm_b"]
            same = contrasts[(contrasts["outcome"] == outcome) & (contrasts["arm_a"] == arm_a) & (contrasts["arm_b"] == arm_b)]
            flipped = contrasts[(contrasts["outcome"] == outcome) & (contrasts["arm_a"] == arm_b) & (contrasts["arm_b"] == arm_a)]
            if not same.empty:
                values = same.iloc[0][columns].astype(float).to_dict()
            elif not flipped.empty:
                row = flipped.iloc[0][columns].astype(float)
                values = {"estimate": -row["estimate"], "std_error": row["std_error"], "statistic": -row["statistic"],
                          "p_value": row["p_value"], "ci_low": -row["ci_high"], "ci_high": -row["ci_low"]}
            else:
                raise AnalysisError(
                    f"hypothesis {hypothesis['id']}: the primary analysis has no contrast {arm_a}:post - {arm_b}:post for outcome '{outcome}'"
                )
        rows.append({"outcome": outcome, **values})
    return pd.DataFrame(rows)


def _verdict(held: list[bool], rule: str) -> str:
    if rule in ("all", "composite_only"):
        if held and all(held):
            return "supported"
        return "partly supported" if any(held) else "not supported"
    if rule == "any":
        return "supported" if any(held) else "not supported"
    raise AnalysisError(f"hypothesis rule '{rule}' is not one of all, any, composite_only")


def hypothesis_tests(
    coefficients: pd.DataFrame,
    contrasts: pd.DataFrame,
    hypotheses: Sequence[dict],
    composite: str,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Decide each registered hypothesis as registered: its family, correction, sidedness and rule.

    Parameters
    ----------
    coefficients : pandas.DataFrame
        The primary coefficients (:data:`COEFFICIENT_COLUMNS`).
    contrasts : pandas.DataFrame
        The primary arm contrasts (:data:`CONTRAST_COLUMNS`), for hypotheses with a ``contrast``.
    hypotheses : sequence of dict
        The plan's ``hypotheses``: ``id``, ``term``, ``direction`` (outcome -> increase/decrease),
        and optionally ``outcomes`` (the family; default the outcomes of ``direction``),
        ``correction`` (holm, bonferroni, hochberg, none; default holm), ``sided`` (two-sided,
        one-sided; default two-sided), ``rule`` (all, any, composite_only; default all) and
        ``contrast`` ({arm_a, arm_b}).
    composite : str
        Name of the composite outcome (the deciding outcome of rule ``composite_only``).
    alpha : float
        The level every adjusted p-value is compared with.

    Returns
    -------
    pandas.DataFrame
        :data:`HYPOTHESIS_COLUMNS`. Rows with ``row == "test"``: one per hypothesis and outcome,
        with the estimate, SE, z statistic and ``1 - alpha`` two-sided CI of the term (or contrast),
        ``p_value`` (two-sided, or one-sided in the registered direction), ``p_adjusted`` within
        ``family``, ``direction_held`` (the estimate's sign is the registered one),
        ``significant`` (``p_adjusted < alpha``) and ``decides`` (the row enters the verdict).
        One row with ``row == "verdict"`` per hypothesis: ``verdict`` supported, partly supported
        or not supported, by the rule applied to the deciding rows (a deciding row counts when it
        is significant and its direction held).

    Notes
    -----
    Rule ``all``: supported when every deciding outcome counts, partly supported when some do,
    not supported when none does. ``any``: supported when at least one counts. ``composite_only``:
    the composite alone decides (a family of one, so it is not adjusted); the other outcomes form
    a supporting family, adjusted among themselves, reported but not deciding.
    One-sided p-values use the normal reference distribution of the cluster-robust Wald z, as the
    two-sided ones do (statsmodels' default for a cluster covariance): ``P(Z > z)`` for an expected
    increase and ``P(Z < z)`` for an expected decrease. The reported CI stays two-sided.
    The hypotheses' decisions are adjusted within each hypothesis only, never across hypotheses,
    as registered.
    """
    rows = []
    for hypothesis in hypotheses:
        rule = hypothesis.get("rule", "all")
        correction = hypothesis.get("correction", "holm")
        sided = hypothesis.get("sided", "two-sided")
        if sided not in ("two-sided", "one-sided"):
            raise AnalysisError(f"hypothesis {hypothesis['id']}: sided '{sided}' is not one of two-sided, one-sided")
        table = _hypothesis_estimates(hypothesis, coefficients, contrasts)
        table["direction"] = table["outcome"].map(hypothesis["direction"])
        if table["direction"].isna().any():
            missing = table.loc[table["direction"].isna(), "outcome"].tolist()
            raise AnalysisError(f"hypothesis {hypothesis['id']}: outcome(s) {missing} have no registered direction")
        if sided == "one-sided":
            sign = np.where(table["direction"] == "increase", 1.0, -1.0)
            table["p_value"] = stats.norm.sf(sign * table["statistic"].to_numpy())
        if rule == "composite_only":
            if composite not in set(table["outcome"]):
                raise AnalysisError(f"hypothesis {hypothesis['id']} has rule composite_only but does not test the composite '{composite}'")
            table["decides"] = table["outcome"] == composite
            table["family"] = np.where(table["decides"], hypothesis["id"], f"{hypothesis['id']} supporting")
        else:
            table["decides"] = True
            table["family"] = hypothesis["id"]
        table["p_adjusted"] = np.nan
        for family, members in table.groupby("family", sort=False):
            table.loc[members.index, "p_adjusted"] = _adjust(members["p_value"].to_numpy(), correction)
        if table[["estimate", "std_error", "p_value"]].isna().any(axis=None):
            bad = table.loc[table[["estimate", "std_error", "p_value"]].isna().any(axis=1), "outcome"].tolist()
            raise AnalysisError(f"hypothesis {hypothesis['id']}: no estimable test for outcome(s) {bad} (estimate, SE or p is not a number)")
        observed = np.sign(table["estimate"].to_numpy())
        table["direction_held"] = observed == np.where(table["direction"] == "increase", 1.0, -1.0)
        table["significant"] = table["p_adjusted"] < alpha
        table = table.assign(
            hypothesis=hypothesis["id"], row="test", term=hypothesis["term"], method=correction, sided=sided, rule=rule,
            alpha=alpha, verdict="",
        )
        deciding = table[table["decides"]]
        held = (deciding["direction_held"] & deciding["significant"]).tolist()
        verdict = {
            "hypothesis": hypothesis["id"], "row": "verdict", "term": hypothesis["term"], "outcome": "", "direction": "",
            "family": hypothesis["id"], "method": correction, "sided": sided, "rule": rule, "alpha": alpha,
            "decides": True, "verdict": _verdict(held, rule),
        }
        rows.append(table)
        rows.append(pd.DataFrame([verdict]))
    if not rows:
        return pd.DataFrame(columns=HYPOTHESIS_COLUMNS)
    return pd.concat(rows, ignore_index=True)[HYPOTHESIS_COLUMNS]
