"""Registered exclusions, applied in their registered order, with CONSORT-style accounting.

Every excluded record is listed with the rule that excluded it and a reason;
the flow table counts participants and conversations per arm so that
randomised = excluded (summed over rules) + analysed, exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from analysis.errors import ConfigError

EXCLUSION_COLUMNS = ["level", "record_id", "participant_id", "arm", "rule", "reason"]
FLOW_COLUMNS = ["arm", "stage", "rule", "n_participants", "n_conversations"]
ALL_ARMS = "all"


@dataclass(frozen=True)
class ExclusionResult:
    """What the exclusion step produces.

    Attributes
    ----------
    included : pandas.DataFrame
        conversation_id, participant_id of every analysed conversation.
    exclusions : pandas.DataFrame
        One row per excluded record: level (participant or conversation),
        record_id, participant_id, arm, rule (the registered rule id), reason.
    flow : pandas.DataFrame
        arm (each arm and ``all``), stage (randomised, excluded, analysed),
        rule (the rule id on excluded rows, empty otherwise), n_participants,
        n_conversations.
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
    lacking = missing.any(axis=1)
    labels = pd.Index([f"{dimension}, " for dimension in missing.columns], dtype=object)
    names = missing[lacking].astype(object).dot(labels).str.removesuffix(", ")
    return ("no score from " + judges_label + " on: " + names).rename("reason")


def _without_supporter_message(conversations: pd.DataFrame, messages: pd.DataFrame) -> pd.Series:
    texts = messages["text"].fillna("").str.strip()
    spoke = messages.loc[(messages["role"] == "supporter") & (texts != ""), "conversation_id"].unique()
    silent = conversations.loc[~conversations["conversation_id"].isin(spoke), "conversation_id"]
    return pd.Series("no non-empty supporter message", index=silent.to_numpy(), name="reason")


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
        unscored_conversation, no_supporter_message, incomplete_participant)
        and ``description``.
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

    Notes
    -----
    A record is counted under the first rule that excludes it. A participant
    excluded by ``incomplete_participant`` takes their remaining conversations
    with them; those conversations are listed with the same rule.
    """
    scores = select_judges(scores, judges)
    judges_label = "any judge" if judges == "all" else "judge(s) " + ", ".join(judges)
    arm_of = participants.set_index("participant_id")["arm"]
    remaining = conversations[["conversation_id", "participant_id"]].copy()
    excluded_participants: set[str] = set()
    records = []
    for rule in rules:
        kind, rule_id = rule["rule"], rule["id"]
        if kind in ("unscored_conversation", "no_supporter_message"):
            if kind == "unscored_conversation":
                reasons = _unscored(remaining, scores, dimensions, judges_label)
            else:
                reasons = _without_supporter_message(remaining, messages)
            hit = remaining[remaining["conversation_id"].isin(reasons.index)]
            records.append(
                pd.DataFrame(
                    {
                        "level": "conversation",
                        "record_id": hit["conversation_id"].to_numpy(),
                        "participant_id": hit["participant_id"].to_numpy(),
                        "rule": rule_id,
                        "reason": reasons.reindex(hit["conversation_id"]).to_numpy(),
                    }
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
            records.append(
                pd.DataFrame(
                    {
                        "level": "participant",
                        "record_id": short.index.to_numpy(),
                        "participant_id": short.index.to_numpy(),
                        "rule": rule_id,
                        "reason": reason,
                    }
                )
            )
            dropped = remaining[remaining["participant_id"].isin(short.index)]
            records.append(
                pd.DataFrame(
                    {
                        "level": "conversation",
                        "record_id": dropped["conversation_id"].to_numpy(),
                        "participant_id": dropped["participant_id"].to_numpy(),
                        "rule": rule_id,
                        "reason": "participant excluded: "
                        + dropped["participant_id"].map(dict(zip(short.index, reason))).to_numpy(),
                    }
                )
            )
            excluded_participants.update(short.index)
            remaining = remaining[~remaining["participant_id"].isin(short.index)]
        else:
            raise ConfigError(f"exclusion rule '{rule_id}' has unknown kind '{kind}'")

    exclusions = pd.concat(records, ignore_index=True) if records else pd.DataFrame(columns=EXCLUSION_COLUMNS)
    exclusions["arm"] = exclusions["participant_id"].map(arm_of)
    exclusions = exclusions[EXCLUSION_COLUMNS].reset_index(drop=True)
    included = remaining.sort_values(["participant_id", "conversation_id"], kind="stable").reset_index(drop=True)
    flow = consort_flow(participants, conversations, exclusions, [rule["id"] for rule in rules], arms)
    return ExclusionResult(included=included, exclusions=exclusions, flow=flow)


def consort_flow(
    participants: pd.DataFrame,
    conversations: pd.DataFrame,
    exclusions: pd.DataFrame,
    rule_ids: Sequence[str],
    arms: Sequence[str],
) -> pd.DataFrame:
    """CONSORT-style counts per arm: randomised, excluded by each rule, analysed.

    Returns
    -------
    pandas.DataFrame
        Columns arm, stage, rule, n_participants, n_conversations; one block
        of rows per arm and one for ``all``. Within each block the excluded
        rows and the analysed row add up to the randomised row.
    """
    conversation_arm = conversations["participant_id"].map(participants.set_index("participant_id")["arm"])
    rows = []
    for arm in [*arms, ALL_ARMS]:
        arms_selected = list(arms) if arm == ALL_ARMS else [arm]
        n_participants = int(participants["arm"].isin(arms_selected).sum())
        n_conversations = int(conversation_arm.isin(arms_selected).sum())
        rows.append((arm, "randomised", "", n_participants, n_conversations))
        arm_exclusions = exclusions[exclusions["arm"].isin(arms_selected)]
        excluded_p = excluded_c = 0
        for rule_id in rule_ids:
            by_rule = arm_exclusions[arm_exclusions["rule"] == rule_id]
            n_p = int((by_rule["level"] == "participant").sum())
            n_c = int((by_rule["level"] == "conversation").sum())
            rows.append((arm, "excluded", rule_id, n_p, n_c))
            excluded_p += n_p
            excluded_c += n_c
        rows.append((arm, "analysed", "", n_participants - excluded_p, n_conversations - excluded_c))
    return pd.DataFrame(rows, columns=FLOW_COLUMNS)
