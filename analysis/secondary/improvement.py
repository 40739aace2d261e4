"""Standardized improvement and who benefits (secondary, exploratory).

Per participant, the improvement is the mean outcome (default the composite) of the post-training
conversations minus the baseline conversation, divided by a registered standardiser: the SD of the
improvement in the reference arm (``control_change_sd``) or over all participants
(``all_change_sd``). Then, all with HC3 standard errors (statsmodels):

* ``improvement_sd ~ arm`` and ``improvement_sd ~ arm + baseline`` (the baseline outcome
  standardised over participants, or raw, as registered);
* moderation: ``improvement_sd ~ arm * sex`` (registered sex levels) and ``improvement_sd ~ arm *
  age`` (age centred at the sample mean, per ``age_unit`` years), with a Wald test of the
  interaction terms;
* baseline heterogeneity: the baseline composite by sex, by age and by trouble type (workplace or
  personal, of the baseline conversation), and each dimension by trouble type.

Participants left out of a model (no baseline or post conversation analysed; sex missing or not a
registered level; age missing) are listed with the reason.

Degenerate input: a registered standardiser of 0 or undefined (every participant of its sample has
the same improvement, or fewer than two) and a baseline without variation are refused with an
:class:`~analysis.errors.AnalysisError` naming the outcome, since every SD-unit effect would be
infinite and the baseline models are not identified. A baseline heterogeneity model whose outcome
does not vary (or is unscored) in its sample gets a documented ``not estimable`` row instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.constants import TROUBLE_TYPES
from analysis.errors import AnalysisError, ConfigError, require_implemented
from analysis.models.tidy import mean_intervals, model_coefficients
from analysis.runtime.lazy_imports import lazy_module

__all__ = [
    "PARTICIPANT_COLUMNS", "STANDARDISER_COLUMNS", "ARM_SUMMARY_COLUMNS", "COEFFICIENT_COLUMNS", "WALD_COLUMNS",
    "HETEROGENEITY_COLUMNS", "GROUP_MEAN_COLUMNS", "LEFT_OUT_COLUMNS", "ImprovementResults", "participant_improvement",
    "change_standardisers", "arm_summary", "fit_hc3", "coefficient_rows", "wald_row", "arm_columns", "moderation_models",
    "baseline_heterogeneity", "improvement_analysis",
]

linear_model = lazy_module("statsmodels.regression.linear_model")

PARTICIPANT_COLUMNS = [
    "participant_id", "arm", "sex", "age", "baseline_trouble_type", "n_baseline", "n_post", "baseline", "post_mean",
    "improvement", "improvement_sd",
]
STANDARDISER_COLUMNS = ["standardiser", "sd", "n", "registered"]
ARM_SUMMARY_COLUMNS = ["arm", "n", "mean", "sd", "ci_low", "ci_high", "mean_raw"]
COEFFICIENT_COLUMNS = [
    "model", "term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high", "n_obs", "r2",
]
WALD_COLUMNS = ["model", "terms", "statistic", "df", "p_value", "n_obs"]
HETEROGENEITY_COLUMNS = [
    "outcome", "factor", "term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high", "n_obs", "note",
]
GROUP_MEAN_COLUMNS = ["outcome", "factor", "level", "n", "mean", "sd"]
LEFT_OUT_COLUMNS = ["analysis", "participant_id", "reason"]


@dataclass(frozen=True)
class ImprovementResults:
    """Tables of the improvement analysis (columns: the ``*_COLUMNS`` lists of this module).

    ``coefficients`` holds the arm models (``arm``, ``arm_baseline``) and the moderation models
    (``arm_x_sex``, ``arm_x_age``); ``wald`` the joint tests of the moderation terms.
    ``execution`` describes what was run, for the spec record.
    """

    participants: pd.DataFrame
    standardisers: pd.DataFrame
    arm_summary: pd.DataFrame
    coefficients: pd.DataFrame
    wald: pd.DataFrame
    heterogeneity: pd.DataFrame
    group_means: pd.DataFrame
    left_out: pd.DataFrame
    execution: dict


def _left(analysis: str, ids, reason) -> pd.DataFrame:
    ids = np.asarray(ids, dtype=object)
    return pd.DataFrame({"analysis": analysis, "participant_id": ids, "reason": reason})


def participant_improvement(
    outcomes: pd.DataFrame, participants: pd.DataFrame, outcome: str, post_conversations: Sequence[int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each participant's baseline, post mean and raw improvement.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        Analysed conversations (``conversation_scores.csv``).
    participants : pandas.DataFrame
        Validated participants (``sex`` and ``age`` optional).
    outcome : str
        Outcome column.
    post_conversations : sequence of int
        conversation_number values after training; the others are baseline.

    Returns
    -------
    table : pandas.DataFrame
        ``PARTICIPANT_COLUMNS`` without ``improvement_sd``; one row per participant with both a
        baseline and a post conversation, sorted by participant_id.
    left_out : pandas.DataFrame
        Participants with analysed conversations but no baseline or no post conversation.

    Raises
    ------
    AnalysisError
        When the outcome is missing or a participant has several baseline conversations (the
        baseline trouble type would be ambiguous).
    """
    if outcome not in outcomes:
        raise AnalysisError(f"conversation_scores.csv has no column '{outcome}' (registered improvement.outcome)")
    post = outcomes["conversation_number"].isin(list(post_conversations))
    baseline_rows = outcomes[~post]
    if baseline_rows["participant_id"].duplicated().any():
        first = baseline_rows.loc[baseline_rows["participant_id"].duplicated(), "participant_id"].iloc[0]
        raise AnalysisError(
            f"participant {first} has several baseline conversations; the improvement analysis needs exactly one "
            "baseline conversation (design.post_conversations lists all others)"
        )
    baseline = baseline_rows.set_index("participant_id")
    post_groups = outcomes[post].groupby("participant_id")[outcome]
    everyone = pd.Index(sorted(outcomes["participant_id"].unique()), name="participant_id")
    table = pd.DataFrame(index=everyone)
    table["arm"] = outcomes.groupby("participant_id")["arm"].first()
    table["baseline_trouble_type"] = baseline["trouble_type"]
    table["n_baseline"] = baseline[outcome].notna().astype("int64").reindex(everyone, fill_value=0)
    table["n_post"] = post_groups.count().reindex(everyone, fill_value=0).astype("int64")
    table["baseline"] = baseline[outcome]
    table["post_mean"] = post_groups.mean()
    table = table.reset_index()
    no_baseline = table["n_baseline"] == 0
    no_post = table["n_post"] == 0
    left_out = pd.concat(
        [
            _left("improvement", table.loc[no_baseline, "participant_id"], "no baseline conversation analysed"),
            _left("improvement", table.loc[~no_baseline & no_post, "participant_id"], "no post-training conversation analysed"),
        ],
        ignore_index=True,
    )
    table = table[~no_baseline & ~no_post].copy()
    table["improvement"] = table["post_mean"] - table["baseline"]
    extra = participants.reindex(columns=["participant_id", "sex", "age"])
    table = table.merge(extra, on="participant_id", how="left", validate="one_to_one")
    table["age"] = pd.to_numeric(table["age"], errors="coerce")
    return table[[column for column in PARTICIPANT_COLUMNS if column != "improvement_sd"]].reset_index(drop=True), left_out


