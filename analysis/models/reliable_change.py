"""Reliability of the composite and each participant's reliable change, as in the paper.

Reliability
-----------
A random-intercept model of the composite in the reference (control) arm,
``overall_empathy ~ post + (1 | participant_id)`` by REML (the registered
fixed terms; fitted with :func:`analysis.models.mixed.fit_mixed_model`), gives the
between-person variance ``sigma2_u`` and the residual variance ``sigma2_e``.
Then

* single-measurement reliability ``r1 = sigma2_u / (sigma2_u + sigma2_e)``;
* two-measurement reliability ``r2 = sigma2_u / (sigma2_u + sigma2_e / 2)``;
* standard error of a change score
  ``SE_d = sqrt(sigma2_e * (1 / n_baseline + 1 / n_post))``, which for the
  registered design (one baseline and two post conversations) is
  ``sqrt(3/2 * sigma2_e)``.

Reliable change
---------------
Each participant's change ``d = mean(post conversations) - mean(baseline
conversations)`` (registered design: ``mean(conversations 2, 3) -
conversation 1``) is ``improved`` if ``d > z * SE_d``, ``worsened`` if
``d < -z * SE_d`` and ``no_reliable_change`` otherwise, with the registered
critical value ``z`` (1.96). A participant without every registered
conversation has no comparable ``d`` (its SE would differ) and is left out,
listed with the reason.

Degenerate input
----------------
An outcome that is the same in every conversation of the reliability arm,
or that varies only between participants and by the fixed terms (a residual
variance, hence ``SE_d``, of 0), is refused with an
:class:`~analysis.errors.AnalysisError` naming the outcome and the reason.
An arm with no participant left gets ``n = 0`` and empty shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.models.mixed import Optimizer, fit_mixed_model, fixed_effects_design, model_formula

__all__ = [
    "IMPROVED", "NO_CHANGE", "WORSENED", "CLASSIFICATIONS", "RELIABILITY_COLUMNS", "PARTICIPANT_COLUMNS", "EXCLUDED_COLUMNS",
    "RESPONDER_COLUMNS", "Reliability", "ReliableChangeResults", "baseline_conversations", "participant_change",
    "responder_summary", "within_residual_sum_of_squares", "check_reliability_estimable", "reliable_change_analysis", "load_published_reliable_change",
    "compare_with_published",
]

IMPROVED = "improved"
NO_CHANGE = "no_reliable_change"
WORSENED = "worsened"
CLASSIFICATIONS = (IMPROVED, NO_CHANGE, WORSENED)

RELIABILITY_COLUMNS = [
    "outcome", "arm", "model", "n_obs", "n_participants", "sigma2_u", "sigma2_e", "r1", "r2", "n_baseline", "n_post",
    "se_d", "critical_value", "threshold", "optimizer", "log_likelihood",
]
PARTICIPANT_COLUMNS = ["participant_id", "arm", "baseline", "post_mean", "d", "classification"]
EXCLUDED_COLUMNS = ["participant_id", "arm", "reason"]
RESPONDER_COLUMNS = [
    "arm", "n", "n_improved", "n_no_change", "n_worsened", "share_improved", "share_no_change", "share_worsened",
    "mean_d", "sd_d", "n_excluded",
]


@dataclass(frozen=True)
class Reliability:
    """Variance components of the reliability model and what follows from them."""

    sigma2_u: float
    sigma2_e: float
    n_baseline: int
    n_post: int

    @property
    def r1(self) -> float:
        """Single-measurement reliability ``sigma2_u / (sigma2_u + sigma2_e)``."""
        return self.sigma2_u / (self.sigma2_u + self.sigma2_e)

    @property
    def r2(self) -> float:
        """Two-measurement reliability ``sigma2_u / (sigma2_u + sigma2_e / 2)``."""
        return self.sigma2_u / (self.sigma2_u + self.sigma2_e / 2)

    @property
    def se_d(self) -> float:
        """Standard error of a change score, ``sqrt(sigma2_e (1/n_baseline + 1/n_post))``."""
        return float(np.sqrt(self.sigma2_e * (1 / self.n_baseline + 1 / self.n_post)))


@dataclass(frozen=True)
class ReliableChangeResults:
    """Tables of the reliable-change analysis (columns: the ``*_COLUMNS`` lists) and its execution."""

    reliability: pd.DataFrame
    responders: pd.DataFrame
    participants: pd.DataFrame
    excluded: pd.DataFrame
    execution: dict


def baseline_conversations(conversations_per_participant: int, post_conversations: Sequence[int]) -> list[int]:
    """The conversation numbers that are not post-training (registered design: ``[1]``)."""
    baseline = [number for number in range(1, conversations_per_participant + 1) if number not in set(post_conversations)]
    if not baseline:
        raise AnalysisError("every conversation is registered as post-training; a change score needs a baseline conversation")
    return baseline


def participant_change(
    data: pd.DataFrame,
    outcome: str,
    baseline: Sequence[int],
    post: Sequence[int],
    se_d: float,
    critical_value: float = 1.96,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each participant's change score and its reliable-change classification.

    Parameters
    ----------
    data : pandas.DataFrame
        Conversations with participant_id, arm, conversation_number and ``outcome``.
    outcome : str
        The score (registered: the composite).
    baseline, post : sequence of int
        Conversation numbers averaged for the baseline and the post score.
    se_d : float
        Standard error of a change score.
    critical_value : float
        ``z``: reliable change means ``|d| > z * se_d``.

    Returns
    -------
    participants : pandas.DataFrame
        ``PARTICIPANT_COLUMNS``: baseline (mean of the baseline
        conversations), post_mean, ``d = post_mean - baseline`` and
        classification (improved, no_reliable_change, worsened); sorted by
        participant_id.
    excluded : pandas.DataFrame
        ``EXCLUDED_COLUMNS``: participants without every registered
        conversation (or with a missing score), with the reason.

    Raises
    ------
    AnalysisError
        When a participant has two rows for one conversation number.
    """
    duplicated = data.duplicated(["participant_id", "conversation_number"])
    if duplicated.any():
        first = data.loc[duplicated].iloc[0]
        raise AnalysisError(
            f"participant {first['participant_id']} has more than one row for conversation {first['conversation_number']}"
        )
    numbers = [*baseline, *post]
    wide = data.pivot(index="participant_id", columns="conversation_number", values=outcome).reindex(columns=numbers)
    arms = data.drop_duplicates("participant_id").set_index("participant_id")["arm"].reindex(wide.index)
    missing = wide.isna()
    incomplete = missing.any(axis=1)
    gaps = missing.loc[incomplete]
    reasons = "no score for conversation(s) " + gaps.dot(pd.Index([f"{number}, " for number in gaps.columns])).str.rstrip(", ")
    excluded = pd.DataFrame(
        {"participant_id": reasons.index, "arm": arms.loc[reasons.index].to_numpy(), "reason": reasons.to_numpy()},
        columns=EXCLUDED_COLUMNS,
    )
    complete = wide.loc[~incomplete]
    baseline_score = complete[list(baseline)].mean(axis=1)
    post_score = complete[list(post)].mean(axis=1)
    change = post_score - baseline_score
    threshold = critical_value * se_d
    classification = np.select([change > threshold, change < -threshold], [IMPROVED, WORSENED], default=NO_CHANGE)
    participants = pd.DataFrame(
        {
            "participant_id": complete.index,
            "arm": arms.loc[complete.index].to_numpy(),
            "baseline": baseline_score.to_numpy(),
            "post_mean": post_score.to_numpy(),
            "d": change.to_numpy(),
            "classification": classification,
        },
        columns=PARTICIPANT_COLUMNS,
    )
    return participants.reset_index(drop=True), excluded.reset_index(drop=True)


