"""Silent empathy: feeling empathy versus expressing it (secondary, exploratory).

Three questions, all registered under ``secondary_analyses.silent_empathy``:

* **Trait empathy.** Does a participant's trait empathy (the Jordan score, the sum of
  ``empathy_item_1..7``, range 7-35; SITES, ``empathy_item_8``) go with how empathic their
  conversations were judged? Pearson correlation of each trait with the participant's mean
  composite over their analysed conversations.
* **Self-report versus judged.** Per conversation, each self-rating against the judged score it
  describes (``self_empathized`` / composite, ``self_encourage_elaboration`` /
  ``encouraging_elaboration``, ``self_showed_understanding`` / ``demonstrating_understanding``), for
  all analysed conversations and for the first only.
* **The gap.** The distribution of each self-rating beside the distribution of the matching judged
  score on the same 1-5 scale, the share rating themselves high ("quite a bit" or "very much",
  levels 4-5) against the share judged that high, and a paired test of the difference (McNemar,
  pingouin).

Nothing is dropped silently: participants without every item of a trait and conversations
without a self-rating are listed in ``left_out`` with the reason and counted in the result tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.cohorts.outcomes import Composite
from analysis.constants import SCORE_MAX, SCORE_MIN
from analysis.errors import AnalysisError, require_implemented
from analysis.models.tidy import mean_intervals
from analysis.runtime.lazy_imports import lazy_module

__all__ = [
    "LEVELS", "TRAIT_CORRELATION_COLUMNS", "SELF_JUDGED_COLUMNS", "DISTRIBUTION_COLUMNS", "GAP_COLUMNS",
    "TRAIT_LEVEL_COLUMNS", "LEFT_OUT_COLUMNS", "Trait", "SelfJudgedPair", "SilentEmpathyResults", "composite_range",
    "judged_levels", "pearson_row", "cluster_bootstrap_pearson_ci", "clustered_mcnemar", "participant_outcome",
    "trait_scores", "level_means", "trait_analysis", "self_rated_conversations", "paired_high_test", "self_judged_analysis",
    "silent_empathy_analysis", "read_participant_traits",
]

stats = lazy_module("scipy.stats")

LEVELS: tuple[int, ...] = tuple(range(int(SCORE_MIN), int(SCORE_MAX) + 1))

TRAIT_CORRELATION_COLUMNS = ["trait", "items", "n", "r", "r2", "p_value", "ci_low", "ci_high", "n_left_out"]
SELF_JUDGED_COLUMNS = [
    "subset", "self_rating", "judged", "n", "r", "r2", "p_value", "ci_low", "ci_high", "n_left_out",
    "n_clusters", "cluster_ci_low", "cluster_ci_high", "bootstrap_resamples",
]
DISTRIBUTION_COLUMNS = ["subset", "self_rating", "judged", "source", "level", "count", "share"]
GAP_COLUMNS = [
    "subset", "self_rating", "judged", "n", "n_self_high", "n_judged_high", "share_self_high", "share_judged_high",
    "difference", "n_self_only_high", "n_judged_only_high", "test", "statistic", "p_value", "p_value_approx",
    "n_left_out", "n_clusters", "clustered_test", "clustered_statistic", "clustered_p_value",
]
TRAIT_LEVEL_COLUMNS = ["trait", "level", "n", "mean", "sd", "ci_low", "ci_high"]
LEFT_OUT_COLUMNS = ["analysis", "level", "record_id", "participant_id", "reason"]


@dataclass(frozen=True)
class Trait:
    """A registered trait: its name and the participants.csv items summed into it."""

    name: str
    items: tuple[str, ...]

    @classmethod
    def from_plan(cls, block: Mapping) -> Trait:
        """Build it from one entry of the plan's ``silent_empathy.traits`` (``name``, ``items``)."""
        return cls(name=str(block["name"]), items=tuple(block["items"]))


