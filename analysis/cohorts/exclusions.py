"""Registered exclusions, applied in their registered order, with CONSORT-style accounting.

Every excluded record is listed with the rule that excluded it and a reason;
the flow table counts participants and conversations per arm so that
randomised = excluded (summed over rules) + analysed, exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from analysis.errors import AnalysisError, ConfigError

__all__ = [
    "ALL_ARMS", "EXCLUSION_COLUMNS", "FLOW_COLUMNS", "INCLUDED_COLUMNS", "JUDGE_SEPARATOR", "ExclusionResult",
    "apply_exclusions", "consort_flow", "select_judges",
]

EXCLUSION_COLUMNS = ["level", "record_id", "participant_id", "arm", "rule", "reason"]
FLOW_COLUMNS = ["arm", "stage", "rule", "n_participants", "n_conversations", "n_judge_sets"]
INCLUDED_COLUMNS = ["conversation_id", "participant_id", "judges"]
ALL_ARMS = "all"
# joins the judge labels of a conversation in included_conversations.csv and conversation_scores.csv
JUDGE_SEPARATOR = ";"


@dataclass(frozen=True)
class ExclusionResult:
    """What the exclusion step produces.

    Attributes
    ----------
    included : pandas.DataFrame
        conversation_id, participant_id of every analysed conversation and
        ``judges``: the labels (sorted, joined by ``;``) of the judges whose
        scores of it count.
    exclusions : pandas.DataFrame
        One row per excluded record: level (participant, conversation or
        judge_scores), record_id (for judge_scores ``<conversation_id>/<judge>``),
        participant_id, arm, rule (the registered rule id), reason.
    flow : pandas.DataFrame
        arm (each arm and ``all``), stage (randomised, excluded, analysed),
        rule (the rule id on excluded rows, empty otherwise), n_participants,
        n_conversations, n_judge_sets (sets of one judge's scores of one
        conversation, by the judges taking part).
    """

    included: pd.DataFrame
    exclusions: pd.DataFrame
    flow: pd.DataFrame


def select_judges(scores: pd.DataFrame, judges: str | Sequence[str]) -> pd.DataFrame:
    """Keep the scores of the judges taking part (``"all"`` keeps every judge).

    Raises
    ------
    ConfigError
        When a registered judge does not occur in the cohort at all.
    """
    if judges == "all":
        return scores
    missing = sorted(set(judges) - set(scores["judge"].unique()))
    if missing:
        raise ConfigError(
            f"judge_aggregation names judge(s) {missing} that never occur in scores.csv "
            f"(judges present: {sorted(scores['judge'].unique())})"
        )
    return scores[scores["judge"].isin(list(judges))]


def _unscored(conversations: pd.DataFrame, scores: pd.DataFrame, dimensions: Sequence[str], judges_label: str) -> pd.Series:
    """Reason per conversation lacking a score on some dimension (index: conversation_id)."""
    present = (
        scores.drop_duplicates(["conversation_id", "dimension"])
        .assign(present=True)
        .pivot(index="conversation_id", columns="dimension", values="present")
        .reindex(index=conversations["conversation_id"], columns=list(dimensions))
        .fillna(False)
        .astype(bool)
    )
    missing = ~present
    names = _missing_dimension_names(missing[missing.any(axis=1)])
    return ("no score from " + judges_label + " on: " + names).rename("reason")


def _missing_dimension_names(missing: pd.DataFrame) -> pd.Series:
    """Per row of a boolean row-by-dimension frame, the names of the dimensions marked True, comma-separated."""
    labels = pd.Index([f"{dimension}, " for dimension in missing.columns], dtype=object)
    return missing.astype(object).dot(labels).str.removesuffix(", ")


def _partial_judge_sets(conversations: pd.DataFrame, scores: pd.DataFrame, dimensions: Sequence[str]) -> pd.DataFrame:
    """Each (conversation, judge) whose scores miss a registered dimension, with the reason.

    Returns
    -------
    pandas.DataFrame
        conversation_id, judge, reason (which dimensions the judge scored and which it left out).
    """
    own = scores[scores["conversation_id"].isin(conversations["conversation_id"]) & scores["dimension"].isin(list(dimensions))]
    present = (
        own.drop_duplicates(["conversation_id", "judge", "dimension"])
        .assign(present=True)
        .pivot(index=["conversation_id", "judge"], columns="dimension", values="present")
        .reindex(columns=list(dimensions))
        .fillna(False)
        .astype(bool)
    )
    missing = ~present
    partial = missing.any(axis=1)
    names = _missing_dimension_names(missing[partial])
    counts = present[partial].sum(axis=1).astype(str)
    table = names.rename("missing").reset_index()
    table["reason"] = (
        "judge " + table["judge"].astype(str) + " scored " + counts.to_numpy() + f" of {len(dimensions)} dimensions; missing: "
        + table["missing"]
    )
    return table[["conversation_id", "judge", "reason"]]


def _judge_sets(scores: pd.DataFrame) -> pd.DataFrame:
    """The distinct (conversation_id, judge) pairs of ``scores``."""
    return scores[["conversation_id", "judge"]].drop_duplicates()


def _without_supporter_message(conversations: pd.DataFrame, messages: pd.DataFrame) -> pd.Series:
    texts = messages["text"].fillna("").str.strip()
    spoke = messages.loc[(messages["role"] == "supporter") & (texts != ""), "conversation_id"].unique()
    silent = conversations.loc[~conversations["conversation_id"].isin(spoke), "conversation_id"]
    return pd.Series("no non-empty supporter message", index=silent.to_numpy(), name="reason")


def _records(level: str, record_ids: pd.Series | pd.Index, participant_ids: pd.Series | pd.Index, rule_id: str, reason) -> pd.DataFrame:
    """Excluded records of one level and rule, aligned by position (``reason``: one string or one per record)."""
    return pd.DataFrame(
        {
            "level": level,
            "record_id": record_ids.to_numpy(),
            "participant_id": participant_ids.to_numpy(),
            "rule": rule_id,
            "reason": reason,
        }
    )


def apply_exclusions(
    participants: pd.DataFrame,
    conversations: pd.DataFrame,
    messages: pd.DataFrame,
    scores: pd.DataFrame,
    rules: Sequence[Mapping],
    dimensions: Sequence[str],
    judges: str | Sequence[str],
    conversations_per_participant: int,
    arms: Sequence[str],
) -> ExclusionResult:
    """Apply the registered exclusion rules in order.

    Parameters
    ----------
    participants, conversations, messages, scores : pandas.DataFrame
        Validated native tables.
    rules : sequence of mapping
        The prereg ``exclusions`` list; each has ``id``, ``rule`` (the kind:
        incomplete_judge_scores, unscored_conversation, no_supporter_message,
        incomplete_participant) and ``description``.
    dimensions : sequence of str
        Registered dimensions a conversation must be scored on.
    judges : "all" or sequence of str
        Judges whose scores count (prereg ``judge_aggregation.judges``).
    conversations_per_participant : int
        Conversations a complete participant has.
    arms : sequence of str
        Registered arms, for the flow table's row order.

    Returns
    -------
    ExclusionResult

    Raises
    ------
    AnalysisError
        When a registered dimension is never scored by the judges taking part (nothing could be
        analysed, and every conversation would be excluded without saying why).

    Notes
    -----
    A record is counted under the first rule that excludes it. A participant
    excluded by ``incomplete_participant`` takes their remaining conversations
    with them; those conversations are listed with the same rule.
    ``incomplete_judge_scores`` sets aside every judge's scores of a
    conversation unless that judge scored every registered dimension of it
    (so one composite never mixes judges dimension by dimension); it excludes
    no conversation by itself, but a conversation left with no complete judge
    then meets ``unscored_conversation``.
    """
    scores = select_judges(scores, judges)
    never = [dimension for dimension in dimensions if not scores["dimension"].eq(dimension).any()]
    if never:
        raise AnalysisError(
            f"registered dimension(s) {never} are never scored by the judges taking part in scores.csv: their outcomes, "
            "and the composite, are not estimable; score them or remove them from outcomes.dimensions in the plan"
        )
    all_sets = _judge_sets(scores)
    judges_label = "any judge" if judges == "all" else "judge(s) " + ", ".join(judges)
    arm_of = participants.set_index("participant_id")["arm"]
    remaining = conversations[["conversation_id", "participant_id"]].copy()
    excluded_participants: set[str] = set()
    records = []
    for rule in rules:
        kind, rule_id = rule["rule"], rule["id"]
        if kind == "incomplete_judge_scores":
            partial = _partial_judge_sets(remaining, scores, dimensions)
            partial = partial.merge(remaining, on="conversation_id", how="left", validate="many_to_one")
            records.append(
                _records(
                    "judge_scores", partial["conversation_id"] + "/" + partial["judge"].astype(str),
                    partial["participant_id"], rule_id, partial["reason"].to_numpy(),
                )
            )
            dropped = pd.MultiIndex.from_frame(partial[["conversation_id", "judge"]])
            keys = pd.MultiIndex.from_frame(scores[["conversation_id", "judge"]])
            scores = scores[~keys.isin(dropped)]
        elif kind in ("unscored_conversation", "no_supporter_message"):
            if kind == "unscored_conversation":
                reasons = _unscored(remaining, scores, dimensions, judges_label)
            else:
                reasons = _without_supporter_message(remaining, messages)
            hit = remaining[remaining["conversation_id"].isin(reasons.index)]
            records.append(
                _records(
                    "conversation", hit["conversation_id"], hit["participant_id"], rule_id,
                    reasons.reindex(hit["conversation_id"]).to_numpy(),
                )
            )
            remaining = remaining[~remaining["conversation_id"].isin(reasons.index)]
        elif kind == "incomplete_participant":
            counts = remaining.groupby("participant_id").size().reindex(participants["participant_id"], fill_value=0)
            still_in = ~counts.index.isin(list(excluded_participants))
            short = counts[(counts < conversations_per_participant) & still_in]
            reason = (
                short.astype(str) + f" of {conversations_per_participant} conversations analysable"
            ).to_numpy()
            records.append(_records("participant", short.index, short.index, rule_id, reason))
            dropped = remaining[remaining["participant_id"].isin(short.index)]
            records.append(
                _records(
                    "conversation", dropped["conversation_id"], dropped["participant_id"], rule_id,
                    "participant excluded: " + dropped["participant_id"].map(dict(zip(short.index, reason))).to_numpy(),
                )
            )
            excluded_participants.update(short.index)
            remaining = remaining[~remaining["participant_id"].isin(short.index)]
        else:
            raise ConfigError(f"exclusion rule '{rule_id}' has unknown kind '{kind}'")

    exclusions = pd.concat(records, ignore_index=True) if records else pd.DataFrame(columns=EXCLUSION_COLUMNS)
    exclusions["arm"] = exclusions["participant_id"].map(arm_of)
    exclusions = exclusions[EXCLUSION_COLUMNS].reset_index(drop=True)
    counted = _judge_sets(scores[scores["conversation_id"].isin(remaining["conversation_id"])])
    judges_of = counted.sort_values(["conversation_id", "judge"]).groupby("conversation_id")["judge"].agg(
        lambda labels: JUDGE_SEPARATOR.join(map(str, labels))
    )
    included = remaining.assign(judges=remaining["conversation_id"].map(judges_of).fillna(""))
    included = included.sort_values(["participant_id", "conversation_id"], kind="stable").reset_index(drop=True)[INCLUDED_COLUMNS]
    flow = consort_flow(participants, conversations, exclusions, [rule["id"] for rule in rules], arms, judge_sets=all_sets)
    return ExclusionResult(included=included, exclusions=exclusions, flow=flow)


def consort_flow(
    participants: pd.DataFrame,
    conversations: pd.DataFrame,
    exclusions: pd.DataFrame,
    rule_ids: Sequence[str],
    arms: Sequence[str],
    judge_sets: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """CONSORT-style counts per arm: randomised, excluded by each rule, analysed.

    Parameters
    ----------
    participants, conversations : pandas.DataFrame
        The randomised participants and their conversations.
    exclusions : pandas.DataFrame
        The excluded records (:data:`EXCLUSION_COLUMNS`).
    rule_ids : sequence of str
        Registered rule IDs, in order.
    arms : sequence of str
        Registered arms, in output order.
    judge_sets : pandas.DataFrame, optional
        The (conversation_id, judge) pairs of the judges taking part; without it
        ``n_judge_sets`` is 0 throughout.

    Returns
    -------
    pandas.DataFrame
        Columns arm, stage, rule, n_participants, n_conversations,
        n_judge_sets; one block of rows per arm and one for ``all``. Within
        each block the excluded rows and the analysed row add up to the
        randomised row, in every count. A set of judge scores is counted under
        the rule that set it aside (``incomplete_judge_scores``) or else under
        the rule that excluded its conversation.
    """
    conversation_arm = conversations["participant_id"].map(participants.set_index("participant_id")["arm"])
    arm_of_conversation = dict(zip(conversations["conversation_id"], conversation_arm))
    if judge_sets is None:
        judge_sets = pd.DataFrame(columns=["conversation_id", "judge"])
    sets = judge_sets.assign(arm=judge_sets["conversation_id"].map(arm_of_conversation), rule="")
    set_keys = sets["conversation_id"].astype(str) + "/" + sets["judge"].astype(str)
    by_set = exclusions[exclusions["level"] == "judge_scores"].set_index("record_id")["rule"]
    by_conversation = exclusions[exclusions["level"] == "conversation"].drop_duplicates("record_id").set_index("record_id")["rule"]
    set_rule = set_keys.map(by_set).astype(object)
    conversation_rule = sets["conversation_id"].map(by_conversation).astype(object)
    sets["rule"] = set_rule.where(set_rule.notna(), conversation_rule).where(lambda rule: rule.notna(), "")
    rows = []
    for arm in [*arms, ALL_ARMS]:
        arms_selected = list(arms) if arm == ALL_ARMS else [arm]
        n_participants = int(participants["arm"].isin(arms_selected).sum())
        n_conversations = int(conversation_arm.isin(arms_selected).sum())
        arm_sets = sets[sets["arm"].isin(arms_selected)]
        n_sets = len(arm_sets)
        rows.append((arm, "randomised", "", n_participants, n_conversations, n_sets))
        arm_exclusions = exclusions[exclusions["arm"].isin(arms_selected)]
        excluded_p = excluded_c = excluded_s = 0
        for rule_id in rule_ids:
            by_rule = arm_exclusions[arm_exclusions["rule"] == rule_id]
            n_p = int((by_rule["level"] == "participant").sum())
            n_c = int((by_rule["level"] == "conversation").sum())
            n_s = int((arm_sets["rule"] == rule_id).sum())
            rows.append((arm, "excluded", rule_id, n_p, n_c, n_s))
            excluded_p += n_p
            excluded_c += n_c
            excluded_s += n_s
        rows.append((arm, "analysed", "", n_participants - excluded_p, n_conversations - excluded_c, n_sets - excluded_s))
    return pd.DataFrame(rows, columns=FLOW_COLUMNS)
