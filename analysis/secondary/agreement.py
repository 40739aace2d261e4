"""Measurement validity: how well the judges agree with people (and people with each other).

For each dimension and each registered pair of raters (each expert with each other expert, the
expert consensus with each LLM judge and with the crowd, each LLM judge with the crowd):

* Cohen's kappa with quadratic (or linear) weights (:func:`sklearn.metrics.cohen_kappa_score`), its
  asymptotic standard error (Fleiss, Cohen & Everitt 1969, as implemented by
  :func:`statsmodels.stats.inter_rater.cohens_kappa`, whose kappa must equal scikit-learn's), z and
  a two-sided normal p-value;
* Spearman's rho (:func:`scipy.stats.spearmanr`) with p and a Fisher-z confidence interval;
* exact agreement and agreement within one scale point.

Across the experts per dimension: ICC(2,1) and ICC(2,k) with 95% CIs
(:func:`pingouin.intraclass_corr`, types ``ICC(A,1)`` and ``ICC(A,k)``) and Krippendorff's alpha
for ordinal data (:func:`krippendorff.alpha`). For the crowd: every worker's individual ratings
against the expert consensus.

The expert consensus is the median of the registered experts (as the companion study used). The
weights depend on the category set: ``full`` uses every point of the 1-5 scale (so unused
categories still count in the distances), ``observed`` uses only the labels that occur in the
pair (what the companion study's table used). Non-integer ratings (crowd means, medians of an
even number of raters) are put on a category grid first: ``nearest_integer`` rounds halves up;
``hundredths`` keeps two decimals (the companion study's choice for the crowd means).

Everything here keeps full precision; the tables and the heatmap for people, which round, are in
:mod:`analysis.render.agreement`. See ``docs/measurement_validity.md``.

References
----------
Cohen, J. (1968). Weighted kappa. Psychological Bulletin 70, 213-220.
Fleiss, J. L., Cohen, J., & Everitt, B. S. (1969). Large sample standard errors of kappa and
weighted kappa. Psychological Bulletin 72, 323-327.
McGraw, K. O., & Wong, S. P. (1996). Forming inferences about some intraclass correlation
coefficients. Psychological Methods 1, 30-46.
Krippendorff, K. (2004). Content Analysis (2nd ed.). Sage.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.constants import SCORE_MAX, SCORE_MIN
from analysis.errors import AnalysisError, require_implemented
from analysis.runtime.lazy_imports import lazy_module

__all__ = [
    "PAIRWISE_COLUMNS", "EXPERT_COLUMNS", "CROWD_WORKER_COLUMNS", "EXCLUDED_COLUMNS", "ALL_WORKERS", "ROUNDING_FACTORS",
    "KAPPA_CATEGORIES", "KAPPA_WEIGHTS", "Z_VARIANCES", "SPEARMAN_CI_SES", "KAPPA_KEYS", "rating_codes", "kappa_labels",
    "weighted_kappa", "spearman_with_ci", "pair_agreement", "expert_consensus", "pairwise_agreement", "expert_reliability",
    "crowd_worker_agreement", "STATISTIC_KEYS", "cluster_bootstrap_kappa_se", "AgreementResults", "agreement_analysis",
]

krippendorff = lazy_module("krippendorff")
stats = lazy_module("scipy.stats")
sk_metrics = lazy_module("sklearn.metrics")
inter_rater = lazy_module("statsmodels.stats.inter_rater")

PAIRWISE_COLUMNS = [
    "dimension", "rater_a", "rater_b", "n", "kappa", "kappa_se_estimate", "kappa_se_null", "kappa_z", "kappa_p",
    "kappa_z_variance", "spearman_rho", "spearman_p", "rho_ci_low", "rho_ci_high", "rho_ci_se", "exact_agreement",
    "within_one_agreement", "kappa_categories",
]
EXPERT_COLUMNS = [
    "dimension", "n_conversations", "n_experts", "icc2_1", "icc2_1_ci_low", "icc2_1_ci_high", "icc2_1_f", "icc2_1_p",
    "icc2_k", "icc2_k_ci_low", "icc2_k_ci_high", "krippendorff_alpha_ordinal",
]
CROWD_WORKER_COLUMNS = [
    "dimension", "worker_id", "n", "n_conversations", "mean_difference", "mean_absolute_difference", "exact_agreement",
    "within_one_agreement", "kappa", "kappa_se_estimate", "kappa_se_null", "kappa_z", "kappa_p", "kappa_z_variance",
    "kappa_se_cluster_bootstrap", "bootstrap_resamples", "spearman_rho", "spearman_p", "kappa_categories",
]
EXCLUDED_COLUMNS = ["analysis", "dimension", "rater", "conversation_id", "record_id", "reason"]
ALL_WORKERS = "all_workers"
ROUNDING_FACTORS = {"nearest_integer": 1, "hundredths": 100}
KAPPA_CATEGORIES = ("full", "observed")
KAPPA_WEIGHTS = ("linear", "quadratic")
Z_VARIANCES = ("estimate", "under_null")
SPEARMAN_CI_SES = ("fisher", "bonett_wright")
KAPPA_KEYS = ("kappa", "kappa_se_estimate", "kappa_se_null", "kappa_z", "kappa_p")

# --- one pair of rating vectors --------------------------------------------------------------------


def rating_codes(values: np.ndarray, rounding: str) -> np.ndarray:
    """Ratings on the registered category grid, as integers.

    Parameters
    ----------
    values : numpy.ndarray
        Ratings (floats; integers, means or medians).
    rounding : {"nearest_integer", "hundredths"}
        ``nearest_integer``: round to the nearest scale point, halves up (2.5 -> 3);
        ``hundredths``: ``round(100 * value)`` with halves up (2.6667 -> 267), the companion
        study's treatment of the crowd means.

    Returns
    -------
    numpy.ndarray of int64
        Category codes (scale points times the rounding factor).
    """
    if rounding not in ROUNDING_FACTORS:
        raise AnalysisError(f"agreement.rounding '{rounding}' is not one of {list(ROUNDING_FACTORS)}")
    return np.floor(np.asarray(values, dtype=float) * ROUNDING_FACTORS[rounding] + 0.5).astype("int64")


def kappa_labels(codes_a: np.ndarray, codes_b: np.ndarray, categories: str, rounding: str) -> np.ndarray:
    """The category set the kappa weights are built on.

    ``full``: every grid point of the scale (1..5, or 100..500 for hundredths), so distances are the
    scale's distances whether a category occurs or not; ``observed``: the sorted labels occurring in
    either rater (weights then count steps between observed labels, as the companion study did).
    """
    if categories == "full":
        factor = ROUNDING_FACTORS[rounding]
        full = np.arange(int(SCORE_MIN * factor), int(SCORE_MAX * factor) + 1)
        outside = np.setdiff1d(np.union1d(codes_a, codes_b), full)
        if outside.size:
            raise AnalysisError(f"ratings {sorted(outside / factor)} lie outside the scale [{SCORE_MIN:g}, {SCORE_MAX:g}]")
        return full
    if categories == "observed":
        return np.union1d(codes_a, codes_b)
    raise AnalysisError(f"agreement.kappa_categories '{categories}' is not one of {list(KAPPA_CATEGORIES)}")


def weighted_kappa(codes_a: np.ndarray, codes_b: np.ndarray, labels: np.ndarray, weights: str = "quadratic",
                   z_variance: str = "under_null") -> dict[str, float]:
    """Weighted Cohen's kappa with its asymptotic standard error, z and two-sided p.

    Parameters
    ----------
    codes_a, codes_b : numpy.ndarray
        Paired category codes (no missing values).
    labels : numpy.ndarray
        Category set (see :func:`kappa_labels`); weights are built on their positions.
    weights : {"quadratic", "linear"}
        Disagreement weights ``(i - j)^2`` or ``|i - j|`` over label positions.
    z_variance : {"under_null", "estimate"}
        ``under_null`` (the test of kappa = 0): z = kappa / SE0, the SE under H0: kappa = 0 (Fleiss,
        Cohen & Everitt 1969); ``estimate``: z = kappa / SE(kappa), the SE of the estimate (what the
        companion study reported; that SE shrinks as kappa nears 1, so this z overstates the evidence
        against kappa = 0).

    Returns
    -------
    dict
        ``kappa`` (scikit-learn), ``kappa_se_estimate`` (SE of the estimate), ``kappa_se_null``
        (SE under kappa = 0), ``kappa_z`` and ``kappa_p`` (two-sided normal) by ``z_variance``. All NaN
        when kappa is undefined (fewer than two pairs, or no expected disagreement: both raters use
        one and the same label throughout).

    Raises
    ------
    AnalysisError
        When scikit-learn's and statsmodels' kappas differ (they implement the same estimator).
    """
    if weights not in KAPPA_WEIGHTS:
        raise AnalysisError(f"agreement.kappa_weights '{weights}' is not one of {list(KAPPA_WEIGHTS)}")
    if z_variance not in Z_VARIANCES:
        raise AnalysisError(f"agreement.kappa_z_variance '{z_variance}' is not one of {list(Z_VARIANCES)}")
    undefined = dict.fromkeys(KAPPA_KEYS, float("nan"))
    if len(codes_a) < 2 or np.union1d(codes_a, codes_b).size < 2:
        return undefined
    table = sk_metrics.confusion_matrix(codes_a, codes_b, labels=labels)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        kappa = float(sk_metrics.cohen_kappa_score(codes_a, codes_b, labels=labels, weights=weights))
        result = inter_rater.cohens_kappa(table, wt=weights, weights=np.arange(len(labels), dtype=float))
        se, se0 = float(np.sqrt(result.var_kappa)), float(np.sqrt(result.var_kappa0))
        z = np.divide(kappa, se if z_variance == "estimate" else se0)  # perfect agreement: SE 0, z infinite
    if not np.isfinite(kappa):
        return undefined
    if abs(kappa - float(result.kappa)) > 1e-9:
        raise AnalysisError(f"weighted kappa: scikit-learn gives {kappa!r}, statsmodels {float(result.kappa)!r}")
    return {"kappa": kappa, "kappa_se_estimate": se, "kappa_se_null": se0, "kappa_z": float(z), "kappa_p": float(2 * stats.norm.sf(abs(z)))}


def spearman_with_ci(x: np.ndarray, y: np.ndarray, alpha: float = 0.05, se: str = "fisher") -> dict[str, float]:
    """Spearman's rho with its p-value and a Fisher-z ``1 - alpha`` confidence interval.

    Parameters
    ----------
    x, y : numpy.ndarray
        Paired ratings.
    alpha : float
        The interval's level is ``1 - alpha``.
    se : {"fisher", "bonett_wright"}
        SE of ``atanh(rho)``: ``fisher``, ``1 / sqrt(n - 3)`` (Pearson's r under normality);
        ``bonett_wright``, ``sqrt((1 + rho^2 / 2) / (n - 3))``, derived for Spearman's rho
        (Bonett & Wright 2000), wider as rho grows.

    Returns
    -------
    dict
        ``spearman_rho``, ``spearman_p`` (scipy), ``rho_ci_low``, ``rho_ci_high``: the interval
        ``tanh(atanh(rho) -/+ z_{1-alpha/2} * SE)``; NaN when n <= 3 or rho is undefined (a
        constant rater); ``(rho, rho)`` when |rho| = 1.

    References
    ----------
    Bonett DG, Wright TA (2000). Sample size requirements for estimating Pearson, Kendall and
    Spearman correlations. Psychometrika 65:23-28.
    """
    if se not in SPEARMAN_CI_SES:
        raise AnalysisError(f"agreement.spearman_ci_se '{se}' is not one of {list(SPEARMAN_CI_SES)}")
    nan = dict.fromkeys(("spearman_rho", "spearman_p", "rho_ci_low", "rho_ci_high"), float("nan"))
    n = len(x)
    if n < 3 or np.unique(x).size < 2 or np.unique(y).size < 2:
        return nan
    result = stats.spearmanr(x, y)
    rho, p = float(result.statistic), float(result.pvalue)
    if n <= 3:
        return {**nan, "spearman_rho": rho, "spearman_p": p}
    if abs(rho) >= 1.0:
        return {"spearman_rho": rho, "spearman_p": p, "rho_ci_low": rho, "rho_ci_high": rho}
    inflation = 1.0 + rho * rho / 2.0 if se == "bonett_wright" else 1.0
    half = stats.norm.ppf(1 - alpha / 2) * np.sqrt(inflation / (n - 3))
    centre = np.arctanh(rho)
    return {"spearman_rho": rho, "spearman_p": p, "rho_ci_low": float(np.tanh(centre - half)), "rho_ci_high": float(np.tanh(centre + half))}


def pair_agreement(x: np.ndarray, y: np.ndarray, categories: str = "full", rounding: str = "nearest_integer",
                   weights: str = "quadratic", z_variance: str = "under_null", alpha: float = 0.05,
                   spearman_se: str = "fisher") -> dict[str, float]:
    """Every agreement statistic of two paired rating vectors (no missing values).

    Kappa, exact and within-one agreement use the ratings on the category grid
    (:func:`rating_codes`); Spearman's rho uses the ratings as given.

    Returns
    -------
    dict
        n, kappa, kappa_se_estimate, kappa_se_null, kappa_z, kappa_p, kappa_z_variance,
        spearman_rho, spearman_p, rho_ci_low, rho_ci_high, rho_ci_se, exact_agreement,
        within_one_agreement.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    codes_x, codes_y = rating_codes(x, rounding), rating_codes(y, rounding)
    labels = kappa_labels(codes_x, codes_y, categories, rounding)
    kappa = weighted_kappa(codes_x, codes_y, labels, weights, z_variance)
    distance = np.abs(codes_x - codes_y)
    n = len(x)
    return {
        "n": n,
        **kappa,
        "kappa_z_variance": z_variance,
        **spearman_with_ci(x, y, alpha, spearman_se),
        "rho_ci_se": spearman_se,
        "exact_agreement": float(np.mean(distance == 0)) if n else float("nan"),
        "within_one_agreement": float(np.mean(distance <= ROUNDING_FACTORS[rounding])) if n else float("nan"),
    }


# --- the cohort -----------------------------------------------------------------------------------------


def expert_consensus(scores: pd.DataFrame, experts: Sequence[str], dimensions: Sequence[str], label: str = "experts",
                     method: str = "median") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The experts' consensus per conversation and dimension.

    Parameters
    ----------
    scores : pandas.DataFrame
        Native scores (conversation_id, judge, dimension, score).
    experts : sequence of str
        The expert judges; a conversation gets a consensus only when every one of them rated it.
    dimensions : sequence of str
        Dimensions to build.
    label : str
        The consensus' judge label.
    method : {"median"}
        The median of the experts (for three experts always one of their ratings).

    Returns
    -------
    consensus : pandas.DataFrame
        conversation_id, judge (= ``label``), dimension, score.
    excluded : pandas.DataFrame
        One row per conversation and dimension left without a consensus (:data:`EXCLUDED_COLUMNS`).
    """
    if method != "median":
        raise AnalysisError(f"agreement.consensus.method '{method}' is not supported (registered: median)")
    missing = sorted(set(experts) - set(scores["judge"]))
    if missing:
        raise AnalysisError(f"expert(s) {missing} have no scores in this cohort (judges present: {sorted(scores['judge'].unique())})")
    rated = scores[scores["judge"].isin(list(experts)) & scores["dimension"].isin(list(dimensions))]
    wide = rated.pivot(index=["dimension", "conversation_id"], columns="judge", values="score").reindex(columns=list(experts))
    complete = wide.notna().all(axis=1)
    consensus = wide[complete].median(axis=1).rename("score").reset_index().assign(judge=label)
    short = wide[~complete]
    excluded = pd.DataFrame(
        {
            "analysis": "consensus",
            "dimension": short.index.get_level_values("dimension"),
            "rater": label,
            "conversation_id": short.index.get_level_values("conversation_id"),
            "record_id": pd.NA,
            "reason": "consensus needs every expert; rated by " + short.notna().sum(axis=1).astype(str).to_numpy()
            + f" of {len(experts)}",
        }
    )
    return consensus[["conversation_id", "judge", "dimension", "score"]], excluded[EXCLUDED_COLUMNS]


def pairwise_agreement(ratings: pd.DataFrame, pairs: Sequence[Sequence[str]], dimensions: Sequence[str], categories: str = "full",
                       rounding: str = "nearest_integer", weights: str = "quadratic", z_variance: str = "under_null",
                       alpha: float = 0.05, spearman_se: str = "fisher") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Agreement statistics for every dimension and registered rater pair.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Long ratings (conversation_id, judge, dimension, score), the consensus included as a judge.
    pairs : sequence of (str, str)
        Registered pairs, in output order.
    dimensions : sequence of str
        Dimensions, in output order.
    categories, rounding, weights, z_variance, alpha, spearman_se
        See :func:`pair_agreement`.

    Returns
    -------
    table : pandas.DataFrame
        :data:`PAIRWISE_COLUMNS`; ``kappa_categories`` says which category set was used.
    excluded : pandas.DataFrame
        Conversations left out of a pair because one rater has no score for them.

    Raises
    ------
    AnalysisError
        When a pair names a rater that has no scores.
    """
    present = set(ratings["judge"])
    unknown = sorted({rater for pair in pairs for rater in pair} - present)
    if unknown:
        raise AnalysisError(f"agreement.pairs name rater(s) {unknown} that have no scores (raters present: {sorted(present)})")
    wide = ratings.pivot(index=["dimension", "conversation_id"], columns="judge", values="score")
    rows, excluded = [], []
    for dimension in dimensions:
        block = wide.xs(dimension, level="dimension") if dimension in wide.index.get_level_values("dimension") else wide.iloc[:0]
        for rater_a, rater_b in pairs:
            pair = block[[rater_a, rater_b]]
            both = pair.notna().all(axis=1)
            for rater in (rater_a, rater_b):
                lacking = pair.index[~both & pair[rater].isna()]
                excluded.append(
                    pd.DataFrame({"analysis": f"pair {rater_a}-{rater_b}", "dimension": dimension, "rater": rater,
                                  "conversation_id": lacking, "record_id": pd.NA, "reason": f"no score from {rater}"})
                )
            kept = pair[both]
            statistics = pair_agreement(kept[rater_a].to_numpy(), kept[rater_b].to_numpy(), categories, rounding, weights, z_variance,
                                        alpha, spearman_se)
            rows.append({"dimension": dimension, "rater_a": rater_a, "rater_b": rater_b, **statistics, "kappa_categories": categories})
    excluded_table = pd.concat(excluded, ignore_index=True) if excluded else pd.DataFrame(columns=EXCLUDED_COLUMNS)
    return pd.DataFrame(rows, columns=PAIRWISE_COLUMNS), excluded_table[EXCLUDED_COLUMNS]


@contextmanager
def _full_precision_pingouin():
    """pingouin rounds its CI column to 2 decimals by default; keep full precision inside."""
    # pingouin imports matplotlib and seaborn: loaded here so that tables and figures need neither
    import pingouin

    previous = pingouin.options.get("round.column.CI95")
    pingouin.options["round.column.CI95"] = None
    try:
        yield
    finally:
        pingouin.options["round.column.CI95"] = previous


def expert_reliability(scores: pd.DataFrame, experts: Sequence[str], dimensions: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How much the experts agree among themselves, per dimension.

    ICC(2,1) and ICC(2,k) (two-way random effects, absolute agreement; single rater and the mean
    of k raters; McGraw & Wong 1996) with pingouin's 95% confidence intervals, on the conversations
    every expert rated; Krippendorff's alpha for ordinal data on all expert ratings (alpha allows
    missing ratings).

    Returns
    -------
    table : pandas.DataFrame
        :data:`EXPERT_COLUMNS`; ICC columns are NaN with fewer than two complete conversations.
    excluded : pandas.DataFrame
        Conversations left out of the ICC because an expert did not rate them.
    """
    import pingouin

    rated = scores[scores["judge"].isin(list(experts))]
    rows, excluded = [], []
    for dimension in dimensions:
        wide = rated[rated["dimension"] == dimension].pivot(index="conversation_id", columns="judge", values="score")
        wide = wide.reindex(columns=list(experts))
        complete = wide.dropna()
        lacking = wide.index[wide.isna().any(axis=1)]
        excluded.append(pd.DataFrame({"analysis": "expert_icc", "dimension": dimension, "rater": "experts",
                                      "conversation_id": lacking, "record_id": pd.NA, "reason": "not rated by every expert"}))
        row = dict.fromkeys(EXPERT_COLUMNS, float("nan"))
        row.update({"dimension": dimension, "n_conversations": int(len(complete)), "n_experts": len(experts)})
        if len(complete) >= 2 and complete.to_numpy().std() > 0:
            long = complete.reset_index().melt(id_vars="conversation_id", var_name="judge", value_name="score")
            with _full_precision_pingouin(), np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The inplace keyword")  # pingouin's own pandas call
                icc = pingouin.intraclass_corr(long, targets="conversation_id", raters="judge", ratings="score").set_index("Type")
            single, average = icc.loc["ICC(A,1)"], icc.loc["ICC(A,k)"]
            row.update(
                {
                    "icc2_1": float(single["ICC"]), "icc2_1_ci_low": float(single["CI95"][0]), "icc2_1_ci_high": float(single["CI95"][1]),
                    "icc2_1_f": float(single["F"]), "icc2_1_p": float(single["pval"]),
                    "icc2_k": float(average["ICC"]), "icc2_k_ci_low": float(average["CI95"][0]), "icc2_k_ci_high": float(average["CI95"][1]),
                }
            )
        values = wide.T.to_numpy(dtype=float)
        domain = np.union1d(np.arange(SCORE_MIN, SCORE_MAX + 1), values[np.isfinite(values)])
        if np.isfinite(values).sum() >= 2 and np.unique(values[np.isfinite(values)]).size >= 2:
            row["krippendorff_alpha_ordinal"] = float(
                krippendorff.alpha(reliability_data=values, level_of_measurement="ordinal", value_domain=domain)
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=EXPERT_COLUMNS), pd.concat(excluded, ignore_index=True)[EXCLUDED_COLUMNS]


def crowd_worker_agreement(annotations: pd.DataFrame, consensus: pd.DataFrame, dimensions: Sequence[str], categories: str = "full",
                           rounding: str = "nearest_integer", weights: str = "quadratic", z_variance: str = "under_null",
                           alpha: float = 0.05, min_n: int = 10, spearman_se: str = "fisher", bootstrap_resamples: int = 2000,
                           seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each crowd worker's individual ratings against the expert consensus.

    Parameters
    ----------
    annotations : pandas.DataFrame
        annotation_id, worker_id, conversation_id, dimension, score (one row per rating).
    consensus : pandas.DataFrame
        From :func:`expert_consensus`.
    dimensions : sequence of str
        Dimensions, in output order.
    categories, rounding, weights, z_variance, alpha, spearman_se
        See :func:`pair_agreement`.
    min_n : int
        Kappa and Spearman's rho are computed for a single worker only with at least this many
        ratings of a dimension (NaN otherwise); the pooled row always has them.
    bootstrap_resamples, seed : int
        The pooled rows' conversation-cluster bootstrap (:func:`cluster_bootstrap_kappa_se`).

    Returns
    -------
    table : pandas.DataFrame
        :data:`CROWD_WORKER_COLUMNS`; per dimension one pooled row (``worker_id = all_workers``:
        every individual rating against its conversation's consensus) and one row per worker.
        ``mean_difference`` is worker minus consensus.
    excluded : pandas.DataFrame
        Ratings of conversations without a consensus.

    Notes
    -----
    The pooled kappa treats every individual rating as a separate pair; ratings of the same
    conversation share its consensus, so its asymptotic SEs ignore that clustering and are
    optimistic. The pooled rows therefore also carry ``kappa_se_cluster_bootstrap``: the SD of the
    kappa over bootstrap resamples of whole conversations (every rating of a drawn conversation
    comes along). Single workers' rows leave it empty.
    """
    joined = annotations[annotations["dimension"].isin(list(dimensions))].merge(
        consensus[["conversation_id", "dimension", "score"]].rename(columns={"score": "consensus"}),
        on=["conversation_id", "dimension"], how="left", validate="many_to_one",
    )
    lacking = joined["consensus"].isna()
    excluded = pd.DataFrame({"analysis": "crowd_workers", "dimension": joined.loc[lacking, "dimension"].to_numpy(),
                             "rater": joined.loc[lacking, "worker_id"].to_numpy(),
                             "conversation_id": joined.loc[lacking, "conversation_id"].to_numpy(),
                             "record_id": joined.loc[lacking, "annotation_id"].to_numpy(), "reason": "no expert consensus for this conversation"})
    joined = joined[~lacking]
    factor = ROUNDING_FACTORS[rounding]
    distance = np.abs(rating_codes(joined["score"], rounding) - rating_codes(joined["consensus"], rounding))
    joined = joined.assign(
        difference=joined["score"] - joined["consensus"], absolute=(joined["score"] - joined["consensus"]).abs(),
        exact=(distance == 0).astype(float), within_one=(distance <= factor).astype(float),
    )
    pooled = joined.assign(worker_id=ALL_WORKERS)
    frames = pd.concat([pooled, joined], ignore_index=True)
    summary = frames.groupby(["dimension", "worker_id"], sort=False).agg(
        n=("score", "size"), n_conversations=("conversation_id", "nunique"), mean_difference=("difference", "mean"),
        mean_absolute_difference=("absolute", "mean"),
        exact_agreement=("exact", "mean"), within_one_agreement=("within_one", "mean"),
    ).reset_index()
    statistics = []
    for (dimension, worker), group in frames.groupby(["dimension", "worker_id"], sort=False):
        if worker != ALL_WORKERS and len(group) < min_n:
            continue
        result = pair_agreement(group["score"].to_numpy(), group["consensus"].to_numpy(), categories, rounding, weights, z_variance,
                                alpha, spearman_se)
        row = {"dimension": dimension, "worker_id": worker, **{key: result[key] for key in STATISTIC_KEYS}}
        if worker == ALL_WORKERS:
            row["kappa_se_cluster_bootstrap"] = cluster_bootstrap_kappa_se(
                group["score"].to_numpy(), group["consensus"].to_numpy(), group["conversation_id"].to_numpy(), categories,
                rounding, weights, bootstrap_resamples, seed,
            )
            row["bootstrap_resamples"] = bootstrap_resamples
        statistics.append(row)
    columns = ["dimension", "worker_id", *STATISTIC_KEYS, "kappa_se_cluster_bootstrap", "bootstrap_resamples"]
    table = summary.merge(pd.DataFrame(statistics, columns=columns), on=["dimension", "worker_id"], how="left")
    table["bootstrap_resamples"] = table["bootstrap_resamples"].astype("Int64")
    table["kappa_categories"] = categories
    order = {dimension: rank for rank, dimension in enumerate(dimensions)}
    table = table.assign(_dimension=table["dimension"].map(order), _pooled=table["worker_id"] != ALL_WORKERS)
    table = table.sort_values(["_dimension", "_pooled", "worker_id"], kind="stable").drop(columns=["_dimension", "_pooled"])
    return table[CROWD_WORKER_COLUMNS].reset_index(drop=True), excluded[EXCLUDED_COLUMNS]


STATISTIC_KEYS = ("kappa", "kappa_se_estimate", "kappa_se_null", "kappa_z", "kappa_p", "kappa_z_variance", "spearman_rho", "spearman_p")


def cluster_bootstrap_kappa_se(x: np.ndarray, y: np.ndarray, clusters: np.ndarray, categories: str = "full",
                               rounding: str = "nearest_integer", weights: str = "quadratic", resamples: int = 2000,
                               seed: int = 0) -> float:
    """SE of the weighted kappa from a bootstrap that resamples whole clusters (conversations).

    Parameters
    ----------
    x, y : numpy.ndarray
        Paired ratings (a crowd worker's rating and the consensus of the same conversation).
    clusters : numpy.ndarray
        The cluster of each pair (conversation_id).
    categories, rounding, weights
        As :func:`pair_agreement`; the category set is the full sample's, kept in every resample.
    resamples, seed : int
        Bootstrap resamples; seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    float
        The SD (``ddof=1``) of the resampled kappas; NaN with fewer than two clusters or when the
        kappa of the sample is undefined. Resamples with an undefined kappa (no expected
        disagreement) are dropped.

    Notes
    -----
    Vectorised: each cluster's confusion table is counted once; a resample's table is the sum of
    its drawn clusters' tables (a matrix product of the draw counts with the stacked tables), and
    kappa = 1 - sum(W * O) / sum(W * E) is computed for all resamples at once, with O the observed
    and E the chance-expected proportions and W the disagreement weights.
    """
    codes_x, codes_y = rating_codes(x, rounding), rating_codes(y, rounding)
    labels = kappa_labels(codes_x, codes_y, categories, rounding)
    cluster_codes, uniques = pd.factorize(pd.Series(clusters), sort=True)
    n_clusters, size = len(uniques), len(labels)
    if n_clusters < 2 or np.isnan(weighted_kappa(codes_x, codes_y, labels, weights)["kappa"]):
        return float("nan")
    position = {label: index for index, label in enumerate(labels)}
    row = np.array([position[code] for code in codes_x])
    column = np.array([position[code] for code in codes_y])
    tables = np.zeros((n_clusters, size * size))
    np.add.at(tables, (cluster_codes, row * size + column), 1.0)
    rng = np.random.default_rng(seed)
    draws = rng.integers(n_clusters, size=(resamples, n_clusters))
    offsets = draws + n_clusters * np.arange(resamples)[:, None]
    times_drawn = np.bincount(offsets.ravel(), minlength=resamples * n_clusters).reshape(resamples, n_clusters)
    counts = (times_drawn @ tables).reshape(resamples, size, size)
    totals = counts.sum(axis=(1, 2))
    observed = counts / totals[:, None, None]
    expected = observed.sum(axis=2)[:, :, None] * observed.sum(axis=1)[:, None, :]
    distance = np.arange(size)[:, None] - np.arange(size)[None, :]
    disagreement = distance**2 if weights == "quadratic" else np.abs(distance)
    chance = (disagreement * expected).sum(axis=(1, 2))
    kappas = 1.0 - (disagreement * observed).sum(axis=(1, 2)) / np.where(chance > 0, chance, np.nan)
    kappas = kappas[np.isfinite(kappas)]
    return float(np.std(kappas, ddof=1)) if len(kappas) > 1 else float("nan")


@dataclass(frozen=True)
class AgreementResults:
    """The agreement analysis of one rating cohort.

    Attributes
    ----------
    pairwise, experts, crowd_workers, excluded : pandas.DataFrame
        :data:`PAIRWISE_COLUMNS`, :data:`EXPERT_COLUMNS`, :data:`CROWD_WORKER_COLUMNS`,
        :data:`EXCLUDED_COLUMNS`.
    execution : dict
        What was computed, for the spec record.
    """

    pairwise: pd.DataFrame
    experts: pd.DataFrame
    crowd_workers: pd.DataFrame
    excluded: pd.DataFrame
    execution: dict


def agreement_analysis(
    scores: pd.DataFrame,
    crowd_annotations: pd.DataFrame | None,
    *,
    experts: Sequence[str],
    pairs: Sequence[Sequence[str]],
    dimensions: Sequence[str],
    consensus_label: str = "experts",
    consensus_method: str = "median",
    kappa_weights: str = "quadratic",
    kappa_categories: str = "full",
    rounding: str = "nearest_integer",
    kappa_z_variance: str = "under_null",
    alpha: float = 0.05,
    spearman_ci_se: str = "fisher",
    crowd_bootstrap_resamples: int = 2000,
    crowd_bootstrap_seed: int = 20260306,
    crowd_worker_min_n: int = 10,
) -> AgreementResults:
    """Run the registered agreement analysis (prereg ``agreement:``) on a rating cohort.

    Parameters
    ----------
    scores : pandas.DataFrame
        Native scores of the cohort (every annotator as a judge).
    crowd_annotations : pandas.DataFrame or None
        The crowd workers' individual ratings; None skips the crowd-worker table (it is then empty).
    experts : sequence of str
        Registered ``experts`` (see :func:`expert_consensus`).
    pairs : sequence of (str, str)
        Registered ``pairs`` of raters, in output order (the consensus appears under its label).
    dimensions : sequence of str
        Registered dimensions.
    consensus_label : str
        Registered ``consensus.label``: the consensus' rater label (must not be a judge of the cohort).
    consensus_method : {"median"}
        Registered ``consensus.method``; the only one implemented (see :func:`expert_consensus`).
    kappa_weights, kappa_categories, rounding, kappa_z_variance : str
        Registered options of Cohen's kappa (see :func:`pair_agreement`).
    alpha : float
        Two-sided level of the Spearman CI.
    spearman_ci_se : str
        Registered ``spearman_ci_se`` (see :func:`spearman_with_ci`).
    crowd_bootstrap_resamples, crowd_bootstrap_seed : int
        Registered ``crowd_bootstrap.resamples`` and ``crowd_bootstrap.seed``.
    crowd_worker_min_n : int
        Registered ``crowd_worker_min_n``: ratings a crowd worker needs for statistics of their own.

    Returns
    -------
    AgreementResults

    Raises
    ------
    ConfigError
        When ``consensus_method`` is not the median.
    AnalysisError
        When the consensus label is a judge of the cohort, an expert has no scores, or a pair names
        a rater without scores.
    """
    require_implemented("agreement.consensus.method", consensus_method, "median")
    experts = list(experts)
    label = consensus_label
    options = {
        "categories": kappa_categories,
        "rounding": rounding,
        "weights": kappa_weights,
        "z_variance": kappa_z_variance,
        "alpha": float(alpha),
        "spearman_se": spearman_ci_se,
    }
    resamples, seed = int(crowd_bootstrap_resamples), int(crowd_bootstrap_seed)
    if label in set(scores["judge"]):
        raise AnalysisError(f"the consensus label '{label}' is also a judge in this cohort; register another agreement.consensus.label")
    consensus, consensus_excluded = expert_consensus(scores, experts, dimensions, label, consensus_method)
    ratings = pd.concat([scores[["conversation_id", "judge", "dimension", "score"]], consensus], ignore_index=True)
    pairs = [tuple(pair) for pair in pairs]
    pairwise, pair_excluded = pairwise_agreement(ratings, pairs, dimensions, **options)
    experts_table, icc_excluded = expert_reliability(scores, experts, dimensions)
    min_n = int(crowd_worker_min_n)
    if crowd_annotations is not None and not crowd_annotations.empty:
        workers, worker_excluded = crowd_worker_agreement(crowd_annotations, consensus, dimensions, min_n=min_n,
                                                          bootstrap_resamples=resamples, seed=seed, **options)
    else:
        workers, worker_excluded = pd.DataFrame(columns=CROWD_WORKER_COLUMNS), pd.DataFrame(columns=EXCLUDED_COLUMNS)
    excluded = pd.concat([frame for frame in (consensus_excluded, pair_excluded, icc_excluded, worker_excluded) if not frame.empty]
                         or [pd.DataFrame(columns=EXCLUDED_COLUMNS)], ignore_index=True)
    execution = {
        "estimator": f"cohen_kappa_{options['weights']}",
        "outcomes": list(dimensions),
        "terms": [],
        "alpha": options["alpha"],
        "seed": seed,
        "sample": {
            "n_conversations": int(scores["conversation_id"].nunique()),
            "n_judges": int(scores["judge"].nunique()),
            "judges": sorted(scores["judge"].unique().tolist()),
            "n_crowd_annotations": 0 if crowd_annotations is None else int(len(crowd_annotations)),
            "n_crowd_workers": 0 if crowd_annotations is None else int(crowd_annotations["worker_id"].nunique()),
            "n_excluded_records": int(len(excluded)),
        },
        "details": {
            "pairs": [list(pair) for pair in pairs],
            "experts": experts,
            "consensus": {"label": label, "method": consensus_method, "requires_every_expert": True},
            "kappa_weights": options["weights"],
            "kappa_categories": options["categories"],
            "rounding": options["rounding"],
            "kappa_z_variance": options["z_variance"],
            "kappa_estimator": "sklearn.metrics.cohen_kappa_score (checked against statsmodels cohens_kappa)",
            "kappa_se": "statsmodels.stats.inter_rater.cohens_kappa var_kappa and var_kappa0 (Fleiss, Cohen & Everitt 1969)",
            "crowd_bootstrap": f"pooled crowd kappa: SD over {resamples} conversation-cluster bootstrap resamples, numpy default_rng({seed})",
            "spearman_ci": f"Fisher z, normal quantile, SE {options['spearman_se']}",
            "icc": "pingouin.intraclass_corr ICC(A,1) = ICC(2,1), ICC(A,k) = ICC(2,k); 95% CI",
            "krippendorff": "krippendorff.alpha, level ordinal, value domain 1-5",
            "crowd_worker_min_n": min_n,
        },
    }
    return AgreementResults(pairwise, experts_table, workers, excluded.reset_index(drop=True), execution)
