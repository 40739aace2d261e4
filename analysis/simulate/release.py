"""Write a SYNTHETIC cohort in the layout of the authors' public release (``format: paper_release``).

The adapter (:mod:`analysis.adapters.paper_release`) and the published-versus-reproduced comparison are
exercised end to end on a simulated cohort (:func:`analysis.simulate.cohort.simulate_cohort`) written as the
release's four files, in the layout the authors' notebook shows:

* ``experiment_1.csv``: **one row per supporter message** (``id``, ``user_message`` and
  ``message_count`` vary over a conversation's rows; every conversation-level column repeats), rows
  shuffled; IDs as in the release (24-hex Prolific-like user IDs, 20-digit numeric conversation IDs);
  the transcript as ``Seeker: ...`` / ``Supporter: ...`` lines; ``starter`` the scenario's opening
  line as the release spells it (the two personal ones with U+2019 apostrophes and the U+2026
  ellipsis); the release's condition names; ``Age``, ``Sex`` (``Female``/``Male``) and other
  demographics; the baseline empathy items as the text levels not_at_all ... very_much; and a column
  ``synthetic_data`` (absent from the real release) so that the import record and the report say
  SYNTHETIC.
* ``elo_rankings.csv``: a leading unnamed index restarting at 0 in each of the five starter blocks,
  ``starter`` as a label with spaces (``job loss``); conversation 1 of every participant plus
  conversations 2-3 of the two coach arms only. Ratings are a noisy monotone function of the
  composite (not a real Elo run).
* ``experiment_2.csv``: raters choosing between two conversations of one scenario (``job_loss``, ...)
  by a logistic rule in the composite gap (slope 0.144 per point, the published value); the pool is
  ``pool_per_scenario`` conversations per scenario, all in the Elo file; some choices empty;
  ``select_higher_annotation`` empty on ties and on empty choices.
* ``all_themes.csv``: per supporter message, one row per planted theme it contains
  (:func:`analysis.simulate.cohort.code_planted_themes`) and a placeholder row (``No match found``,
  ``unknown`` or empty ``Level 1``) for a message without one; columns user_id,
  conversation_number, condition, theme (the trouble type), turn_number, text, ``Level 1`` (in the
  release's spellings, ``Advice-giving`` and ``Advice-Giving`` both), ``Level 2``,
  ``Level 3 - interpretation``; no conversation_id, turn or category column.

The mapping back (:func:`analysis.adapters.paper_release.import_release`) must give the simulated native
cohort again, which the tests check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.adapters.paper_release import CONDITION_ARMS, RELEASE_FILES, RELEASE_JUDGE, SYNTHETIC_MARKER, TEXT_LEVELS
from analysis.cohorts.native import CohortTables
from analysis.constants import (
    DIMENSIONS,
    EMPATHY_ITEMS,
    MISATTUNED_DIMENSIONS,
    PRESCRIPTIVE_DIMENSIONS,
    SCENARIO_OPENING_LINES,
    SCENARIO_TROUBLE_TYPE,
    SELF_RATINGS,
)
from analysis.runtime import atomic
from analysis.simulate.cohort import PHRASE_THEMES, code_planted_themes, simulate_cohort

__all__ = [
    "SimulatedRelease", "simulate_release", "write_release", "RELEASE_STARTERS", "PERCEPTION_SLOPE", "COACH_CONDITIONS",
    "JUNK_LEVEL_1", "OTHER_DEMOGRAPHICS", "theme_levels",
]

PERCEPTION_SLOPE = 0.144  # published log-odds per composite point (perception task; docs/secondary_analyses.md)
# The opening lines as the release spells them: the personal ones with U+2019 and U+2026.
RELEASE_STARTERS: dict[str, str] = {
    scenario: (line.replace("'", "\u2019").replace("..", "\u2026") if SCENARIO_TROUBLE_TYPE[scenario] == "personal" else line)
    for scenario, line in SCENARIO_OPENING_LINES.items()
}
COACH_CONDITIONS: tuple[str, ...] = ("AICoach", "CoachPlusInfluencer")
JUNK_LEVEL_1: tuple[str, ...] = ("No match found", "unknown", "")
OTHER_DEMOGRAPHICS: dict[str, tuple[str, ...]] = {
    "Fluent languages": ("English", "English, Spanish"),
    "Ethnicity simplified": ("White", "Black", "Asian", "Mixed", "Other"),
    "Country of birth": ("United States", "United Kingdom", "Canada"),
    "Country of residence": ("United States", "United Kingdom"),
    "Nationality": ("United States", "United Kingdom"),
    "Language": ("English",),
    "Student status": ("No", "Yes"),
    "Employment status": ("Full-Time", "Part-Time", "Unemployed (and job seeking)"),
}


def _level_1(theme) -> str:
    """The release's Level 1 label of a planted theme (consistent with its category)."""
    if theme.category == "affective":
        return {"sympathy": "Expressing Sympathy", "condolence": "Expressing Sympathy",
                "offering_availability": "Demonstrating Availability"}.get(theme.theme, "Validating Emotions")
    if theme.category == "cognitive":
        return "Encouraging Elaboration" if theme.dimension == "encouraging_elaboration" else "Demonstrating Understanding"
    if theme.category == "motivational":
        return "Providing Reassurance" if theme.dimension == "dismissing_emotions" else "Affirming"
    return {"advice_giving": "Advice-giving", "self_oriented": "Self-oriented"}.get(theme.dimension, "Dismissing Emotions")


