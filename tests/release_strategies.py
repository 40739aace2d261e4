"""Hypothesis strategies for the property-based tests of the two release adapters (tests/test_adapter_properties.py).

* :func:`paper_releases`: the authors' release layout read by :mod:`analysis.adapters.paper_release`
  (``experiment_1.csv`` with one row per supporter message and the whole transcript repeated on each,
  ``experiment_2.csv``, ``elo_rankings.csv`` with its restarting index column, ``all_themes.csv``), in
  every spelling the adapter documents (condition names, Prolific placeholders, text levels in any
  case, curly or straight opening lines, scenario labels, role prefixes in any case, Level 1 labels
  in any case and spacing), with the native tables and optional files the import must give.
* :func:`pilot_releases`: the pilot release layout read by :mod:`analysis.adapters.pilot_release`
  (transcripts, one ratings file per annotator, the crowd workers' individual annotations), with the
  tables the import must give; the manifest pinning the generated files is written beside them.

Both hold each file as text cells (str, or None for an empty cell) so that the corruptions of
:mod:`tests.cohort_strategies` apply to them unchanged.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from hypothesis import strategies as st

from analysis.adapters.paper_release import (
    CHOICE_SIDES,
    CONDITION_ARMS,
    MISSING_MARKERS,
    RELEASE_FILES,
    RELEASE_JUDGE,
    TEXT_LEVELS,
)
from analysis.constants import DIMENSIONS, EMPATHY_ITEMS, SCENARIO_OPENING_LINES, SCENARIO_TROUBLE_TYPE, SELF_RATINGS
from analysis.simulate.release import RELEASE_STARTERS
from tests.cohort_strategies import (
    REPO,
    TEXT_FRAGMENTS,
    CsvDialect,
    ShownTables,
    cells,
    csv_bytes,
    identifiers,
    score_texts,
    text_characters,
    texts,
)

# A line of a transcript that starts a turn (the adapters split transcripts there).
PAPER_ROLE_LINE = re.compile(r"\n\s*(?i:seeker|supporter)\s*:")
PILOT_ROLE_LINE = re.compile(r"(?:^|\n)(?:Seeker|Supporter):")
PLACEHOLDERS = ("DATA_EXPIRED", "CONSENT_REVOKED")
ROLE_SPELLINGS = {"seeker": ("Seeker", "seeker", "SEEKER"), "supporter": ("Supporter", "supporter", "SUPPORTER")}


def _level_spellings(level: int) -> list[str]:
    """Spellings of a 1-5 answer the adapter reads: the integer and the text level in any case, with spaces or hyphens."""
    name = next(text for text, value in TEXT_LEVELS.items() if value == level)
    return [str(level), name, name.upper(), name.replace("_", " ").title(), name.replace("_", "-"), f" {name} "]


def levels() -> st.SearchStrategy[tuple[str, int | None]]:
    """A 1-5 answer as the release spells it, with its value (None: empty)."""
    return st.one_of(st.just(("", None)), st.integers(1, 5).flatmap(lambda level: st.sampled_from(_level_spellings(level)).map(
        lambda text: (text, level))))


def _scenario_spellings(scenario: str) -> list[str]:
    label = scenario.replace("_", " ")
    return [SCENARIO_OPENING_LINES[scenario], RELEASE_STARTERS[scenario], label, label.upper(), scenario.replace("_", "-").title()]


def release_texts(pattern: re.Pattern) -> st.SearchStrategy[str]:
    """Message text a transcript can hold: no carriage return (the adapters read it as a line end) and no
    line that starts a turn."""
    fragments = tuple(fragment for fragment in TEXT_FRAGMENTS if "\r" not in fragment) + ("Seeker", "supporter", "\n  ")
    characters = st.characters(exclude_categories=("Cs",), exclude_characters="\r\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c"
                               "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f")
    return texts(characters, fragments).filter(lambda text: not pattern.search("\n" + text if pattern is PAPER_ROLE_LINE else text))


@dataclass(frozen=True, repr=False)
class PaperRelease(ShownTables):
    """A release in the authors' layout (``files``: role -> text table) and what the import must give (``expected``:
    participants, conversations, messages, scores as the native contract types them, and perception, elo, themes)."""

    files: dict[str, pd.DataFrame]
    expected: dict[str, pd.DataFrame]


def _canonical(label: str) -> str:
    return " ".join(label.split()).casefold()


def theme_vocabulary(theme_categories: dict[str, list[str]]) -> st.SearchStrategy[list[tuple[str, str, str, str]]]:
    """Up to three themes (Level 3, Level 2, Level 1, category), each Level 3 and Level 2 with one parent. Level 1 is
    the configured label, the first of those spelled alike (``Advice-giving`` for ``Advice-Giving`` too)."""
    first = {}
    for names in theme_categories.values():
        for label in names:
            first.setdefault(_canonical(label), label)
    labels = [(first[_canonical(label)], category) for category, names in theme_categories.items() for label in names]
    theme = st.tuples(identifiers(), identifiers(), st.sampled_from(labels)).map(lambda t: (t[0], t[1], t[2][0], t[2][1]))
    return st.lists(theme, min_size=1, max_size=3, unique_by=(lambda t: t[0], lambda t: t[1]))


def _level_1_spelling(label: str) -> st.SearchStrategy[str]:
    return st.sampled_from([label, label.upper(), f"  {label.lower()} ", label.replace(" ", "  ")])


@st.composite
def paper_releases(draw, theme_categories: dict[str, list[str]], junk_levels: list[str], max_participants: int = 3) -> PaperRelease:
    """A valid release in the authors' layout (see :class:`PaperRelease`)."""
    n = draw(st.integers(1, max_participants))
    user_ids = draw(st.lists(identifiers(), min_size=n, max_size=n, unique=True))
    people, participant_rows = [], []
    for user_id in user_ids:
        condition = draw(st.sampled_from(sorted(CONDITION_ARMS)))
        age_text = draw(st.one_of(st.integers(0, 120).map(str), st.sampled_from(["", *PLACEHOLDERS])))
        sex_text = draw(st.one_of(st.sampled_from(["Female", "Male", " male ", "", *PLACEHOLDERS]), texts(text_characters)))
        sex = sex_text.strip().lower()
        items = [draw(levels()) for _ in EMPATHY_ITEMS]
        people.append({"user_id": user_id, "condition": condition, "Age": age_text, "Sex": sex_text,
                       **{f"baseline_empathy_item_{k}": text for k, (text, _) in enumerate(items, 1)}})
        participant_rows.append({
            "participant_id": user_id, "arm": CONDITION_ARMS[condition], "age": age_text if age_text.isdigit() else None,
            "sex": None if sex == "" or sex in MISSING_MARKERS else sex,
            **{item: None if value is None else str(value) for item, (_, value) in zip(EMPATHY_ITEMS, items)},
        })
    # the first participant has two conversations and the scenarios come from a small pool, so that the
    # perception task has pairs to show (two conversations of one scenario)
    numbers = draw(st.lists(st.lists(st.integers(1, 3), unique=True, max_size=3), min_size=n, max_size=n))
    numbers[0] = draw(st.lists(st.integers(1, 3), unique=True, min_size=2, max_size=3))
    pool = draw(st.lists(st.sampled_from(sorted(SCENARIO_OPENING_LINES)), min_size=1, max_size=2, unique=True))
    owners = [index for index, own in enumerate(numbers) for _ in own]
    conversation_ids = draw(st.lists(identifiers(), min_size=len(owners), max_size=len(owners), unique=True))
    rows, conversation_rows, message_rows, score_rows, supporter_messages = [], [], [], [], []
    for index, (conversation_id, owner, number) in enumerate(zip(conversation_ids, owners, [number for own in numbers for number in own])):
        scenario = draw(st.sampled_from(pool))
        ratings = [draw(levels()) for _ in SELF_RATINGS]
        # the first conversation has a message and a score: a native cohort needs at least one of each
        scores = [draw(score_texts() if index == 0 and position == 0 else st.one_of(st.just(""), score_texts()))
                  for position, _ in enumerate(DIMENSIONS)]
        turns = draw(st.lists(st.tuples(st.sampled_from(["seeker", "supporter"]), release_texts(PAPER_ROLE_LINE)),
                              min_size=int(index == 0), max_size=3))
        lines = [f"{draw(st.sampled_from(ROLE_SPELLINGS[role]))}{draw(st.sampled_from([': ', ':', ' : ']))}{text}" for role, text in turns]
        conversation = {
            "user_id": user_ids[owner], "conversation_id": conversation_id, "conversation": "\n".join(lines),
            "seeker_count": str(sum(role == "seeker" for role, _ in turns)), "supporter_count": str(sum(role == "supporter" for role, _ in turns)),
            **{rating: text for rating, (text, _) in zip(SELF_RATINGS, ratings)}, **dict(zip(DIMENSIONS, scores)),
            "conversation_number": str(number), "starter": draw(st.sampled_from(_scenario_spellings(scenario))),
            **{key: value for key, value in people[owner].items() if key != "user_id"},
        }
        supporter = [(turn, text) for turn, (role, text) in enumerate(turns, 1) if role == "supporter"]
        for turn, text in supporter or [(None, "")]:
            rows.append({**conversation, "user_message": text, "message_count": "" if turn is None else str(turn)})
        conversation_rows.append({
            "conversation_id": conversation_id, "participant_id": user_ids[owner], "conversation_number": str(number),
            "scenario": scenario, "trouble_type": SCENARIO_TROUBLE_TYPE[scenario],
            **{rating: None if value is None else str(value) for rating, (_, value) in zip(SELF_RATINGS, ratings)},
        })
        message_rows += [{"conversation_id": conversation_id, "turn": str(turn), "role": role, "text": text.strip()}
                         for turn, (role, text) in enumerate(turns, 1)]
        score_rows += [{"conversation_id": conversation_id, "judge": RELEASE_JUDGE, "dimension": dimension, "score": score}
                       for dimension, score in zip(DIMENSIONS, scores) if score != ""]
        supporter_messages += [(conversation_id, user_ids[owner], number, people[owner]["condition"], scenario, turn, text)
                               for turn, text in supporter]
    experiment_1 = pd.DataFrame(rows)
    experiment_1.insert(0, "id", [str(1000 + index) for index in range(len(experiment_1))])
    experiment_1 = experiment_1.iloc[list(draw(st.permutations(range(len(experiment_1)))))].reset_index(drop=True)
    if draw(st.booleans()):
        experiment_1.insert(0, "", [str(index) for index in range(len(experiment_1))])
    conversations = pd.DataFrame(conversation_rows)
    scenario_of = conversations.set_index("conversation_id")["scenario"]

    # elo_rankings.csv: a subset of the conversations, an index restarting in each starter block
    rated = draw(st.lists(st.sampled_from(conversation_ids), unique=True, min_size=1, max_size=len(conversation_ids)))
    ratings = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=len(rated), max_size=len(rated)))
    elo = pd.DataFrame({"conversation_id": rated, "elo_rating": [repr(value) for value in ratings],
                        "starter": [scenario_of[c].replace("_", " ") for c in rated]}, columns=["conversation_id", "elo_rating", "starter"])
    elo = elo.sort_values("starter", kind="stable").reset_index(drop=True)
    elo.insert(0, "", elo.groupby("starter").cumcount().astype(str).to_numpy())

    # experiment_2.csv: raters choosing between two conversations of one scenario, each pair once per rater
    pairs = [(a, b) for a in conversation_ids for b in conversation_ids if a != b and scenario_of[a] == scenario_of[b]]
    raters = draw(st.lists(identifiers(), min_size=1, max_size=2, unique=True))
    shown_pairs = draw(st.lists(st.tuples(st.sampled_from(raters), st.sampled_from(pairs)), unique_by=lambda t: (t[0], frozenset(t[1])),
                                max_size=4)) if pairs else []
    choices = [draw(st.sampled_from(["", *CHOICE_SIDES, "Left", "RIGHT", " b "])) for _ in shown_pairs]
    experiment_2 = pd.DataFrame(
        {"participant_id": [rater for rater, _ in shown_pairs], "scenario": [scenario_of[a] for _, (a, _) in shown_pairs],
         "conversation_left_id": [a for _, (a, _) in shown_pairs], "conversation_right_id": [b for _, (_, b) in shown_pairs],
         "participant_choice": choices},
        columns=["participant_id", "scenario", "conversation_left_id", "conversation_right_id", "participant_choice"],
    )
    kept = experiment_2[experiment_2["participant_choice"] != ""]
    perception = pd.DataFrame({
        "rater_id": kept["participant_id"],
        "pair_id": ["~".join(sorted(pair)) for pair in zip(kept["conversation_left_id"], kept["conversation_right_id"])],
        "scenario": kept["scenario"], "conversation_left_id": kept["conversation_left_id"],
        "conversation_right_id": kept["conversation_right_id"],
        "choice": [CHOICE_SIDES[choice.strip().lower()] for choice in kept["participant_choice"]],
    }, columns=["rater_id", "pair_id", "scenario", "conversation_left_id", "conversation_right_id", "choice"]).reset_index(drop=True)

    # all_themes.csv: per supporter message, codes from a small vocabulary, or a placeholder row
    vocabulary = draw(theme_vocabulary(theme_categories))
    theme_rows, theme_codes = [], []
    for conversation_id, user_id, number, condition, scenario, turn, text in supporter_messages:
        coded = draw(st.lists(st.sampled_from(vocabulary), unique_by=lambda t: t[0], max_size=2))
        base = {"user_id": user_id, "conversation_number": str(number), "condition": condition,
                "theme": SCENARIO_TROUBLE_TYPE[scenario], "turn_number": str(turn), "text": text}
        for level_3, level_2, level_1, category in coded:
            theme_rows.append({**base, "Level 1": draw(_level_1_spelling(level_1)), "Level 2": level_2, "Level 3 - interpretation": level_3})
            theme_codes.append({"conversation_id": conversation_id, "turn": str(turn), "theme": level_3, "category": category,
                                "theme_level2": level_2, "theme_level1": level_1})
        if not coded:
            theme_rows.append({**base, "Level 1": draw(st.sampled_from(junk_levels)), "Level 2": "", "Level 3 - interpretation": ""})
    all_themes = pd.DataFrame(theme_rows, columns=["user_id", "conversation_number", "condition", "theme", "turn_number", "text",
                                                   "Level 1", "Level 2", "Level 3 - interpretation"])
    themes = pd.DataFrame(theme_codes, columns=["conversation_id", "turn", "theme", "category", "theme_level2", "theme_level1"])

    files = {"experiment_1": experiment_1, "experiment_2": experiment_2, "elo_rankings": elo, "all_themes": all_themes}
    expected = {
        # a participant without a conversation has no row in experiment_1.csv
        "participants": pd.DataFrame([row for row, own in zip(participant_rows, numbers) if own]), "conversations": conversations, "messages": pd.DataFrame(
            message_rows, columns=["conversation_id", "turn", "role", "text"]),
        "scores": pd.DataFrame(score_rows, columns=["conversation_id", "judge", "dimension", "score"]),
        "perception": perception, "elo": elo[["conversation_id", "elo_rating"]], "themes": themes,
    }
    return PaperRelease({role: cells(frame) for role, frame in files.items()}, {name: cells(frame) for name, frame in expected.items()})