@dataclass(frozen=True)
class SelfJudgedPair:
    """A self-rating column of conversations.csv and the judged outcome of the same conversation it describes."""

    self_rating: str
    judged: str

    @classmethod
    def from_plan(cls, block: Mapping) -> SelfJudgedPair:
        """Build it from one entry of the plan's ``silent_empathy.self_vs_judged`` (``self_rating``, ``judged``)."""
        return cls(self_rating=str(block["self_rating"]), judged=str(block["judged"]))


@dataclass(frozen=True)
class SilentEmpathyResults:
    """Tables of the silent-empathy analysis (columns: the ``*_COLUMNS`` lists of this module).

    ``participants`` holds one row per participant with an outcome (participant_id, arm,
    n_conversations, ``<outcome>_mean`` and one column per trait; missing traits are empty).
    ``execution`` describes what was run, for the spec record.
    """

    trait_correlations: pd.DataFrame
    trait_levels: pd.DataFrame
    participants: pd.DataFrame
    self_judged: pd.DataFrame
    distributions: pd.DataFrame
    high_rating_gap: pd.DataFrame
    left_out: pd.DataFrame
    execution: dict


def composite_range(composite: Composite, score_min: float = SCORE_MIN, score_max: float = SCORE_MAX) -> tuple[float, float]:
    """Smallest and largest possible value of the registered composite.

    ``sum(add) - sum(subtract)`` of dimensions scored in ``[score_min, score_max]``: with three
    added and three subtracted 1-5 dimensions, ``(-12, 12)``.
    """
    n_add, n_subtract = len(composite.add), len(composite.subtract)
    return n_add * score_min - n_subtract * score_max, n_add * score_max - n_subtract * score_min


def judged_levels(values: pd.Series, scale: tuple[float, float] | None) -> pd.Series:
    """Place judged scores on the 1-5 self-rating scale (registered ``judged_levels: linear_round``).

    Parameters
    ----------
    values : pandas.Series
        Judged scores: a dimension (1-5, possibly a mean over judges) or the composite.
    scale : (float, float) or None
        The range of ``values`` when they are not on the 1-5 scale (the composite's
        :func:`composite_range`); None for a dimension.

    Returns
    -------
    pandas.Series
        Integer levels 1-5: ``floor(x + 0.5)`` of the score, or of
        ``1 + 4 (value - low) / (high - low)`` for the composite, clipped to 1-5.
    """
    numbers = values.to_numpy(dtype=float)
    if scale is not None:
        low, high = scale
        numbers = SCORE_MIN + (SCORE_MAX - SCORE_MIN) * (numbers - low) / (high - low)
    levels = np.clip(np.floor(numbers + 0.5), SCORE_MIN, SCORE_MAX)
    return pd.Series(levels.astype("int64"), index=values.index, name=values.name)