def theme_levels() -> pd.DataFrame:
    """The planted themes as the release's three levels.

    Returns
    -------
    pandas.DataFrame
        One row per planted theme: ``theme`` (the native label), ``level_3`` (the interpretation the
        release would hold), ``level_2`` (its parent: the dimension within the Level 1 theme),
        ``level_1`` and ``category``.
    """
    rows = []
    for theme in PHRASE_THEMES:
        level_1 = _level_1(theme)
        rows.append({"theme": theme.theme, "level_3": "Uses " + theme.theme.replace("_", " "),
                     "level_2": f"{level_1}: {theme.dimension.replace('_', ' ')}", "level_1": level_1, "category": theme.category})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class SimulatedRelease:
    """A simulated release and the native cohort it was made from.

    Attributes
    ----------
    files : dict of str to pandas.DataFrame
        The release files by role (keys of :data:`analysis.adapters.paper_release.RELEASE_FILES`), as text.
    cohort : CohortTables
        The simulated native cohort (judge ``paper_judge``).
    participant_ids, conversation_ids : dict of str to str
        Native ID -> release ID.
    themes : pandas.DataFrame
        The native theme codes the release's all_themes.csv was written from
        (:func:`analysis.simulate.cohort.code_planted_themes`).
    """

    files: dict[str, pd.DataFrame]
    cohort: CohortTables
    participant_ids: dict[str, str]
    conversation_ids: dict[str, str]
    themes: pd.DataFrame


def _composite(scores: pd.DataFrame) -> pd.Series:
    wide = scores.pivot_table(index="conversation_id", columns="dimension", values="score", aggfunc="mean")
    return wide[list(PRESCRIPTIVE_DIMENSIONS)].sum(axis=1) - wide[list(MISATTUNED_DIMENSIONS)].sum(axis=1)