def responder_summary(participants: pd.DataFrame, excluded: pd.DataFrame, arms: Sequence[str]) -> pd.DataFrame:
    """Per arm: N, counts and shares of improved / no reliable change / worsened, mean and SD of d.

    Parameters
    ----------
    participants : pandas.DataFrame
        Output of :func:`participant_change`.
    excluded : pandas.DataFrame
        Participants left out, counted per arm in ``n_excluded``.
    arms : sequence of str
        Arms in output order (an arm without participants gets n = 0 and
        empty shares).

    Returns
    -------
    pandas.DataFrame
        ``RESPONDER_COLUMNS``; shares are fractions of ``n`` (0-1), ``sd_d``
        the sample SD (``ddof=1``).
    """
    counts = pd.crosstab(participants["arm"], participants["classification"]).reindex(
        index=list(arms), columns=list(CLASSIFICATIONS), fill_value=0
    )
    counts = counts.fillna(0).astype("int64")
    n = counts.sum(axis=1)
    change = participants.groupby("arm")["d"].agg(mean_d="mean", sd_d="std").reindex(list(arms))
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = counts.div(n.where(n > 0), axis=0)
    summary = pd.DataFrame(
        {
            "arm": list(arms),
            "n": n.to_numpy(),
            "n_improved": counts[IMPROVED].to_numpy(),
            "n_no_change": counts[NO_CHANGE].to_numpy(),
            "n_worsened": counts[WORSENED].to_numpy(),
            "share_improved": shares[IMPROVED].to_numpy(),
            "share_no_change": shares[NO_CHANGE].to_numpy(),
            "share_worsened": shares[WORSENED].to_numpy(),
            "mean_d": change["mean_d"].to_numpy(),
            "sd_d": change["sd_d"].to_numpy(),
            "n_excluded": excluded["arm"].value_counts().reindex(list(arms), fill_value=0).to_numpy(),
        }
    )
    return summary[RESPONDER_COLUMNS]


