"""Conversation-level outcomes: judges' scores aggregated as registered, plus the composite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from analysis.cohorts.exclusions import JUDGE_SEPARATOR, select_judges
from analysis.errors import ConfigError

__all__ = ["DESIGN_COLUMNS", "Composite", "aggregate_judges", "derive_outcomes", "read_outcomes"]

DESIGN_COLUMNS = [
    "conversation_id",
    "participant_id",
    "arm",
    "conversation_number",
    "post",
    "scenario",
    "trouble_type",
    "n_judges",
    "judges",
]


@dataclass(frozen=True)
class Composite:
    """The registered composite outcome: ``name = sum(add) - sum(subtract)`` over dimensions.

    Attributes
    ----------
    name : str
        Column name of the composite in ``conversation_scores.csv``.
    add, subtract : tuple of str
        Dimensions added and subtracted.
    """

    name: str
    add: tuple[str, ...]
    subtract: tuple[str, ...]

    @classmethod
    def from_plan(cls, block: Mapping) -> Composite:
        """Build it from the plan's ``outcomes.composite`` block (``name``, ``add``, ``subtract``)."""
        return cls(name=str(block["name"]), add=tuple(block["add"]), subtract=tuple(block["subtract"]))


def aggregate_judges(scores: pd.DataFrame, method: str, judges: str | Sequence[str], judge: str | None = None) -> pd.DataFrame:
    """Aggregate the judges' scores per conversation and dimension.

    Parameters
    ----------
    scores : pandas.DataFrame
        Validated scores (conversation_id, judge, dimension, score).
    method : {"mean", "median", "single"}
        How judges are combined; ``single`` uses only ``judge``.
    judges : "all" or sequence of str
        Judges taking part (ignored for ``single``).
    judge : str, optional
        The judge used by ``single``.

    Returns
    -------
    pandas.DataFrame
        Wide: conversation_id, n_judges (judges contributing to the
        conversation), judges (their labels, sorted, joined by ``;``), then one
        column per dimension present.
    """
    if method == "single":
        used = select_judges(scores, [judge])
        statistic = "mean"
    elif method in ("mean", "median"):
        used = select_judges(scores, judges)
        statistic = method
    else:
        raise ConfigError(f"judge_aggregation.method '{method}' is not one of mean, median, single")
    wide = used.pivot_table(index="conversation_id", columns="dimension", values="score", aggfunc=statistic)
    wide.columns.name = None
    n_judges = used.groupby("conversation_id")["judge"].nunique().rename("n_judges")
    judges_made = used.groupby("conversation_id")["judge"].agg(
        lambda labels: JUDGE_SEPARATOR.join(sorted(map(str, set(labels))))
    ).rename("judges")
    return pd.concat([n_judges, judges_made, wide], axis=1).rename_axis("conversation_id").reset_index()


def derive_outcomes(
    participants: pd.DataFrame,
    conversations: pd.DataFrame,
    scores: pd.DataFrame,
    included: pd.DataFrame,
    dimensions: Sequence[str],
    composite: Mapping,
    aggregation: Mapping,
    post_conversations: Sequence[int],
) -> pd.DataFrame:
    """One row per analysed conversation with design variables and outcomes.

    Parameters
    ----------
    participants, conversations, scores : pandas.DataFrame
        Validated native tables.
    included : pandas.DataFrame
        The analysed conversations (``conversation_id``), from the exclusion step;
        with a ``judges`` column (the judges whose scores count, ``;``-joined),
        only those judges' scores of each conversation are aggregated, so a
        judge's partial set set aside by ``incomplete_judge_scores`` never enters.
    dimensions : sequence of str
        Registered dimensions.
    composite : mapping
        ``name``, ``add`` and ``subtract`` of the registered composite.
    aggregation : mapping
        The prereg ``judge_aggregation`` block (method, judges, judge).
    post_conversations : sequence of int
        conversation_number values with ``post = 1``.

    Returns
    -------
    pandas.DataFrame
        Columns conversation_id, participant_id, arm, conversation_number,
        post, scenario, trouble_type, n_judges, judges (the judges that made
        the row), one per dimension and the composite; sorted by
        participant_id and conversation_number.
    """
    if "judges" in included.columns:
        counted = included[["conversation_id", "judges"]].fillna("").assign(judge=lambda frame: frame["judges"].str.split(JUDGE_SEPARATOR))
        counted = counted.explode("judge")[["conversation_id", "judge"]]
        keys = pd.MultiIndex.from_frame(scores[["conversation_id", "judge"]].astype(str))
        scores = scores[keys.isin(pd.MultiIndex.from_frame(counted.astype(str)))]
    judged = aggregate_judges(
        scores, aggregation["method"], aggregation.get("judges", "all"), aggregation.get("judge")
    )
    design = conversations[conversations["conversation_id"].isin(included["conversation_id"])]
    design = design.merge(participants[["participant_id", "arm"]], on="participant_id", how="left", validate="many_to_one")
    design = design.assign(post=design["conversation_number"].isin(list(post_conversations)).astype("int64"))
    table = design.merge(judged, on="conversation_id", how="left", validate="one_to_one")
    missing = table[list(dimensions)].isna().any(axis=1)
    if missing.any():
        raise ConfigError(
            f"{int(missing.sum())} analysed conversation(s) lack an aggregated score (first: "
            f"{table.loc[missing, 'conversation_id'].iloc[0]}); register the unscored_conversation exclusion rule"
        )
    table[composite["name"]] = table[list(composite["add"])].sum(axis=1) - table[list(composite["subtract"])].sum(axis=1)
    columns = DESIGN_COLUMNS + list(dimensions) + [composite["name"]]
    return table[columns].sort_values(["participant_id", "conversation_number"], kind="stable").reset_index(drop=True)


def read_outcomes(path) -> pd.DataFrame:
    """Read ``conversation_scores.csv`` with IDs as text and numbers as numbers."""
    text_columns = {"conversation_id": "str", "participant_id": "str", "arm": "str", "scenario": "str", "trouble_type": "str", "judges": "str"}
    return pd.read_csv(path, dtype=text_columns, keep_default_na=False, na_values=[""])