def simulate_release(
    arm_sizes: Mapping[str, int],
    seed: int,
    messages_per_conversation: float = 11.7,
    first_scenario_counts: Mapping[str, int] | None = None,
    n_raters: int = 150,
    pairs_per_rater: int = 10,
    pool_per_scenario: int = 30,
    empty_choice_share: float = 0.02,
) -> SimulatedRelease:
    """Simulate a cohort and write it in the release's layout.

    Parameters
    ----------
    arm_sizes : mapping of str to int
        Participants per arm (registered arm names).
    seed : int
        Seed of the cohort (:func:`analysis.simulate.cohort.simulate_cohort`); the release layout draws
        from a second stream seeded with ``[seed, 6]``.
    messages_per_conversation : float
        Mean number of messages per conversation.
    first_scenario_counts : mapping, optional
        Passed to :func:`analysis.simulate.cohort.simulate_cohort`.
    n_raters, pairs_per_rater : int
        Size of the perception task: raters and the pairs each rates (the release: 150 x 10).
    pool_per_scenario : int
        Conversations per scenario that enter the perception task, drawn from those in the Elo file
        (the release: 30, so 150 conversations).
    empty_choice_share : float
        Rows with an empty choice, as a share of the usable ones, added on top (the release has a few
        besides its 1,500 usable choices).

    Returns
    -------
    SimulatedRelease
    """
    cohort = simulate_cohort(arm_sizes, seed=seed, judges=[RELEASE_JUDGE], first_scenario_counts=first_scenario_counts,
                             messages_per_conversation=messages_per_conversation)
    rng = np.random.default_rng([seed, 6])
    participants, conversations, messages, scores = cohort.participants, cohort.conversations, cohort.messages, cohort.scores

    hex_digits = np.array(list("0123456789abcdef"))
    user_ids = pd.Series(hex_digits[rng.integers(0, 16, size=(len(participants), 24))].astype(object).sum(axis=1))
    if user_ids.duplicated().any():
        raise ValueError("simulated user IDs collided; use another seed")
    participant_ids = dict(zip(participants["participant_id"], user_ids))
    steps = np.cumsum(rng.integers(1, 10**6, size=len(conversations)))[rng.permutation(len(conversations))]
    release_conversation = pd.Series((10**13 + steps).astype(str), dtype=object).radd("202503")
    conversation_ids = dict(zip(conversations["conversation_id"], release_conversation))

    roles = messages["role"].map({"seeker": "Seeker", "supporter": "Supporter"})
    lines = (roles + ": " + messages["text"]).groupby(messages["conversation_id"], sort=False).agg("\n".join)
    counts = messages.pivot_table(index="conversation_id", columns="role", values="turn", aggfunc="count").reindex(
        columns=["seeker", "supporter"]).fillna(0).astype(int)
    wide = scores.pivot_table(index="conversation_id", columns="dimension", values="score", aggfunc="first")

    person = participants.set_index("participant_id").loc[conversations["participant_id"]].reset_index()
    arm_to_condition = {arm: condition for condition, arm in CONDITION_ARMS.items()}
    condition = person["arm"].map(arm_to_condition).to_numpy()
    level_names = np.array(list(TEXT_LEVELS), dtype=object)
    base = pd.DataFrame(
        {
            "user_id": conversations["participant_id"].map(participant_ids).to_numpy(),
            "conversation_id": release_conversation.to_numpy(),
            "conversation": lines.reindex(conversations["conversation_id"]).fillna("").to_numpy(),
            "seeker_count": counts.reindex(conversations["conversation_id"])["seeker"].fillna(0).astype(int).to_numpy(),
            "supporter_count": counts.reindex(conversations["conversation_id"])["supporter"].fillna(0).astype(int).to_numpy(),
            **{rating: conversations[rating].to_numpy() for rating in SELF_RATINGS},
            **{dimension: wide.loc[conversations["conversation_id"], dimension].to_numpy() for dimension in DIMENSIONS},
            "conversation_number": conversations["conversation_number"].to_numpy(),
            "starter": conversations["scenario"].map(RELEASE_STARTERS).to_numpy(),
            "condition": condition,
            "Age": person["age"].to_numpy(),
            "Sex": person["sex"].str.capitalize().to_numpy(),
            **{f"baseline_empathy_item_{k}": level_names[person[item].to_numpy(dtype=int) - 1] for k, item in enumerate(EMPATHY_ITEMS, 1)},
        }
    )
    participant_draw = rng.integers(0, 1 << 30, size=len(participants))
    draw = pd.Series(participant_draw, index=participants["participant_id"]).loc[conversations["participant_id"]].to_numpy()
    for column, options in OTHER_DEMOGRAPHICS.items():
        base[column] = np.asarray(options, dtype=object)[draw % len(options)]
    base[SYNTHETIC_MARKER] = "SYNTHETIC: written by analysis.simulate.release, not trial data"

    # One row per supporter message; a conversation without one keeps a single row with an empty message.
    supporter = messages[messages["role"] == "supporter"]
    per_message = pd.DataFrame({"native": conversations["conversation_id"].to_numpy(), "position": np.arange(len(base))}).merge(
        supporter[["conversation_id", "turn", "text"]].rename(columns={"conversation_id": "native"}), how="left", on="native")
    experiment_1 = base.iloc[per_message["position"].to_numpy()].reset_index(drop=True)
    experiment_1.insert(0, "id", (10**9 + np.arange(len(experiment_1)) * 7 + rng.integers(0, 7, size=len(experiment_1))).astype(str))
    experiment_1.insert(3, "user_message", per_message["text"].fillna("").to_numpy())
    experiment_1.insert(4, "message_count", per_message["turn"].astype("Int64").to_numpy())
    experiment_1 = experiment_1.iloc[rng.permutation(len(experiment_1))].reset_index(drop=True)

    composite = _composite(scores)
    info = conversations.assign(
        release_id=release_conversation.to_numpy(),
        composite=composite.loc[conversations["conversation_id"]].to_numpy(),
        condition=condition,
    )
    # The Elo file covers conversation 1 of every participant and conversations 2-3 of the coach arms.
    in_elo = (info["conversation_number"] == 1) | info["condition"].isin(COACH_CONDITIONS)
    elo_blocks = []
    for scenario in sorted(SCENARIO_OPENING_LINES):
        block = info[in_elo & (info["scenario"] == scenario)]
        if block.empty:
            continue
        noisy = block["composite"].to_numpy() + rng.normal(0, 1.5, size=len(block))
        rating = 1500 + 150 * (noisy - noisy.mean()) / (noisy.std() or 1.0)
        frame = pd.DataFrame(
            {
                "conversation_id": block["release_id"].to_numpy(),
                "elo_rating": rating,
                "comparisons_count": rng.integers(56, 65, size=len(block)),
                "updated_condition": np.where(block["conversation_number"].to_numpy() == 1, "control", "treatment"),
                "overall_empathy": block["composite"].round().astype(int).to_numpy(),
                "conversation_number": block["conversation_number"].to_numpy(),
                "condition": block["condition"].to_numpy(),
            }
        ).sort_values("elo_rating", ascending=False, kind="stable").reset_index(drop=True)
        frame["elo_rank"] = np.arange(1, len(frame) + 1)
        frame["starter"] = scenario.replace("_", " ")
        elo_blocks.append(frame)
    elo = pd.concat(elo_blocks)

    rated = info[in_elo]
    pools = [rated[rated["scenario"] == s].iloc[: pool_per_scenario] for s in sorted(SCENARIO_OPENING_LINES)]
    pools = [pool for pool in pools if len(pool) >= 2]
    rater_ids = pd.Series(hex_digits[rng.integers(0, 16, size=(n_raters, 24))].astype(object).sum(axis=1))
    # n_raters x pairs_per_rater usable choices, plus rows of raters who left the choice empty
    n_usable = n_raters * pairs_per_rater
    n_rows = n_usable + int(round(empty_choice_share * n_usable))
    rater = np.concatenate([np.repeat(np.arange(n_raters), pairs_per_rater), rng.integers(0, n_raters, size=n_rows - n_usable)])
    empty = np.arange(n_rows) >= n_usable
    which_pool = np.empty(n_rows, dtype=int)
    first = np.empty(n_rows, dtype=int)
    second = np.empty(n_rows, dtype=int)
    redraw = np.ones(n_rows, dtype=bool)
    for _ in range(100):  # a rater sees a pair once: redraw repeated pairs
        which_pool[redraw] = rng.integers(0, len(pools), size=int(redraw.sum()))
        for index, pool in enumerate(pools):
            rows = redraw & (which_pool == index)
            picks = np.argsort(rng.random((int(rows.sum()), len(pool))), axis=1)[:, :2]
            first[rows], second[rows] = picks[:, 0], picks[:, 1]
        key = pd.Series(list(zip(rater, which_pool, np.minimum(first, second), np.maximum(first, second))))
        redraw = key.duplicated().to_numpy()
        if not redraw.any():
            break
    else:
        raise ValueError("too few conversations per scenario for every rater to see distinct pairs; raise pool_per_scenario")
    order = np.argsort(rater, kind="stable")
    rater, empty, which_pool, first, second = rater[order], empty[order], which_pool[order], first[order], second[order]
    pooled = pd.concat(pools, ignore_index=True)
    offsets = np.concatenate([[0], np.cumsum([len(pool) for pool in pools])[:-1]])
    left = pooled.iloc[offsets[which_pool] + first].reset_index(drop=True)
    right = pooled.iloc[offsets[which_pool] + second].reset_index(drop=True)
    gap = left["composite"].to_numpy() - right["composite"].to_numpy()
    chooses_higher = rng.random(n_rows) < 1.0 / (1.0 + np.exp(-PERCEPTION_SLOPE * np.abs(gap)))
    chooses_left = np.where(gap > 0, chooses_higher, np.where(gap < 0, ~chooses_higher, rng.random(n_rows) < 0.5))
    higher = np.where((gap == 0) | empty, np.nan, chooses_higher.astype(float))
    experiment_2 = pd.DataFrame(
        {
            "participant_id": rater_ids.to_numpy()[rater],
            "scenario": left["scenario"].to_numpy(),
            "conversation_left_id": left["release_id"].to_numpy(),
            "conversation_right_id": right["release_id"].to_numpy(),
            "participant_choice": np.where(empty, "", np.where(chooses_left, "left", "right")),
            "conv_left_empathy_score": left["composite"].to_numpy(),
            "conv_right_empathy_score": right["composite"].to_numpy(),
            "abs_score_diff": np.abs(gap),
            "select_higher_annotation": higher,
        }
    )

    themes = code_planted_themes(messages)
    levels = theme_levels().set_index("theme")
    coded = themes.merge(supporter[["conversation_id", "turn", "text"]], on=["conversation_id", "turn"], how="left")
    uncoded = supporter.merge(themes[["conversation_id", "turn"]].drop_duplicates(), how="left", indicator=True)
    uncoded = uncoded[uncoded["_merge"] == "left_only"]
    level_1 = levels.loc[coded["theme"], "level_1"].to_numpy().astype(object)
    # the release spells one Level 1 label in two ways
    advice = level_1 == "Advice-giving"
    level_1[advice] = np.where(rng.random(int(advice.sum())) < 0.5, "Advice-giving", "Advice-Giving")
    theme_rows = pd.DataFrame(
        {
            "conversation_id": pd.concat([coded["conversation_id"], uncoded["conversation_id"]], ignore_index=True),
            "turn_number": np.concatenate([coded["turn"].to_numpy(), uncoded["turn"].to_numpy()]),
            "text": np.concatenate([coded["text"].to_numpy(), uncoded["text"].to_numpy()]),
            "Level 1": np.concatenate([level_1, np.asarray(JUNK_LEVEL_1, dtype=object)[rng.integers(0, len(JUNK_LEVEL_1), size=len(uncoded))]]),
            "Level 2": np.concatenate([levels.loc[coded["theme"], "level_2"].to_numpy(), np.full(len(uncoded), "", dtype=object)]),
            "Level 3 - interpretation": np.concatenate([levels.loc[coded["theme"], "level_3"].to_numpy(),
                                                        np.full(len(uncoded), "", dtype=object)]),
        }
    )
    where = info.set_index("conversation_id").loc[theme_rows["conversation_id"]]
    all_themes = pd.DataFrame(
        {
            "user_id": where["participant_id"].map(participant_ids).to_numpy(),
            "conversation_number": where["conversation_number"].to_numpy(),
            "condition": where["condition"].to_numpy(),
            "theme": where["trouble_type"].to_numpy(),
            "turn_number": theme_rows["turn_number"].to_numpy(),
            "text": theme_rows["text"].to_numpy(),
            "Level 1": theme_rows["Level 1"].to_numpy(),
            "Level 2": theme_rows["Level 2"].to_numpy(),
            "Level 3 - interpretation": theme_rows["Level 3 - interpretation"].to_numpy(),
        }
    ).sort_values(["user_id", "conversation_number", "turn_number"], kind="stable").reset_index(drop=True)

    files = {"experiment_1": experiment_1, "elo_rankings": elo, "experiment_2": experiment_2, "all_themes": all_themes}
    return SimulatedRelease(files, cohort, participant_ids, conversation_ids, themes)


def write_release(release: SimulatedRelease, directory: str | Path) -> dict[str, Path]:
    """Write the release's files under ``directory`` at their release paths (``data/<file>``).

    ``elo_rankings.csv`` keeps its leading unnamed index column (restarting in each starter block),
    as in the release.

    Returns
    -------
    dict of str to Path
        Role -> path written.
    """
    directory = Path(directory)
    written = {}
    for role, frame in release.files.items():
        path = directory / RELEASE_FILES[role]
        atomic.write_csv(frame, path, index=role == "elo_rankings", encoding="utf-8", lineterminator="\n")
        written[role] = path
    return written