def pearson_row(x: np.ndarray, y: np.ndarray, alpha: float) -> dict:
    """Pearson r, R2, two-sided p and Fisher-z CI of two paired vectors (scipy.stats.pearsonr).

    Fewer than three pairs, or a constant vector, give NaN statistics with the count kept.
    pingouin's ``corr`` gives the same r and p but rounds its CI to two decimals, so the CI is
    scipy's, at full precision.
    """
    n = int(len(x))
    empty = {"n": n, "r": np.nan, "r2": np.nan, "p_value": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return empty
    result = stats.pearsonr(x, y)
    interval = result.confidence_interval(confidence_level=1 - alpha)
    r = float(result.statistic)
    return {"n": n, "r": r, "r2": r * r, "p_value": float(result.pvalue), "ci_low": float(interval.low), "ci_high": float(interval.high)}


# resamples x clusters cells counted at once in the cluster bootstrap (a 16 MB block of counts)
_BOOTSTRAP_BLOCK_CELLS = 2**21


def cluster_bootstrap_pearson_ci(
    x: np.ndarray, y: np.ndarray, clusters: np.ndarray, resamples: int, seed: int, alpha: float
) -> dict:
    """Percentile CI of Pearson's r from a bootstrap that resamples whole clusters.

    Parameters
    ----------
    x, y : numpy.ndarray
        Paired values, one per unit (conversation).
    clusters : numpy.ndarray
        The cluster (participant) of each unit.
    resamples : int
        Bootstrap resamples.
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    alpha : float
        The interval is the ``alpha/2`` and ``1 - alpha/2`` quantiles of the resampled r.

    Returns
    -------
    dict
        ``n_clusters``, ``cluster_ci_low``, ``cluster_ci_high``, ``bootstrap_resamples``. With fewer
        than three clusters or a constant vector the interval is NaN (not estimable).

    Notes
    -----
    Vectorised: each resample draws K clusters with replacement (``rng.integers(K, size=(B, K))``);
    a unit then enters the resample as often as its cluster was drawn, so r is a weighted Pearson
    correlation with those counts as weights. Because every unit of a cluster carries the same
    weight, the weighted sums are products of the B x K draw counts with per-cluster sums, so no
    B x N matrix is built; the counts are formed a block of resamples at a time, which bounds the
    memory by the B x K draws (stored as 32-bit integers: numpy's generator gives the same values
    for int32 as for int64 below 2**31).
    Resamples in which one variable is constant give no r and are dropped from the quantiles.
    """
    codes, uniques = pd.factorize(pd.Series(clusters), sort=True)
    n_clusters = int(len(uniques))
    result = {"n_clusters": n_clusters, "cluster_ci_low": np.nan, "cluster_ci_high": np.nan, "bootstrap_resamples": int(resamples)}
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if n_clusters < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return result
    rng = np.random.default_rng(seed)
    draws = rng.integers(n_clusters, size=(resamples, n_clusters), dtype=np.int32)
    # centre first so the sums of squares do not cancel catastrophically
    x = x - x.mean()
    y = y - y.mean()
    per_cluster = np.stack(
        [np.bincount(codes, weights=values, minlength=n_clusters) for values in (np.ones_like(x), x, y, x * x, y * y, x * y)],
        axis=1,
    )
    sums = np.empty((resamples, per_cluster.shape[1]))
    block = max(1, _BOOTSTRAP_BLOCK_CELLS // n_clusters)
    for start in range(0, resamples, block):
        rows = draws[start : start + block]
        offsets = rows + n_clusters * np.arange(len(rows))[:, None]
        times_drawn = np.bincount(offsets.ravel(), minlength=rows.size).reshape(rows.shape)
        sums[start : start + block] = times_drawn @ per_cluster
    total, sx, sy, sxx, syy, sxy = sums.T
    vx = sxx - sx * sx / total
    vy = syy - sy * sy / total
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (sxy - sx * sy / total) / np.sqrt(vx * vy)
    r = r[np.isfinite(r) & (vx > 1e-12) & (vy > 1e-12)]
    if len(r) == 0:
        return result
    low, high = np.quantile(r, [alpha / 2, 1 - alpha / 2])
    result.update(cluster_ci_low=float(low), cluster_ci_high=float(high))
    return result


def clustered_mcnemar(first: np.ndarray, second: np.ndarray, clusters: np.ndarray) -> dict:
    """Obuchowski's (1998) test of two paired proportions when units come in clusters.

    Parameters
    ----------
    first, second : numpy.ndarray of bool
        The two binary ratings of each unit (e.g. self-rated high, judged high).
    clusters : numpy.ndarray
        The cluster (participant) of each unit.

    Returns
    -------
    dict
        ``n_clusters``, ``clustered_test`` (``obuchowski``), ``clustered_statistic`` (chi-square, 1 df)
        and ``clustered_p_value``. NaN when fewer than two clusters or no cluster differs.

    Notes
    -----
    With K clusters, ``x_i`` and ``y_i`` the counts of positive first and second ratings in cluster
    i, ``n_i`` its size and N the total, ``p1 = sum x_i / N`` and ``p2 = sum y_i / N``;
    ``var(p1 - p2) = K / ((K - 1) N^2) * sum_i ((x_i - y_i) - n_i (p1 - p2))^2`` and
    ``chi2 = (p1 - p2)^2 / var(p1 - p2)``. The ratio estimator's variance uses the cluster totals, so
    the three conversations of one participant count as one independent unit, not three.
    Durkalski et al. (2003) give the same test without centring and the K/(K-1) factor.

    References
    ----------
    Obuchowski NA (1998). On the comparison of correlated proportions for clustered data.
    Statistics in Medicine 17:1495-1507.
    Durkalski VL, Palesch YY, Lipsitz SR, Rust PF (2003). Analysis of clustered matched-pair data.
    Statistics in Medicine 22:2417-2428.
    """
    codes, uniques = pd.factorize(pd.Series(clusters), sort=True)
    k = int(len(uniques))
    result = {"n_clusters": k, "clustered_test": "obuchowski", "clustered_statistic": np.nan, "clustered_p_value": np.nan}
    if k < 2:
        return result
    x = np.bincount(codes, weights=np.asarray(first, dtype=float), minlength=k)
    y = np.bincount(codes, weights=np.asarray(second, dtype=float), minlength=k)
    sizes = np.bincount(codes, minlength=k).astype(float)
    total = sizes.sum()
    difference = (x.sum() - y.sum()) / total
    variance = k / ((k - 1) * total**2) * np.sum(((x - y) - sizes * difference) ** 2)
    if variance <= 0:
        return result
    statistic = difference**2 / variance
    result.update(clustered_statistic=float(statistic), clustered_p_value=float(stats.chi2.sf(statistic, 1)))
    return result


def participant_outcome(outcomes: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Each participant's mean ``outcome`` over their analysed conversations.

    Returns
    -------
    pandas.DataFrame
        participant_id, arm, n_conversations, ``<outcome>_mean``; sorted by participant_id.
    """
    if outcome not in outcomes:
        raise AnalysisError(f"conversation_scores.csv has no column '{outcome}' (registered silent_empathy.outcome)")
    grouped = outcomes.groupby("participant_id", sort=True)
    return pd.DataFrame(
        {
            "arm": grouped["arm"].first(),
            "n_conversations": grouped[outcome].size(),
            f"{outcome}_mean": grouped[outcome].mean(),
        }
    ).reset_index()


def _left_out(analysis: str, level: str, records: pd.DataFrame, reason) -> pd.DataFrame:
    """``LEFT_OUT_COLUMNS`` rows for ``records`` (participants or conversations, as ``level`` says)."""
    return pd.DataFrame(
        {
            "analysis": analysis,
            "level": level,
            "record_id": records[f"{level}_id"].to_numpy(),
            "participant_id": records["participant_id"].to_numpy(),
            "reason": reason,
        }
    )


def trait_scores(participants: pd.DataFrame, traits: Sequence[Trait]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sum each registered trait's items per participant.

    Parameters
    ----------
    participants : pandas.DataFrame
        Validated participants (participant_id and the empathy items, which may be missing).
    traits : sequence of Trait
        The registered traits.

    Returns
    -------
    scores : pandas.DataFrame
        participant_id and one nullable column per trait (empty when an item is missing).
    left_out : pandas.DataFrame
        One row per participant and trait left out (``LEFT_OUT_COLUMNS``), naming the missing items.
    """
    scores = participants[["participant_id"]].copy()
    left = []
    for trait in traits:
        items = list(trait.items)
        absent = [item for item in items if item not in participants]
        block = participants.reindex(columns=items).apply(pd.to_numeric, errors="coerce")
        missing = block.isna()
        scores[trait.name] = block.sum(axis=1, min_count=len(items)).where(~missing.any(axis=1))
        incomplete = missing.any(axis=1)
        if incomplete.any():
            names = missing[incomplete].dot(pd.Index(items) + ", ").str.removesuffix(", ")
            reason = "column(s) absent from participants.csv: " if absent else "missing trait item(s): "
            left.append(_left_out(f"trait_{trait.name}", "participant", participants[incomplete], (reason + names).to_numpy()))
    left_out = pd.concat(left, ignore_index=True) if left else pd.DataFrame(columns=LEFT_OUT_COLUMNS)
    return scores, left_out[LEFT_OUT_COLUMNS]


def level_means(data: pd.DataFrame, by: str, value: str, alpha: float) -> pd.DataFrame:
    """Mean of ``value`` per level of ``by`` with a t-based ``1 - alpha`` CI (NaN when n < 2)."""
    summary = data.groupby(by, sort=True)[value].agg(n="count", mean="mean", sd="std").reset_index()
    summary = mean_intervals(summary, alpha=alpha)
    return summary.rename(columns={by: "level"})


def trait_analysis(
    participants: pd.DataFrame, outcomes: pd.DataFrame, traits: Sequence[Trait], outcome: str, alpha: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Pearson correlation of each trait with the participant's mean outcome.

    Only participants with analysed conversations take part (those excluded upstream are
    counted in the exclusion step, not here); among them, participants missing a trait item are
    listed and counted in ``n_left_out``.

    Returns
    -------
    correlations, levels, table, left_out : pandas.DataFrame
        ``TRAIT_CORRELATION_COLUMNS``, ``TRAIT_LEVEL_COLUMNS`` (mean outcome per trait score), the
        participant table (see :class:`SilentEmpathyResults`) and ``LEFT_OUT_COLUMNS``.
    """
    table = participant_outcome(outcomes, outcome)
    scores, left_out = trait_scores(participants, traits)
    table = table.merge(scores, on="participant_id", how="left", validate="one_to_one")
    left_out = left_out[left_out["participant_id"].isin(table["participant_id"])].reset_index(drop=True)
    mean_column = f"{outcome}_mean"
    rows, levels = [], []
    for trait in traits:
        name = trait.name
        complete = table.dropna(subset=[name])
        row = pearson_row(complete[name].to_numpy(dtype=float), complete[mean_column].to_numpy(dtype=float), alpha)
        rows.append({"trait": name, "items": "+".join(trait.items), **row, "n_left_out": int(table[name].isna().sum())})
        by_level = level_means(complete, name, mean_column, alpha)
        by_level.insert(0, "trait", name)
        levels.append(by_level)
    correlations = pd.DataFrame(rows, columns=TRAIT_CORRELATION_COLUMNS)
    level_table = pd.concat(levels, ignore_index=True)
    level_table["level"] = level_table["level"].astype("int64")
    return correlations, level_table[TRAIT_LEVEL_COLUMNS], table, left_out


def _subset(outcomes: pd.DataFrame, subset: str) -> pd.DataFrame:
    if subset == "all":
        return outcomes
    if subset == "first":
        return outcomes[outcomes["conversation_number"] == 1]
    raise AnalysisError(f"unknown subset '{subset}' (expected all or first)")


def self_rated_conversations(
    outcomes: pd.DataFrame, conversations: pd.DataFrame, pairs: Sequence[SelfJudgedPair]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Join the self-ratings to the analysed conversations; list conversations missing one.

    Returns
    -------
    data : pandas.DataFrame
        The analysed conversations with every registered self-rating column (nullable integers).
    left_out : pandas.DataFrame
        One row per analysed conversation and self-rating that is missing (``LEFT_OUT_COLUMNS``).
    """
    ratings = [pair.self_rating for pair in pairs]
    for pair in pairs:
        if pair.judged not in outcomes:
            raise AnalysisError(f"self_vs_judged names judged outcome '{pair.judged}', not a column of conversation_scores.csv")
    present = [rating for rating in dict.fromkeys(ratings) if rating in conversations]
    data = outcomes.merge(
        conversations[["conversation_id", *present]], on="conversation_id", how="left", validate="one_to_one"
    )
    left = []
    for rating in dict.fromkeys(ratings):
        if rating not in data:
            data[rating] = pd.array([pd.NA] * len(data), dtype="Int64")
            reason = f"column {rating} absent from conversations.csv"
        else:
            reason = f"{rating} is empty"
        missing = data[rating].isna()
        if missing.any():
            left.append(_left_out(f"self_{rating}", "conversation", data[missing], reason))
    left_out = pd.concat(left, ignore_index=True) if left else pd.DataFrame(columns=LEFT_OUT_COLUMNS)
    return data, left_out[LEFT_OUT_COLUMNS]


def paired_high_test(self_high: np.ndarray, judged_high: np.ndarray, test: str) -> dict:
    """Paired test of the share rated high by the participant versus by the judge.

    ``mcnemar``: pingouin's ``chi2_mcnemar`` (continuity-corrected chi2 as ``statistic``; the exact
    binomial p as ``p_value``, the chi2 p as ``p_value_approx``); with no discordant pair the test
    is undefined and gives NaN. ``paired_ttest``: pingouin's paired t-test of the 0/1 indicators.
    """
    # pingouin imports matplotlib and seaborn: loaded here so that tables and figures need neither
    import pingouin as pg

    n_self_only = int(np.sum(self_high & ~judged_high))
    n_judged_only = int(np.sum(~self_high & judged_high))
    result = {"n_self_only_high": n_self_only, "n_judged_only_high": n_judged_only, "test": test,
              "statistic": np.nan, "p_value": np.nan, "p_value_approx": np.nan}
    if len(self_high) == 0:
        return result
    if test == "mcnemar":
        if n_self_only + n_judged_only == 0:
            return result
        frame = pd.DataFrame({"self_high": self_high.astype(int), "judged_high": judged_high.astype(int)})
        _, summary = pg.chi2_mcnemar(frame, "self_high", "judged_high", correction=True)
        result.update(statistic=float(summary.loc["mcnemar", "chi2"]), p_value=float(summary.loc["mcnemar", "p_exact"]),
                      p_value_approx=float(summary.loc["mcnemar", "p_approx"]))
    elif test == "paired_ttest":
        if len(self_high) < 2 or np.all(self_high == judged_high):
            return result
        summary = pg.ttest(self_high.astype(float), judged_high.astype(float), paired=True)
        result.update(statistic=float(summary["T"].iloc[0]), p_value=float(summary["p_val"].iloc[0]))
    else:
        raise AnalysisError(f"unknown paired_test '{test}' (expected mcnemar or paired_ttest)")
    return result


def self_judged_analysis(
    data: pd.DataFrame,
    pairs: Sequence[SelfJudgedPair],
    subsets: Sequence[str],
    composite: Composite,
    high_levels: Sequence[int],
    paired_test: str,
    alpha: float,
    bootstrap_resamples: int = 2000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Correlations, level distributions and the high-rating gap for every subset and pair.

    Beside the naive conversation-level numbers (conversations treated as independent, as
    published) every row carries inference that respects clustering by participant: a
    participant-cluster bootstrap CI of r (:func:`cluster_bootstrap_pearson_ci`) and the clustered
    McNemar test of the paired high shares (:func:`clustered_mcnemar`).

    Parameters
    ----------
    data : pandas.DataFrame
        From :func:`self_rated_conversations`.
    pairs : sequence of SelfJudgedPair
        Self-rating and judged outcome compared.
    subsets : sequence of {"all", "first"}
        Conversations analysed.
    composite : Composite
        The registered composite (its range maps it onto 1-5).
    high_levels : sequence of int
        Levels counted as high.
    paired_test : {"mcnemar", "paired_ttest"}
        See :func:`paired_high_test`.
    alpha : float
        Two-sided level of the CIs.
    bootstrap_resamples : int
        Resamples of the participant-cluster bootstrap.
    seed : int
        Seed of the bootstrap (every subset and pair starts from the same seed).

    Returns
    -------
    correlations, distributions, gap : pandas.DataFrame
        ``SELF_JUDGED_COLUMNS``, ``DISTRIBUTION_COLUMNS`` (one row per subset, pair, source
        self|judged and level 1-5, unused levels with count 0) and ``GAP_COLUMNS``.
    """
    correlations, distributions, gaps = [], [], []
    high = list(high_levels)
    for subset in subsets:
        part = _subset(data, subset)
        for pair in pairs:
            rating, judged = pair.self_rating, pair.judged
            complete = part.dropna(subset=[rating])
            n_left_out = int(len(part) - len(complete))
            self_values = complete[rating].to_numpy(dtype=float)
            judged_values = complete[judged].to_numpy(dtype=float)
            key = {"subset": subset, "self_rating": rating, "judged": judged}
            clusters = complete["participant_id"].to_numpy()
            correlations.append({
                **key, **pearson_row(self_values, judged_values, alpha), "n_left_out": n_left_out,
                **cluster_bootstrap_pearson_ci(self_values, judged_values, clusters, bootstrap_resamples, seed, alpha),
            })
            scale = composite_range(composite) if judged == composite.name else None
            self_levels = complete[rating].astype("int64")
            judged_level = judged_levels(complete[judged], scale)
            for source, levels in (("self", self_levels), ("judged", judged_level)):
                counts = levels.value_counts().reindex(LEVELS, fill_value=0)
                total = int(counts.sum())
                distributions.append(
                    pd.DataFrame(
                        {**key, "source": source, "level": list(LEVELS), "count": counts.to_numpy(dtype="int64"),
                         "share": counts.to_numpy(dtype=float) / total if total else np.nan}
                    )
                )
            self_high = self_levels.isin(high).to_numpy()
            judged_high = judged_level.isin(high).to_numpy()
            n = int(len(complete))
            gaps.append(
                {
                    **key, "n": n, "n_self_high": int(self_high.sum()), "n_judged_high": int(judged_high.sum()),
                    "share_self_high": self_high.mean() if n else np.nan,
                    "share_judged_high": judged_high.mean() if n else np.nan,
                    "difference": (self_high.mean() - judged_high.mean()) if n else np.nan,
                    **paired_high_test(self_high, judged_high, paired_test), "n_left_out": n_left_out,
                    **clustered_mcnemar(self_high, judged_high, clusters),
                }
            )
    return (
        pd.DataFrame(correlations, columns=SELF_JUDGED_COLUMNS),
        pd.concat(distributions, ignore_index=True)[DISTRIBUTION_COLUMNS],
        pd.DataFrame(gaps, columns=GAP_COLUMNS),
    )


def silent_empathy_analysis(
    participants: pd.DataFrame,
    conversations: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    outcome: str,
    traits: Sequence[Trait],
    self_vs_judged: Sequence[SelfJudgedPair],
    subsets: Sequence[str],
    high_levels: Sequence[int],
    paired_test: str,
    alpha: float,
    composite: Composite,
    bootstrap_resamples: int = 2000,
    bootstrap_seed: int = 20260305,
    correlation: str = "pearson",
    judged_levels_rule: str = "linear_round",
    cluster_paired_test: str = "obuchowski",
) -> SilentEmpathyResults:
    """Run the registered silent-empathy analysis.

    Parameters
    ----------
    participants, conversations : pandas.DataFrame
        Validated native tables (trait items and self-ratings are optional columns).
    outcomes : pandas.DataFrame
        Analysed conversations (``conversation_scores.csv``).
    outcome : str
        Registered ``outcome``: the participant's mean of it is correlated with the traits.
    traits : sequence of Trait
        Registered ``traits``.
    self_vs_judged : sequence of SelfJudgedPair
        Registered ``self_vs_judged``.
    subsets : sequence of {"all", "first"}
        Registered ``subsets``: the conversations the self-versus-judged comparisons use.
    high_levels : sequence of int
        Registered ``high_levels``: levels of the 1-5 scale counted as a high rating.
    paired_test : {"mcnemar", "paired_ttest"}
        Registered ``paired_test`` (see :func:`paired_high_test`).
    alpha : float
        Two-sided level; CIs are ``1 - alpha``.
    composite : Composite
        ``outcomes.composite`` of the registered plan (its range maps it onto 1-5).
    bootstrap_resamples : int
        Registered ``cluster_inference.bootstrap_resamples``.
    bootstrap_seed : int
        Registered ``cluster_inference.seed``.
    correlation : {"pearson"}
        Registered ``correlation``; the only one implemented.
    judged_levels_rule : {"linear_round"}
        Registered ``judged_levels``; the only mapping implemented (see :func:`judged_levels`).
    cluster_paired_test : {"obuchowski"}
        Registered ``cluster_inference.paired_test``; the only one implemented (:func:`clustered_mcnemar`).

    Returns
    -------
    SilentEmpathyResults

    Raises
    ------
    ConfigError
        When a fixed option (correlation, judged levels, clustered paired test) is registered with
        another value than the implemented one.
    """
    require_implemented("silent_empathy.correlation", correlation, "pearson")
    require_implemented("silent_empathy.judged_levels", judged_levels_rule, "linear_round")
    require_implemented("silent_empathy.cluster_inference.paired_test", cluster_paired_test, "obuchowski")
    alpha = float(alpha)
    correlations, levels, table, trait_left = trait_analysis(participants, outcomes, traits, outcome, alpha)
    data, self_left = self_rated_conversations(outcomes, conversations, self_vs_judged)
    resamples = int(bootstrap_resamples)
    seed = int(bootstrap_seed)
    self_judged, distributions, gap = self_judged_analysis(
        data, self_vs_judged, subsets, composite, high_levels, paired_test, alpha, bootstrap_resamples=resamples, seed=seed,
    )
    left_out = pd.concat([trait_left, self_left], ignore_index=True)[LEFT_OUT_COLUMNS]
    execution = {
        "estimator": "pearson",
        "outcomes": [outcome, *dict.fromkeys(pair.judged for pair in self_vs_judged)],
        "terms": [],
        "alpha": alpha,
        "seed": seed,
        "sample": {
            "n_participants": int(len(table)),
            "n_conversations": int(len(outcomes)),
            **{f"n_{row.trait}": int(row.n) for row in correlations.itertuples()},
            "n_left_out_records": int(len(left_out)),
        },
        "details": {
            "traits": {trait.name: list(trait.items) for trait in traits},
            "trait_score": "sum of items; a participant missing any item is left out of that trait",
            "participant_outcome": f"mean {outcome} over the participant's analysed conversations",
            "correlation": "scipy.stats.pearsonr (Fisher-z CI)",
            "self_vs_judged": [{"self_rating": pair.self_rating, "judged": pair.judged} for pair in self_vs_judged],
            "subsets": list(subsets),
            "judged_levels": judged_levels_rule,
            "composite_range": list(composite_range(composite)),
            "high_levels": list(high_levels),
            "paired_test": (
                "pingouin.chi2_mcnemar (continuity-corrected chi2; exact binomial p)"
                if paired_test == "mcnemar" else "pingouin.ttest(paired=True) of 0/1 indicators"
            ),
            "cluster_inference": {
                "bootstrap": f"participant-cluster bootstrap percentile CI of r, {resamples} resamples, numpy default_rng({seed})",
                "paired_test": "clustered McNemar (Obuchowski 1998), chi-square 1 df, clusters = participants",
            },
        },
    }
    return SilentEmpathyResults(
        trait_correlations=correlations, trait_levels=levels, participants=table, self_judged=self_judged,
        distributions=distributions, high_rating_gap=gap, left_out=left_out, execution=execution,
    )


def read_participant_traits(path) -> pd.DataFrame:
    """Read ``participants.csv`` of the silent-empathy outputs with IDs as text."""
    return pd.read_csv(path, dtype={"participant_id": "str", "arm": "str"}, keep_default_na=False, na_values=[""])
