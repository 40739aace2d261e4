"""Write a SYNTHETIC cohort in the layout of the authors' public release (``format: paper_release``).

This machine cannot fetch the release, so the adapter (:mod:`analysis.paper_release`) and the
published-versus-reproduced comparison are exercised end to end on a simulated cohort
(:func:`analysis.simulate.simulate_cohort`) turned into the release's four files:

* ``experiment_1.csv``: one block of rows per conversation, each conversation's fields repeated over
  1-3 rows that differ only in a ``coach_feedback`` text (as the real file repeats conversation-level
  fields), rows shuffled; IDs as in the release (24-hex Prolific-like user IDs, 20-digit numeric
  conversation IDs); the transcript as ``Seeker: ...`` / ``Supporter: ...`` lines; ``starter`` the
  scenario's opening line in one of several spellings (straight or curly quotes, ``..`` or the
  ellipsis character, extra spaces); the release's condition names; ``Age``, ``Sex`` (capitalised)
  and other demographics; the baseline empathy items as the text levels not_at_all ... very_much;
  and a column ``synthetic_data`` (absent from the real release) so that the import record and the
  report say SYNTHETIC.
* ``elo_rankings.csv``: a leading unnamed index column restarting in each scenario block, and the
  release's columns; ratings are a noisy monotone function of the composite (not a real Elo run).
* ``experiment_2.csv``: raters choosing between two conversations of one scenario by a logistic rule
  in the composite gap (slope 0.144 per point, the published value).
* ``all_themes.csv``: one row per supporter message and planted phrase it contains, with the phrase's
  dimension as theme and its category (affective, cognitive, misattuned).

The mapping back (:func:`analysis.paper_release.import_release`) must give the simulated native
cohort again, which the tests check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.cohort import CohortTables
from analysis.constants import (
    DIMENSIONS,
    EMPATHY_ITEMS,
    MISATTUNED_DIMENSIONS,
    PRESCRIPTIVE_DIMENSIONS,
    SCENARIO_OPENING_LINES,
    SELF_RATINGS,
)
from analysis.paper_release import CONDITION_ARMS, RELEASE_FILES, RELEASE_JUDGE, SYNTHETIC_MARKER, TEXT_LEVELS
from analysis.simulate import PHRASE_BANKS, simulate_cohort

PERCEPTION_SLOPE = 0.144  # published log-odds per composite point (issue 4)
THEME_CATEGORY_OF_DIMENSION: dict[str, str] = {
    "validating_emotions": "Affective",
    "encouraging_elaboration": "Cognitive",
    "demonstrating_understanding": "Cognitive",
    "advice_giving": "Misattuned",
    "self_oriented": "Misattuned",
    "dismissing_emotions": "Misattuned",
}
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


@dataclass(frozen=True)
class SimulatedRelease:
    """A simulated release and the native cohort it was made from.

    Attributes
    ----------
    files : dict of str to pandas.DataFrame
        The release files by role (keys of :data:`analysis.paper_release.RELEASE_FILES`), as text.
    cohort : CohortTables
        The simulated native cohort (judge ``paper_judge``).
    participant_ids, conversation_ids : dict of str to str
        Native ID -> release ID.
    """

    files: dict[str, pd.DataFrame]
    cohort: CohortTables
    participant_ids: dict[str, str]
    conversation_ids: dict[str, str]


def _spellings(line: str) -> list[str]:
    """The opening line as written, with curly apostrophes, with the ellipsis character, with extra spaces."""
    curly = line.replace("'", "\u2019")
    ellipsis = line.replace("\u2026", "..").replace("..", "\u2026")
    spaced = "  " + line.replace(" ", "  ", 2) + " "
    return [line, curly, ellipsis, spaced]


def _composite(scores: pd.DataFrame) -> pd.Series:
    wide = scores.pivot_table(index="conversation_id", columns="dimension", values="score", aggfunc="mean")
    return wide[list(PRESCRIPTIVE_DIMENSIONS)].sum(axis=1) - wide[list(MISATTUNED_DIMENSIONS)].sum(axis=1)


def _label(scenario: pd.Series) -> pd.Series:
    return scenario.str.replace("_", " ")


def simulate_release(
    arm_sizes: Mapping[str, int],
    seed: int,
    messages_per_conversation: float = 11.7,
    first_scenario_counts: Mapping[str, int] | None = None,
    n_raters: int = 40,
    pairs_per_rater: int = 10,
    pool_per_scenario: int = 30,
) -> SimulatedRelease:
    """Simulate a cohort and write it in the release's format.

    Parameters
    ----------
    arm_sizes : mapping of str to int
        Participants per arm (registered arm names).
    seed : int
        Seed of the cohort (:func:`analysis.simulate.simulate_cohort`); the release layout draws
        from a second stream seeded with ``[seed, 6]``.
    messages_per_conversation : float
        Mean number of messages per conversation.
    first_scenario_counts : mapping, optional
        Passed to :func:`analysis.simulate.simulate_cohort`.
    n_raters, pairs_per_rater : int
        Size of the perception task: raters and the pairs each rates.
    pool_per_scenario : int
        Conversations per scenario that enter the perception task (at most those available).

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
    counts = messages.pivot_table(index="conversation_id", columns="role", values="turn", aggfunc="count").fillna(0).astype(int)
    wide = scores.pivot_table(index="conversation_id", columns="dimension", values="score", aggfunc="first")

    spellings = pd.DataFrame({scenario: _spellings(line) for scenario, line in SCENARIO_OPENING_LINES.items()})
    variant = rng.integers(0, len(spellings), size=len(conversations))
    starters = spellings.to_numpy()[variant, spellings.columns.get_indexer(conversations["scenario"])]

    person = participants.set_index("participant_id").loc[conversations["participant_id"]].reset_index()
    arm_to_condition = {arm: condition for condition, arm in CONDITION_ARMS.items()}
    level_names = np.array(list(TEXT_LEVELS), dtype=object)
    base = pd.DataFrame(
        {
            "user_id": conversations["participant_id"].map(participant_ids).to_numpy(),
            "conversation_id": release_conversation.to_numpy(),
            "conversation": lines.loc[conversations["conversation_id"]].to_numpy(),
            "seeker_count": counts.loc[conversations["conversation_id"], "seeker"].to_numpy(),
            "supporter_count": counts.loc[conversations["conversation_id"], "supporter"].to_numpy(),
            **{rating: conversations[rating].to_numpy() for rating in SELF_RATINGS},
            **{dimension: wide.loc[conversations["conversation_id"], dimension].to_numpy() for dimension in DIMENSIONS},
            "conversation_number": conversations["conversation_number"].to_numpy(),
            "starter": starters,
            "condition": person["arm"].map(arm_to_condition).to_numpy(),
            "Age": person["age"].to_numpy(),
            "Sex": person["sex"].str.capitalize().to_numpy(),
            **{f"baseline_empathy_item_{k}": level_names[person[item].to_numpy(dtype=int) - 1] for k, item in enumerate(EMPATHY_ITEMS, 1)},
        }
    )
    participant_draw = rng.integers(0, 1 << 30, size=len(participants))
    draw = pd.Series(participant_draw, index=participants["participant_id"]).loc[conversations["participant_id"]].to_numpy()
    for column, options in OTHER_DEMOGRAPHICS.items():
        base[column] = np.asarray(options, dtype=object)[draw % len(options)]
    repeats = rng.integers(1, 4, size=len(base))
    experiment_1 = base.loc[base.index.repeat(repeats)].reset_index(drop=True)
    round_number = experiment_1.groupby("conversation_id", sort=False).cumcount() + 1
    coached = experiment_1["condition"].isin(["AICoach", "CoachPlusInfluencer"])
    experiment_1["coach_feedback"] = np.where(coached, "Feedback round " + round_number.astype(str) + ": try asking how they feel.", "")
    experiment_1[SYNTHETIC_MARKER] = "SYNTHETIC: written by analysis.simulate_release, not trial data"
    experiment_1 = experiment_1.iloc[rng.permutation(len(experiment_1))].reset_index(drop=True)

    composite = _composite(scores)
    info = conversations.assign(
        release_id=release_conversation.to_numpy(),
        composite=composite.loc[conversations["conversation_id"]].to_numpy(),
        condition=person["arm"].map(arm_to_condition).to_numpy(),
    )
    elo_blocks = []
    for scenario in sorted(SCENARIO_OPENING_LINES):
        block = info[info["scenario"] == scenario]
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

    pools = [info[info["scenario"] == s].iloc[: pool_per_scenario] for s in sorted(SCENARIO_OPENING_LINES)]
    pools = [pool for pool in pools if len(pool) >= 2]
    rater_ids = pd.Series(hex_digits[rng.integers(0, 16, size=(n_raters, 24))].astype(object).sum(axis=1))
    n_rows = n_raters * pairs_per_rater
    which_pool = rng.integers(0, len(pools), size=n_rows)
    first = np.empty(n_rows, dtype=int)
    second = np.empty(n_rows, dtype=int)
    for index, pool in enumerate(pools):
        rows = which_pool == index
        picks = np.argsort(rng.random((int(rows.sum()), len(pool))), axis=1)[:, :2]
        first[rows], second[rows] = picks[:, 0], picks[:, 1]
    pooled = pd.concat(pools, ignore_index=True)
    offsets = np.concatenate([[0], np.cumsum([len(pool) for pool in pools])[:-1]])
    left = pooled.iloc[offsets[which_pool] + first].reset_index(drop=True)
    right = pooled.iloc[offsets[which_pool] + second].reset_index(drop=True)
    gap = left["composite"].to_numpy() - right["composite"].to_numpy()
    chooses_higher = rng.random(n_rows) < 1.0 / (1.0 + np.exp(-PERCEPTION_SLOPE * np.abs(gap)))
    chooses_left = np.where(gap > 0, chooses_higher, np.where(gap < 0, ~chooses_higher, rng.random(n_rows) < 0.5))
    higher = np.where(gap == 0, np.nan, chooses_higher.astype(float))
    experiment_2 = pd.DataFrame(
        {
            "participant_id": np.repeat(rater_ids.to_numpy(), pairs_per_rater),
            "scenario": _label(left["scenario"]).to_numpy(),
            "conversation_left_id": left["release_id"].to_numpy(),
            "conversation_right_id": right["release_id"].to_numpy(),
            "participant_choice": np.where(chooses_left, "left", "right"),
            "conv_left_empathy_score": left["composite"].to_numpy(),
            "conv_right_empathy_score": right["composite"].to_numpy(),
            "abs_score_diff": np.abs(gap),
            "select_higher_annotation": higher,
        }
    )
    # a rater sees a pair once
    pair = np.minimum(first, second) * 10**6 + np.maximum(first, second) + which_pool * 10**12
    experiment_2 = experiment_2[~pd.DataFrame({"rater": experiment_2["participant_id"], "pair": pair}).duplicated()].reset_index(drop=True)

    supporter = messages[messages["role"] == "supporter"]
    theme_rows = []
    for dimension, bank in PHRASE_BANKS.items():
        for phrase in bank:
            used = supporter[supporter["text"].str.contains(phrase, regex=False)]
            theme_rows.append(pd.DataFrame({
                "conversation_id": used["conversation_id"].map(conversation_ids).to_numpy(),
                "turn": used["turn"].to_numpy(),
                "theme": dimension.replace("_", " "),
                "category": THEME_CATEGORY_OF_DIMENSION[dimension],
            }))
    themes = pd.concat(theme_rows, ignore_index=True).sort_values(["conversation_id", "turn", "theme"], kind="stable")
    themes = themes.drop_duplicates().reset_index(drop=True)

    files = {"experiment_1": experiment_1, "elo_rankings": elo, "experiment_2": experiment_2, "all_themes": themes}
    return SimulatedRelease(files, cohort, participant_ids, conversation_ids)


def write_release(release: SimulatedRelease, directory: str | Path) -> dict[str, Path]:
    """Write the release's files under ``directory`` at their release paths (``data/<file>``).

    ``elo_rankings.csv`` keeps its leading unnamed index column, as in the release.

    Returns
    -------
    dict of str to Path
        Role -> path written.
    """
    directory = Path(directory)
    written = {}
    for role, frame in release.files.items():
        path = directory / RELEASE_FILES[role]
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=role == "elo_rankings", encoding="utf-8", lineterminator="\n")
        written[role] = path
    return written