def within_residual_sum_of_squares(y: np.ndarray, fixed: np.ndarray, groups: np.ndarray) -> float:
    """Residual sum of squares of ``y`` on one intercept per group and the columns of ``fixed``.

    Parameters
    ----------
    y : numpy.ndarray
        Outcome, one value per row.
    fixed : numpy.ndarray
        ``(rows, k)`` further regressors (``k`` may be 0), without an intercept.
    groups : numpy.ndarray
        Group of each row.

    Returns
    -------
    float
        The residual sum of squares of the least-squares fit.

    Notes
    -----
    By the Frisch-Waugh-Lovell theorem this is the residual sum of squares of the group-demeaned
    ``y`` on the group-demeaned ``fixed``, so no rows x groups dummy matrix is built: time and
    memory are linear in the rows (the dummy regression is cubic in the groups).
    """
    codes = pd.factorize(pd.Series(groups))[0]
    sizes = np.bincount(codes)

    def demeaned(values: np.ndarray) -> np.ndarray:
        return values - (np.bincount(codes, weights=values, minlength=len(sizes)) / sizes)[codes]

    y_within = demeaned(np.asarray(y, dtype=float))
    fixed = np.asarray(fixed, dtype=float).reshape(len(y_within), -1)
    if fixed.shape[1]:
        x_within = np.column_stack([demeaned(column) for column in fixed.T])
        y_within = y_within - x_within @ np.linalg.lstsq(x_within, y_within, rcond=None)[0]
    return float(np.sum(y_within**2))