def write_files(files: dict[str, pd.DataFrame | bytes | None], paths: dict[str, str], directory: Path,
                dialect: CsvDialect) -> dict[str, Path]:
    """Write each file (text table, raw bytes, or None: missing) at ``directory / paths[key]``; key -> path."""
    written = {}
    for key, content in files.items():
        path = directory / paths[key]
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is not None:
            path.write_bytes(content if isinstance(content, bytes) else csv_bytes(content, dialect))
        written[key] = path
    return written


def write_release_files(files: dict[str, pd.DataFrame | bytes | None], directory: Path, dialect: CsvDialect) -> dict[str, Path]:
    """Write each release file at its release path (:func:`write_files`); role -> path."""
    return write_files(files, RELEASE_FILES, directory, dialect)


# --- the pilot release --------------------------------------------------------------------------------

PILOT_JUDGES = ("expert1", "crowd", "gpt")
PILOT_SCENARIOS_PATH = REPO / "analysis" / "reference" / "pilot_scenarios.csv"


@dataclass(frozen=True, repr=False)
class PilotRelease(ShownTables):
    """A pilot release (``files``: manifest key -> text table) and the tables its import must give (``expected``:
    conversations, messages, scores, crowd_annotations)."""

    files: dict[str, pd.DataFrame]
    expected: dict[str, pd.DataFrame]