def _no_spread(values: np.ndarray) -> bool:
    """Whether finite values are all equal up to rounding (an SD of 0 in all but floating-point noise).

    A mean of equal scores can differ from them in the last bits, giving an SD of about 1e-16
    instead of 0; dividing by it would give huge effects instead of infinite ones, equally wrong.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return True
    return bool(np.ptp(values) <= 1e-12 * max(1.0, float(np.max(np.abs(values)))))


def change_standardisers(table: pd.DataFrame, reference_arm: str, registered: str, outcome: str = "the outcome") -> pd.DataFrame:
    """The two candidate SDs of the raw improvement (``ddof=1``) and which one is registered.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`participant_improvement` rows (arm, improvement).
    reference_arm : str
        The arm of ``control_change_sd``.
    registered : {"control_change_sd", "all_change_sd"}
        The registered standardiser.
    outcome : str
        The outcome's name, for the error message.

    Returns
    -------
    pandas.DataFrame
        ``STANDARDISER_COLUMNS``. The standardiser that is not registered is reported as computed
        (NaN with fewer than two participants, possibly 0); nothing is divided by it.

    Raises
    ------
    AnalysisError
        When the registered SD is undefined or zero (fewer than two participants, or every
        participant has the same improvement): every SD-unit effect would be infinite or NaN.
    """
    control = table.loc[table["arm"] == reference_arm, "improvement"]
    rows = [
        {"standardiser": "control_change_sd", "sd": float(control.std(ddof=1)) if len(control) > 1 else np.nan, "n": int(len(control))},
        {"standardiser": "all_change_sd", "sd": float(table["improvement"].std(ddof=1)) if len(table) > 1 else np.nan, "n": int(len(table))},
    ]
    frame = pd.DataFrame(rows)
    frame["registered"] = frame["standardiser"] == registered
    if registered not in set(frame["standardiser"]):
        raise AnalysisError(f"unknown improvement.standardiser '{registered}' (expected control_change_sd or all_change_sd)")
    chosen = frame.loc[frame["registered"]].iloc[0]
    values = control if registered == "control_change_sd" else table["improvement"]
    if not np.isfinite(chosen["sd"]) or chosen["sd"] <= 0 or _no_spread(values.to_numpy(dtype=float)):
        raise AnalysisError(
            f"improvement of '{outcome}': not estimable, the registered standardiser {registered} is {chosen['sd']:g} "
            f"(n = {int(chosen['n'])}): it needs at least two participants with different improvements, "
            "otherwise every effect in SD units is infinite"
        )
    return frame[STANDARDISER_COLUMNS]


def arm_summary(table: pd.DataFrame, arms: Sequence[str], alpha: float) -> pd.DataFrame:
    """Mean standardized improvement per arm with a t-based ``1 - alpha`` CI (NaN when n < 2)."""
    grouped = table.groupby("arm")
    summary = pd.DataFrame(
        {
            "n": grouped["improvement_sd"].count(),
            "mean": grouped["improvement_sd"].mean(),
            "sd": grouped["improvement_sd"].std(ddof=1),
            "mean_raw": grouped["improvement"].mean(),
        }
    ).reindex([arm for arm in arms if arm in set(table["arm"])])
    summary = mean_intervals(summary, alpha=alpha)
    summary["n"] = summary["n"].astype("int64")
    return summary.rename_axis("arm").reset_index()[ARM_SUMMARY_COLUMNS]


def _dummies(values: pd.Series, levels: Sequence[str], prefix: str | None = None) -> dict[str, np.ndarray]:
    """One 0/1 column per non-reference level (the first level is the reference)."""
    return {(f"{prefix}[{level}]" if prefix else str(level)): (values == level).to_numpy(dtype=float) for level in levels[1:]}


def fit_hc3(y: np.ndarray, columns: Mapping[str, np.ndarray]):
    """OLS of ``y`` on the named design columns with HC3 covariance (statsmodels).

    Raises
    ------
    AnalysisError
        When a column is constant zero (its level has no participants) or the design is singular.
    """
    design = pd.DataFrame(dict(columns))
    empty = [name for name, column in design.items() if name != "intercept" and not np.any(column)]
    if empty:
        raise AnalysisError(f"no participants for term(s) {empty}; the model is not identified")
    if np.linalg.matrix_rank(design.to_numpy()) < design.shape[1]:
        raise AnalysisError(f"the design {list(design.columns)} is singular on these data")
    if len(y) <= design.shape[1]:
        raise AnalysisError(f"{len(y)} participants are too few for {design.shape[1]} coefficients")
    return linear_model.OLS(np.asarray(y, dtype=float), design).fit(cov_type="HC3")


def coefficient_rows(result, model: str, alpha: float) -> pd.DataFrame:
    """Tidy coefficients of a fitted model (``COEFFICIENT_COLUMNS``)."""
    return model_coefficients(result, alpha, model=model, r2=float(result.rsquared))[COEFFICIENT_COLUMNS]


def wald_row(result, model: str, terms: Sequence[str]) -> dict:
    """Joint Wald chi2 test (HC3 covariance) that the named coefficients are all zero."""
    names = list(result.params.index)
    restriction = np.zeros((len(terms), len(names)))
    for row, term in enumerate(terms):
        restriction[row, names.index(term)] = 1.0
    test = result.wald_test(restriction, scalar=True, use_f=False)
    return {"model": model, "terms": "+".join(terms), "statistic": float(test.statistic), "df": int(len(terms)),
            "p_value": float(test.pvalue), "n_obs": int(result.nobs)}


def arm_columns(table: pd.DataFrame, arms: Sequence[str], reference_arm: str) -> dict[str, np.ndarray]:
    """Intercept plus one dummy per non-reference arm, in registered order."""
    others = [arm for arm in arms if arm != reference_arm]
    return {"intercept": np.ones(len(table)), **_dummies(table["arm"], [reference_arm, *others])}


def moderation_models(
    table: pd.DataFrame, arms: Sequence[str], reference_arm: str, sex_levels: Sequence[str], age_unit: float, alpha: float
) -> tuple[list[pd.DataFrame], list[dict], pd.DataFrame, dict]:
    """``improvement_sd ~ arm * sex`` and ``improvement_sd ~ arm * age`` with HC3, and Wald tests.

    Returns coefficient tables, Wald rows, the participants left out (sex not a registered level or
    missing; age missing) and the sample sizes.
    """
    others = [arm for arm in arms if arm != reference_arm]
    coefficients, walds, left = [], [], []
    sex = table["sex"].astype("string")
    in_levels = sex.isin(list(sex_levels)).fillna(False).to_numpy(dtype=bool)
    missing_sex = sex.isna().to_numpy()
    left.append(_left("arm_x_sex", table.loc[missing_sex, "participant_id"], "sex is missing"))
    other_sex = ~in_levels & ~missing_sex
    left.append(_left("arm_x_sex", table.loc[other_sex, "participant_id"],
                      "sex '" + sex[other_sex].astype(str) + f"' is not a registered level {list(sex_levels)}"))
    part = table[in_levels]
    columns = arm_columns(part, arms, reference_arm)
    sex_columns = _dummies(part["sex"], list(sex_levels), prefix="sex")
    columns.update(sex_columns)
    interactions = []
    for arm in others:
        for name, column in sex_columns.items():
            columns[f"{arm}:{name}"] = columns[arm] * column
            interactions.append(f"{arm}:{name}")
    result = fit_hc3(part["improvement_sd"].to_numpy(), columns)
    coefficients.append(coefficient_rows(result, "arm_x_sex", alpha))
    walds.append(wald_row(result, "arm_x_sex", interactions))
    n_sex = int(result.nobs)

    has_age = table["age"].notna().to_numpy()
    left.append(_left("arm_x_age", table.loc[~has_age, "participant_id"], "age is missing"))
    part = table[has_age]
    age = (part["age"].to_numpy(dtype=float) - part["age"].mean()) / age_unit
    columns = arm_columns(part, arms, reference_arm)
    columns["age"] = age
    for arm in others:
        columns[f"{arm}:age"] = columns[arm] * age
    result = fit_hc3(part["improvement_sd"].to_numpy(), columns)
    coefficients.append(coefficient_rows(result, "arm_x_age", alpha))
    walds.append(wald_row(result, "arm_x_age", [f"{arm}:age" for arm in others]))
    sample = {"n_arm_x_sex": n_sex, "n_arm_x_age": int(result.nobs), "age_mean": float(part["age"].mean())}
    return coefficients, walds, pd.concat(left, ignore_index=True), sample


def baseline_heterogeneity(
    outcomes: pd.DataFrame,
    table: pd.DataFrame,
    dimensions: Sequence[str],
    outcome: str,
    post_conversations: Sequence[int],
    sex_levels: Sequence[str],
    age_unit: float,
    alpha: float,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Baseline outcome by sex, age and trouble type; each dimension by trouble type (HC3).

    The sample is the participants of the improvement analysis (``table``): their baseline
    conversation. Trouble types take the order of ``constants.TROUBLE_TYPES`` (workplace is the
    reference). Participants outside the registered sex levels or without age are left out of
    those two models (already listed by :func:`moderation_models`).

    Returns
    -------
    coefficients, group_means, left_out : pandas.DataFrame
        ``HETEROGENEITY_COLUMNS``, ``GROUP_MEAN_COLUMNS`` (categorical factors) and the
        participants left out of a factor's models.

    Notes
    -----
    An outcome without variation in a factor's sample (every baseline conversation has the same
    score), or with unscored baseline conversations, is not fitted: it gets one row with an empty
    ``term``, empty statistics and ``note`` saying ``not estimable`` and why. Fitted rows have an
    empty ``note``.
    """
    baseline = outcomes[~outcomes["conversation_number"].isin(list(post_conversations))]
    baseline = baseline[baseline["participant_id"].isin(table["participant_id"])]
    baseline = baseline.merge(table[["participant_id", "sex", "age"]], on="participant_id", how="left", validate="one_to_one")
    rows, means, left = [], [], []

    def add(part: pd.DataFrame, column: str, factor: str, design: dict) -> None:
        values = part[column].to_numpy(dtype=float)
        unscored = int((~np.isfinite(values)).sum())
        reason = ""
        if unscored:
            reason = f"not estimable: {unscored} baseline conversation(s) have no {column} score (a dimension never scored?)"
        elif len(values) < 2:
            reason = f"not estimable: {len(values)} baseline conversation(s) in the sample"
        elif _no_spread(values):
            # a constant outcome fits exactly: zero SEs and NaN tests would otherwise pass as results
            reason = (f"not estimable: every baseline conversation has the same {column} ({values[0]:g}), "
                      "so its SD is 0 and every test is undefined")
        if reason:
            # one documented row instead of a failed run: the arm models do not depend on this factor
            rows.append(pd.DataFrame([{"outcome": column, "factor": factor, "term": "", "n_obs": int(len(part)), "note": reason}]))
            return
        coefficients = coefficient_rows(fit_hc3(part[column].to_numpy(), design), "", alpha).drop(columns=["model", "r2"])
        coefficients.insert(0, "factor", factor)
        coefficients.insert(0, "outcome", column)
        coefficients["note"] = ""
        rows.append(coefficients)

    def add_means(part: pd.DataFrame, column: str, factor: str, levels: list) -> None:
        summary = part.groupby(factor)[column].agg(n="count", mean="mean", sd="std").reindex(levels)
        summary = summary.rename_axis("level").reset_index()
        summary.insert(0, "factor", factor)
        summary.insert(0, "outcome", column)
        means.append(summary)

    part = baseline[baseline["sex"].astype("string").isin(list(sex_levels)).fillna(False).to_numpy(dtype=bool)]
    add(part, outcome, "sex", {"intercept": np.ones(len(part)), **_dummies(part["sex"], list(sex_levels), prefix="sex")})
    add_means(part, outcome, "sex", list(sex_levels))

    part = baseline[baseline["age"].notna().to_numpy()]
    age = (part["age"].to_numpy(dtype=float) - part["age"].mean()) / age_unit
    add(part, outcome, "age", {"intercept": np.ones(len(part)), "age": age})

    types = [level for level in TROUBLE_TYPES if level in set(baseline["trouble_type"])]
    if len(types) < 2:
        left.append(_left("baseline_trouble_type", baseline["participant_id"], f"only one trouble type ({types}) among baseline conversations"))
    else:
        for column in [outcome, *dimensions]:
            add(baseline, column, "trouble_type",
                {"intercept": np.ones(len(baseline)), **_dummies(baseline["trouble_type"], types, prefix="trouble_type")})
            add_means(baseline, column, "trouble_type", types)
    group_means = pd.concat(means, ignore_index=True)
    group_means["n"] = group_means["n"].fillna(0).astype("int64")
    left_out = pd.concat(left, ignore_index=True) if left else pd.DataFrame(columns=LEFT_OUT_COLUMNS)
    return pd.concat(rows, ignore_index=True)[HETEROGENEITY_COLUMNS], group_means[GROUP_MEAN_COLUMNS], left_out