def check_reliability_estimable(
    values: pd.Series, exog: pd.DataFrame, groups: pd.Series, outcome: str, reliability_arm: str
) -> None:
    """Refuse degenerate data for the reliability model with the outcome and the reason.

    Parameters
    ----------
    values : pandas.Series
        The outcome in the reliability arm.
    exog : pandas.DataFrame
        The model's fixed-effect design (same rows).
    groups : pandas.Series
        Participant of each row.
    outcome, reliability_arm : str
        Named in the message.

    Raises
    ------
    AnalysisError
        When the outcome is the same in every conversation of the arm (both variance components
        are 0: r1 and r2 are 0/0), or the participants and the fixed terms explain it exactly (no
        residual variation: ``sigma2_e`` and ``SE_d`` are 0 and every non-zero change would be
        "reliable"). The mixed model would otherwise fail with an optimizer message, or return a
        zero SE_d, that does not say what is wrong with the data.
    """
    y = values.to_numpy(dtype=float)
    if len(y) == 0 or np.ptp(y) <= 1e-12 * max(1.0, float(np.abs(y).max())):
        shown = f" ({y[0]:g})" if len(y) else ""
        raise AnalysisError(
            f"outcome '{outcome}': reliability not estimable, every conversation in arm '{reliability_arm}' has the same "
            f"score{shown}: its SD is 0, so r1, r2 and SE_d are undefined"
        )
    fixed = exog.drop(columns=["intercept"], errors="ignore").to_numpy(dtype=float)
    residual = within_residual_sum_of_squares(y, fixed, groups.to_numpy())
    if residual <= 1e-12 * max(1.0, float(np.sum((y - y.mean()) ** 2))):
        raise AnalysisError(
            f"outcome '{outcome}': reliable change not estimable, in arm '{reliability_arm}' each participant's "
            "conversations differ only by the fixed terms (no within-participant variation): the residual variance and "
            "SE_d are 0, so every non-zero change would count as reliable"
        )


def reliable_change_analysis(
    data: pd.DataFrame,
    arms: Sequence[str],
    reliability_arm: str,
    optimizers: Sequence[Mapping | Optimizer],
    conversations_per_participant: int,
    post_conversations: Sequence[int],
    outcome: str = "overall_empathy",
    terms: Sequence[str] = ("post",),
    critical_value: float = 1.96,
    group: str = "participant_id",
) -> ReliableChangeResults:
    """The paper's reliability and reliable-change analysis.

    Parameters
    ----------
    data : pandas.DataFrame
        Conversation-level outcomes (see :func:`analysis.cohorts.outcomes.derive_outcomes`).
    arms : sequence of str
        Registered arms (output order).
    reliability_arm : str
        The arm whose conversations give the variance components (control).
    optimizers : sequence of mapping or Optimizer
        Registered optimizer attempts (``mixed_models.optimizers``).
    conversations_per_participant : int
        Registered number of conversations.
    post_conversations : sequence of int
        Registered post-training conversation numbers; the others are baseline.
    outcome : str
        The score analysed (registered: ``overall_empathy``).
    terms : sequence of str
        Fixed terms of the reliability model (registered: ``[post]``).
    critical_value : float
        ``z`` of the reliable-change criterion.
    group : str
        Participant column.

    Returns
    -------
    ReliableChangeResults
        ``reliability`` (one row: the model, sample, sigma2_u, sigma2_e, r1,
        r2, SE_d, critical value, threshold ``z * SE_d``, optimizer and REML
        log-likelihood), ``responders`` (per arm), ``participants`` (per
        participant) and ``excluded`` (participants left out and why).

    Raises
    ------
    AnalysisError
        When the reliability arm has no conversations, the outcome has
        missing values in it, the reliability model is not estimable
        (:func:`check_reliability_estimable`), or its model does not converge.
    """
    optimizers = [entry if isinstance(entry, Optimizer) else Optimizer.from_plan(entry) for entry in optimizers]
    if outcome not in data.columns:
        raise AnalysisError(f"conversation scores lack the reliable-change outcome column '{outcome}'")
    reference = data[data["arm"] == reliability_arm]
    if reference.empty:
        raise AnalysisError(f"no conversations in the reliability arm '{reliability_arm}'")
    missing = reference[outcome].isna()
    if missing.any():
        raise AnalysisError(f"outcome '{outcome}' has {int(missing.sum())} missing value(s) in arm '{reliability_arm}'")
    exog = fixed_effects_design(reference, terms, [reliability_arm], reliability_arm)
    check_reliability_estimable(reference[outcome], exog, reference[group], outcome, reliability_arm)
    fit = fit_mixed_model(reference[outcome], exog, reference[group], optimizers, f"{outcome} in arm {reliability_arm} (reliability)")
    baseline = baseline_conversations(conversations_per_participant, post_conversations)
    components = Reliability(fit.participant_variance, fit.residual_variance, len(baseline), len(post_conversations))
    if not np.isfinite(components.se_d) or components.se_d <= 0:
        # a zero SE_d would call every non-zero change reliable; refuse rather than classify
        raise AnalysisError(
            f"outcome '{outcome}': reliable change not estimable, the residual variance in arm '{reliability_arm}' is "
            f"{components.sigma2_e:g}, so SE_d is {components.se_d:g}"
        )
    participants, excluded = participant_change(data, outcome, baseline, post_conversations, components.se_d, critical_value)
    formula = model_formula(terms, group).replace("score", outcome, 1)
    reliability = pd.DataFrame(
        [
            {
                "outcome": outcome,
                "arm": reliability_arm,
                "model": formula,
                "n_obs": int(len(reference)),
                "n_participants": int(reference[group].nunique()),
                "sigma2_u": components.sigma2_u,
                "sigma2_e": components.sigma2_e,
                "r1": components.r1,
                "r2": components.r2,
                "n_baseline": components.n_baseline,
                "n_post": components.n_post,
                "se_d": components.se_d,
                "critical_value": float(critical_value),
                "threshold": critical_value * components.se_d,
                "optimizer": fit.optimizer,
                "log_likelihood": fit.log_likelihood,
            }
        ],
        columns=RELIABILITY_COLUMNS,
    )
    execution = {
        "estimator": "mixedlm_reml",
        "outcomes": [outcome],
        "terms": list(exog.columns),
        "reference_arm": reliability_arm,
        "covariance": None,
        "sample": {
            "unit": "participant",
            "subset": f"participants with every registered conversation; reliability model: arm {reliability_arm}",
            "n_participants": int(len(participants)),
            "n_participants_excluded": int(len(excluded)),
            "n_obs_reliability": int(len(reference)),
            "n_participants_reliability": int(reference[group].nunique()),
        },
        "diagnostics": {"converged": True, "optimizer": fit.optimizer, "attempts": fit.attempts, "warnings": fit.warnings},
        "details": {
            "reliability_model": formula,
            "reliability_arm": reliability_arm,
            "baseline_conversations": baseline,
            "post_conversations": list(post_conversations),
            "critical_value": float(critical_value),
            "optimizers": [optimizer.describe() for optimizer in optimizers],
        },
    }
    return ReliableChangeResults(
        reliability=reliability,
        responders=responder_summary(participants, excluded, arms),
        participants=participants,
        excluded=excluded,
        execution=execution,
    )