PILOT_PATHS: dict[str, str] = {
    "transcripts": "original_data/conversations.csv",
    "crowd_annotations": "original_data/annotations.csv",
    **{judge: f"annotations/{judge}_ratings.csv" for judge in PILOT_JUDGES},
}


def pilot_manifest(files: dict[str, Path]) -> pd.DataFrame:
    """A manifest pinning ``files`` (key -> path) as they are, in the layout of analysis/reference/pilot_release_manifest.csv."""
    rows = []
    for key, path in files.items():
        content = key if key in ("transcripts", "crowd_annotations") else "ratings"
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "0" * 64
        rows.append({"path": PILOT_PATHS[key], "content": content, "judge": "" if content != "ratings" else key, "sha256": digest})
    manifest = pd.DataFrame(rows, columns=["path", "content", "judge", "sha256"])
    return manifest.assign(key=list(files))


@st.composite
def pilot_releases(draw, max_conversations: int = 3) -> PilotRelease:
    """A valid pilot release of 1 to ``max_conversations`` conversations (see :class:`PilotRelease`)."""
    scenarios = pd.read_csv(PILOT_SCENARIOS_PATH, dtype=str, keep_default_na=False)
    n = draw(st.integers(1, max_conversations))
    conversation_ids = draw(st.lists(identifiers(), min_size=n, max_size=n, unique=True))
    transcript_rows, conversation_rows, message_rows = [], [], []
    for conversation_id in conversation_ids:
        opening = draw(st.one_of(st.sampled_from(list(scenarios["opening_line"])), release_texts(PILOT_ROLE_LINE)))
        turns = [("seeker", opening)] + draw(st.lists(st.tuples(st.sampled_from(["seeker", "supporter"]), release_texts(PILOT_ROLE_LINE)),
                                                        max_size=3))
        transcript = "\n".join(f"{role.title()}:{draw(st.sampled_from([' ', '', chr(9)]))}{text}" for role, text in turns)
        length = draw(st.one_of(st.none(), st.integers(0, 9999).map(str)))
        transcript_rows.append({"conversation_id": conversation_id, "full_conversation": transcript, "response_length": length})
        match = scenarios[scenarios["opening_line"] == opening.strip()]
        conversation_rows.append({
            "conversation_id": conversation_id, "participant_id": f"pilot-{conversation_id}", "conversation_number": "1",
            "scenario": match["scenario"].iloc[0] if len(match) else "unknown",
            "trouble_type": match["trouble_type"].iloc[0] if len(match) else "workplace", "response_length": length,
        })
        message_rows += [{"conversation_id": conversation_id, "turn": str(turn), "role": role, "text": text.strip()}
                         for turn, (role, text) in enumerate(turns, 1)]
    # the crowd workers' individual ratings (each conversation at least once); the crowd file holds their means
    workers = draw(st.lists(identifiers(), min_size=1, max_size=2, unique=True))
    annotated = conversation_ids + draw(st.lists(st.sampled_from(conversation_ids), max_size=2))
    annotation_rows, crowd_annotations = [], []
    for index, conversation_id in enumerate(annotated):
        worker = draw(st.sampled_from(workers))
        ratings = {dimension: draw(score_texts()) for dimension in DIMENSIONS}
        examples = {dimension: draw(st.one_of(st.none(), release_texts(PILOT_ROLE_LINE))) for dimension in DIMENSIONS}
        annotation_rows.append({"id": str(index), "user_id": worker, "conversation_id": conversation_id, **ratings,
                                **{f"{dimension}_example": example for dimension, example in examples.items()}})
        crowd_annotations += [{"annotation_id": str(index), "worker_id": worker, "conversation_id": conversation_id, "dimension": dimension,
                               "score": ratings[dimension], "example": examples[dimension]} for dimension in DIMENSIONS]
    individual = pd.DataFrame(crowd_annotations).assign(score=lambda frame: frame["score"].astype(float))
    means = individual.groupby(["conversation_id", "dimension"])["score"].mean()
    files, score_rows = {"transcripts": pd.DataFrame(transcript_rows)}, []
    for judge in PILOT_JUDGES:
        rated = draw(st.permutations(conversation_ids))
        frame = pd.DataFrame({"conversation_id": rated})
        for dimension in draw(st.permutations(list(DIMENSIONS))):
            if judge == "crowd":
                frame[dimension] = [repr(float(means[(conversation_id, dimension)])) for conversation_id in rated]
            else:
                frame[dimension] = draw(st.lists(score_texts(), min_size=n, max_size=n))
        score_rows += [{"conversation_id": c, "judge": judge, "dimension": d, "score": frame.loc[i, d]}
                       for i, c in enumerate(rated) for d in DIMENSIONS]
        if draw(st.booleans()):
            frame.insert(0, "", [str(index) for index in range(n)])
        files[judge] = frame
    files["crowd_annotations"] = pd.DataFrame(annotation_rows)
    expected = {
        "conversations": pd.DataFrame(conversation_rows), "messages": pd.DataFrame(message_rows),
        "scores": pd.DataFrame(score_rows), "crowd_annotations": pd.DataFrame(crowd_annotations),
    }
    return PilotRelease({key: cells(frame) for key, frame in files.items()}, {name: cells(frame) for name, frame in expected.items()})


def write_pilot_files(files: dict[str, pd.DataFrame | bytes | None], directory: Path, dialect: CsvDialect) -> dict[str, Path]:
    """Write each pilot file at its path under ``directory`` (:func:`write_files`); key -> path."""
    return write_files(files, PILOT_PATHS, directory, dialect)