def improvement_analysis(
    outcomes: pd.DataFrame,
    participants: pd.DataFrame,
    *,
    outcome: str,
    standardiser: str,
    baseline_covariate: str,
    sex_levels: Sequence[str],
    age_unit: float,
    alpha: float,
    arms: Sequence[str],
    reference_arm: str,
    post_conversations: Sequence[int],
    dimensions: Sequence[str],
    covariance: str = "HC3",
) -> ImprovementResults:
    """Run the registered improvement analysis.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        Analysed conversations (``conversation_scores.csv``).
    participants : pandas.DataFrame
        Validated participants (sex, age).
    outcome : str
        Registered ``outcome``: the column of ``outcomes`` whose change is analysed.
    standardiser : {"control_change_sd", "all_change_sd"}
        Registered ``standardiser`` (see :func:`change_standardisers`).
    baseline_covariate : {"standardised", "raw"}
        Registered ``baseline_covariate``: the scale of the baseline term (see Notes).
    sex_levels : sequence of str
        Registered ``sex_levels`` (the first is the reference).
    age_unit : float
        Registered ``age_unit``: years per unit of the mean-centred age term.
    alpha : float
        Two-sided level; CIs are ``1 - alpha``.
    arms, reference_arm : sequence of str, str
        Registered arms and reference arm.
    post_conversations : sequence of int
        ``design.post_conversations``.
    dimensions : sequence of str
        Registered dimensions (baseline heterogeneity by trouble type).
    covariance : {"HC3"}
        Registered ``covariance``; the only one implemented.

    Returns
    -------
    ImprovementResults

    Raises
    ------
    ConfigError
        When ``covariance`` is not HC3 or ``baseline_covariate`` neither option.
    AnalysisError
        Naming the outcome, when the registered standardiser is 0 or undefined, when every
        participant has the same baseline, when an arm has no participants, or when an arm is not
        registered.

    Notes
    -----
    ``improvement_sd = (mean(post) - baseline) / s`` with ``s`` the registered standardiser. With
    ``baseline_covariate: standardised`` the covariate is ``(baseline - mean) / sd`` over the
    analysed participants, so its coefficient is SD of improvement per SD of baseline and the arm
    effects are at the mean baseline.
    """
    require_implemented("improvement.covariance", covariance, "HC3")
    if baseline_covariate not in ("standardised", "raw"):
        raise ConfigError(f"improvement.baseline_covariate '{baseline_covariate}' is not supported (implemented: standardised, raw)")
    alpha = float(alpha)
    table, left_out = participant_improvement(outcomes, participants, outcome, post_conversations)
    unknown = sorted(set(table["arm"]) - set(arms))
    if unknown:
        raise AnalysisError(f"arms {unknown} are not registered (registered: {list(arms)})")
    standardisers = change_standardisers(table, reference_arm, standardiser, outcome)
    scale = float(standardisers.loc[standardisers["registered"], "sd"].iloc[0])
    table["improvement_sd"] = table["improvement"] / scale
    summary = arm_summary(table, arms, alpha)

    columns = arm_columns(table, arms, reference_arm)
    without = fit_hc3(table["improvement_sd"].to_numpy(), columns)
    baseline = table["baseline"].to_numpy(dtype=float)
    if _no_spread(baseline):
        # raw or standardised, a constant baseline is collinear with the intercept; standardised it is 0/0
        raise AnalysisError(
            f"improvement of '{outcome}': not estimable, every participant has the same baseline {outcome} "
            f"({baseline[0]:g}): the baseline SD is 0, so the standardised baseline is undefined and the models "
            "with the baseline (and the baseline heterogeneity) are not identified"
        )
    if baseline_covariate == "standardised":
        baseline = (baseline - baseline.mean()) / baseline.std(ddof=1)
    with_baseline = fit_hc3(table["improvement_sd"].to_numpy(), {**columns, "baseline": baseline})
    coefficients = [coefficient_rows(without, "arm", alpha), coefficient_rows(with_baseline, "arm_baseline", alpha)]
    moderation, walds, moderation_left, moderation_sample = moderation_models(
        table, arms, reference_arm, sex_levels, float(age_unit), alpha
    )
    heterogeneity, group_means, heterogeneity_left = baseline_heterogeneity(
        outcomes, table, dimensions, outcome, post_conversations, sex_levels, float(age_unit), alpha
    )
    left_out = pd.concat([left_out, moderation_left, heterogeneity_left], ignore_index=True)[LEFT_OUT_COLUMNS]
    execution = {
        "estimator": "ols",
        "outcomes": [f"{outcome}_improvement_sd"],
        "terms": list(with_baseline.params.index),
        "reference_arm": reference_arm,
        "covariance": {"type": with_baseline.cov_type, "reference_distribution": "t" if with_baseline.use_t else "normal"},
        "alpha": alpha,
        "sample": {"n_participants": int(len(table)), "n_left_out_records": int(len(left_out)), **moderation_sample},
        "details": {
            "improvement": f"mean {outcome} of conversations {list(post_conversations)} minus the baseline conversation",
            "standardiser": standardiser,
            "standardiser_sd": scale,
            "standardisers": dict(zip(standardisers["standardiser"], standardisers["sd"].astype(float), strict=True)),
            "baseline_covariate": baseline_covariate,
            "models": {
                "arm": list(without.params.index),
                "arm_baseline": list(with_baseline.params.index),
                "arm_x_sex": list(moderation[0]["term"]),
                "arm_x_age": list(moderation[1]["term"]),
            },
            "sex_levels": list(sex_levels),
            "age_unit": float(age_unit),
            "age_centring": "sample mean of the participants in the model",
            "heterogeneity": "baseline outcome ~ sex | age | trouble_type; each dimension ~ trouble_type (baseline conversation)",
        },
    }
    return ImprovementResults(
        participants=table[PARTICIPANT_COLUMNS], standardisers=standardisers, arm_summary=summary,
        coefficients=pd.concat([*coefficients, *moderation], ignore_index=True),
        wald=pd.DataFrame(walds, columns=WALD_COLUMNS), heterogeneity=heterogeneity, group_means=group_means,
        left_out=left_out, execution=execution,
    )