def load_published_reliable_change() -> pd.DataFrame:
    """The published reliability and reliable-change values (``analysis/reference/published_reliable_change.csv``).

    Returns
    -------
    pandas.DataFrame
        Columns quantity (r1, r2, se_d, mean_d, sd_d, share_improved,
        share_worsened), arm (empty for the reliability quantities), value
        and source.
    """
    path = resources.files("analysis") / "reference" / "published_reliable_change.csv"
    with resources.as_file(path) as file:
        return pd.read_csv(file, dtype={"quantity": str, "arm": str}, keep_default_na=False, na_values={"value": [""]})


def compare_with_published(results: ReliableChangeResults, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """The published values beside this cohort's, for orientation.

    Returns
    -------
    pandas.DataFrame
        Columns quantity, arm, published, achieved and difference
        (achieved - published), one row per published value.
    """
    published = load_published_reliable_change() if published is None else published
    reliability = results.reliability.iloc[0]
    responders = results.responders.set_index("arm")
    achieved = [
        float(reliability[row.quantity]) if row.arm == "" else float(responders.loc[row.arm, row.quantity])
        for row in published.itertuples(index=False)
    ]
    table = published[["quantity", "arm"]].assign(published=published["value"].to_numpy(), achieved=achieved)
    table["difference"] = table["achieved"] - table["published"]
    return table.reset_index(drop=True)
