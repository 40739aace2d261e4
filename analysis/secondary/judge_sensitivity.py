"""Judge choice in the trial analysis: the primary DiD rerun once per judge.

The registered primary analysis aggregates the judges' scores as ``judge_aggregation`` says
(default: the mean of all judges). This sensitivity analysis reruns exactly the registered pipeline
-- the registered exclusions (:func:`analysis.cohorts.exclusions.apply_exclusions`), the outcomes
(:func:`analysis.cohorts.outcomes.derive_outcomes` with ``judge_aggregation`` method ``single``) and the
primary OLS DiD (:func:`analysis.models.did.primary_analysis`) -- with one judge's scores at a time, and
sets each arm's ``arm:post`` effect beside the registered primary estimate.

Each judge's run applies the registered exclusion rules to that judge's scores, so a conversation
the judge did not score (or a participant left incomplete by that) is excluded in that run only;
every such record is listed. A cohort with one judge yields one block of rows (equal to the primary
when the primary uses that judge), with a note saying so.

Degenerate input: an outcome that one judge's run cannot estimate -- the judge gave every analysed
conversation the same score (an SD of 0), never scored the dimension, or the judge's exclusions
left an arm empty -- gets documented "not estimable" rows for that judge and outcome (empty
statistics, the reason in ``note``) while the other judges and outcomes are reported. Any other
failure is an error naming the judge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from analysis.cohorts.exclusions import EXCLUSION_COLUMNS, apply_exclusions
from analysis.cohorts.outcomes import derive_outcomes
from analysis.errors import AnalysisError
from analysis.models.did import primary_analysis

__all__ = ["SENSITIVITY_COLUMNS", "SENSITIVITY_EXCLUSION_COLUMNS", "SINGLE_JUDGE_NOTE", "JudgeSensitivity", "judge_sensitivity"]

SENSITIVITY_COLUMNS = [
    "judge", "outcome", "arm", "term", "estimate", "std_error", "ci_low", "ci_high", "p_value",
    "primary_estimate", "difference", "n_obs", "n_clusters", "note",
]
SENSITIVITY_EXCLUSION_COLUMNS = ["judge", *EXCLUSION_COLUMNS]
SINGLE_JUDGE_NOTE = "The cohort has a single judge: the per-judge rerun repeats the primary analysis with that judge."


@dataclass(frozen=True)
class JudgeSensitivity:
    """Per-judge reruns of the primary DiD.

    Attributes
    ----------
    effects : pandas.DataFrame
        :data:`SENSITIVITY_COLUMNS`: one row per judge, outcome and non-reference arm (its
        ``arm:post`` term), with the registered primary estimate and ``difference`` = estimate
        minus primary estimate. ``note`` is empty, or says why the outcome is not estimable in
        that judge's run (its statistics are then empty).
    exclusions : pandas.DataFrame
        :data:`SENSITIVITY_EXCLUSION_COLUMNS`: every record a judge's run excluded.
    execution : dict
        What was fitted, for the spec record (includes ``note`` with a single judge), with the
        ``exclusions`` applied and the ``judge_aggregation`` of the runs (``single``, the judges,
        and the registered primary's aggregation when given).
    """

    effects: pd.DataFrame
    exclusions: pd.DataFrame
    execution: dict


def judge_sensitivity(
    participants: pd.DataFrame,
    conversations: pd.DataFrame,
    messages: pd.DataFrame,
    scores: pd.DataFrame,
    primary_coefficients: pd.DataFrame,
    rules: Sequence[Mapping],
    dimensions: Sequence[str],
    composite: Mapping,
    post_conversations: Sequence[int],
    conversations_per_participant: int,
    arms: Sequence[str],
    reference_arm: str,
    outcomes: Sequence[str],
    alpha: float = 0.05,
    contrast_method: str = "holm",
    judges: str | Sequence[str] = "all",
    registered_aggregation: Mapping | None = None,
) -> JudgeSensitivity:
    """Rerun the registered primary DiD once per judge.

    Parameters
    ----------
    participants, conversations, messages, scores : pandas.DataFrame
        Validated native tables.
    primary_coefficients : pandas.DataFrame
        The registered primary analysis' ``did_coefficients.csv`` (outcome, term, estimate, ...).
    rules : sequence of mapping
        The registered exclusions (prereg ``exclusions``).
    dimensions, composite, post_conversations, conversations_per_participant
        The registered outcomes and design (as for :func:`analysis.cohorts.outcomes.derive_outcomes`).
    arms, reference_arm, outcomes, alpha, contrast_method
        As for :func:`analysis.models.did.primary_analysis`.
    judges : "all" or sequence of str
        Judges to rerun with (registered ``agreement.judge_sensitivity.judges``); ``all`` takes
        every judge in the cohort, in sorted order.
    registered_aggregation : mapping, optional
        The registered ``judge_aggregation`` of the primary analysis, recorded in the
        execution's ``judge_aggregation`` beside the single-judge runs.

    Returns
    -------
    JudgeSensitivity

    Raises
    ------
    AnalysisError
        When a registered judge does not occur in the cohort, the primary coefficients lack an
        ``arm:post`` term, no conversation is left in a judge's run, or a judge's rerun fails for
        another reason than degenerate data (the message names the judge).

    Notes
    -----
    The primary analysis is rerun one outcome at a time, which gives the same estimates as one
    call with every outcome (each outcome has its own model and its own multiplicity family), so
    that an outcome a judge's scores cannot estimate becomes a "not estimable" row (see
    ``execution["details"]["not_estimable"]``) instead of stopping every other judge and outcome.
    """
    present = sorted(scores["judge"].unique().tolist())
    chosen = present if judges == "all" else list(judges)
    missing = sorted(set(chosen) - set(present))
    if missing:
        raise AnalysisError(f"judge_sensitivity.judges names judge(s) {missing} not in the cohort (judges present: {present})")
    terms = {arm: f"{arm}:post" for arm in arms if arm != reference_arm}
    primary = primary_coefficients.set_index(["outcome", "term"])["estimate"]
    lacking = [(outcome, term) for outcome in outcomes for term in terms.values() if (outcome, term) not in primary.index]
    if lacking:
        raise AnalysisError(f"the primary coefficients lack {lacking[:3]}; rerun fit_primary_did")
    effects, exclusions, samples, not_estimable = [], [], {}, []
    for judge in chosen:
        excluded = apply_exclusions(
            participants, conversations, messages, scores, rules, dimensions, [judge], conversations_per_participant, arms
        )
        data = derive_outcomes(
            participants, conversations, scores, excluded.included, dimensions, composite,
            {"method": "single", "judge": judge}, post_conversations,
        )
        if data.empty:
            raise AnalysisError(f"judge '{judge}': no conversation is left after the registered exclusions")
        for outcome in outcomes:
            try:
                result = primary_analysis(data, [outcome], arms, reference_arm, alpha, contrast_method)
            except AnalysisError as error:
                # the primary analysis words degenerate data "outcome '<name>': not estimable, <reason>"
                if f"outcome '{outcome}': not estimable" not in str(error):
                    raise AnalysisError(f"judge '{judge}': {error}") from error
                reason = f"judge '{judge}': {error}"
                not_estimable.append({"judge": judge, "outcome": outcome, "reason": reason})
                missing = float("nan")
                rows = pd.DataFrame({"outcome": outcome, "term": list(terms.values()), "estimate": missing, "std_error": missing,
                                     "ci_low": missing, "ci_high": missing, "p_value": missing, "n_obs": int(len(data)),
                                     "n_clusters": int(data["participant_id"].nunique()), "note": reason})
            else:
                rows = result.coefficients[result.coefficients["term"].isin(list(terms.values()))].copy()
                rows["note"] = ""
            rows.insert(0, "judge", judge)
            rows["arm"] = rows["term"].str.removesuffix(":post")
            rows["primary_estimate"] = primary.reindex(pd.MultiIndex.from_frame(rows[["outcome", "term"]])).to_numpy()
            rows["difference"] = rows["estimate"] - rows["primary_estimate"]
            effects.append(rows[SENSITIVITY_COLUMNS])
        exclusions.append(excluded.exclusions.assign(judge=judge)[SENSITIVITY_EXCLUSION_COLUMNS])
        samples[judge] = {"n_obs": int(len(data)), "n_participants": int(data["participant_id"].nunique()),
                          "n_excluded_records": int(len(excluded.exclusions))}
    table = pd.concat(effects, ignore_index=True)
    aggregation = {"method": "single", "judges": chosen}
    if registered_aggregation is not None:
        aggregation["registered_primary"] = dict(registered_aggregation)
    execution = {
        "estimator": "ols",
        "outcomes": list(outcomes),
        "terms": list(terms.values()),
        "reference_arm": reference_arm,
        "covariance": {"type": "cluster", "cluster_by": "participant_id", "as_in": "primary_did"},
        "alpha": alpha,
        "sample": {"judges": chosen, "per_judge": samples},
        "exclusions": [rule["id"] for rule in rules],
        "judge_aggregation": aggregation,
        "details": {
            "judges_present": present,
            "judge_aggregation_per_run": "single",
            "note": SINGLE_JUDGE_NOTE if len(present) == 1 else f"{len(chosen)} judges rerun one at a time",
            "not_estimable": not_estimable,
        },
    }
    return JudgeSensitivity(table, pd.concat(exclusions, ignore_index=True), execution)
