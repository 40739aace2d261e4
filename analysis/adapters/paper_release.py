"""The authors' public release of the trial (``format: paper_release``) and the published numbers.

Three jobs live here:

1. **Download** (:func:`download_release`): fetch the release's ``data/`` files from the pinned
   commit, following Git LFS pointers to the LFS media endpoint, and verify every size and sha256
   against :file:`reference/paper_release_manifest.csv` (and against the LFS pointer's own oid).
2. **Import** (:func:`import_release`): map the release onto the native data contract
   (participants, conversations, messages, scores) and onto the optional cohort files
   perception.csv, elo.csv and themes.csv. Every mapping is listed in :data:`MAPPINGS`, written into
   the import record and documented in ``docs/paper_release.md``; every value that is set missing or
   left out is listed in the import issues table with its file, row, column and reason.
3. **Published versus reproduced** (:func:`compare_published`): each published number (stored in
   :file:`reference/` with its source) beside the value the pipeline reproduced, and whether they
   agree at the published precision.

What the release holds (commit ``c83641805333df0d435cb172a4460e34615a8254``, folder ``data/``), as the
authors' notebook shows it:

* ``experiment_1.csv`` (Git LFS): one row per supporter message (``id``, ``user_message``,
  ``message_count`` vary over a conversation's rows; the conversation-level fields repeat; an optional
  leading index column). Deduplicated on conversation_id; repeated rows that disagree on a
  conversation-level column are an error. The primary analysis needs only this file.
* ``elo_rankings.csv``: a leading unnamed index restarting at 0 in each starter block, conversation_id,
  elo_rating, ..., ``starter`` as a label with spaces (``job loss``); conversation 1 of every participant
  and conversations 2-3 of the two coach arms.
* ``experiment_2.csv``: the perception task (participant_id, scenario, conversation_left_id,
  conversation_right_id, participant_choice (some empty), select_higher_annotation, score columns).
* ``all_themes.csv``: theme codes of transcript messages (user_id, conversation_number, condition,
  theme = the trouble type, turn_number, text, ``Level 1``, ``Level 2`` and the Level 3 interpretation
  column in one of three spellings); joined to conversations on (user_id, conversation_number).

The three optional files feed optional analysis families only: one that cannot be mapped is marked
unavailable (with the reason) and the primary analysis runs without it. Every file is checked
against the pinned tree (sha256 where published, git blob ids) unless the cohort declares
``verify_checksums: false``.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.adapters.download import (
    ReleaseChecksumError,
    ReleaseDownloadError,
    checksum_mismatch,
    fetch_to,
    parse_lfs_pointer,
    pinned_blob_id,
    release_url,
)
from analysis.cohorts.contract import CONTROL_CHARACTERS, IDENTIFIER_PATTERN, IDENTIFIER_RULE, duplicate_issues, read_csv_text
from analysis.cohorts.native import CohortTables
from analysis.cohorts.optional import ELO_COLUMNS
from analysis.cohorts.privacy import WITHHELD, excerpt, withhold_cited_values
from analysis.constants import (
    DIMENSIONS,
    EMPATHY_ITEMS,
    SCENARIO_OPENING_LINES,
    SCENARIO_TROUBLE_TYPE,
    SCORE_MAX,
    SCORE_MIN,
    SELF_RATINGS,
    THEME_CATEGORIES,
)
from analysis.errors import CohortValidationError, ConfigError, InputFileError, PipelineError, ValidationIssue
from analysis.runtime import atomic
from analysis.runtime.checksums import file_checksums

__all__ = [
    "issue_rows", "REFERENCE_DIR", "MANIFEST_PATH", "COMPARISONS_PATH", "RELEASE_REPOSITORY", "RELEASE_COMMIT", "RAW_BASE",
    "MEDIA_BASE", "RELEASE_FILES", "CONDITION_ARMS", "TEXT_LEVELS", "MISSING_MARKERS", "CHOICE_SIDES", "EXPERIMENT_1_COLUMNS",
    "PARTICIPANT_LEVEL_COLUMNS", "EXPERIMENT_2_COLUMNS", "THEMES_COLUMNS", "INTERPRETATION_COLUMNS",
    "NATIVE_THEME_COLUMNS", "OPTIONAL_SOURCES", "OPTIONAL_FAMILIES", "OPTIONAL_COLUMNS", "RELEASE_JUDGE", "SYNTHETIC_MARKER",
    "ISSUE_COLUMNS", "MAPPINGS", "release_marks_synthetic", "read_manifest", "verify_release_files", "download_release",
    "read_release_csv", "normalise_text", "match_scenarios", "deduplicate_conversations", "parse_transcripts",
    "ReleaseImport", "import_release", "write_import_record", "COMPARISON_COLUMNS", "RESULT_REQUIREMENTS",
    "result_requirement", "decimals_of", "round_half_up", "agrees_at_precision", "read_comparisons", "compare_published",
    "read_text_csv",
]

log = logging.getLogger(__name__)

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"
MANIFEST_PATH = REFERENCE_DIR / "paper_release_manifest.csv"
COMPARISONS_PATH = REFERENCE_DIR / "published_comparisons.csv"

RELEASE_REPOSITORY = "aakriti1kumar/replication-data-and-code-practicing-with-llms-cultivates-human-empathic-communication"
RELEASE_COMMIT = "c83641805333df0d435cb172a4460e34615a8254"
RAW_BASE = f"https://raw.githubusercontent.com/{RELEASE_REPOSITORY}/{RELEASE_COMMIT}/"
MEDIA_BASE = f"https://media.githubusercontent.com/media/{RELEASE_REPOSITORY}/{RELEASE_COMMIT}/"

# The release files the adapter reads, by role, as paths inside the release.
RELEASE_FILES: dict[str, str] = {
    "experiment_1": "data/experiment_1.csv",
    "elo_rankings": "data/elo_rankings.csv",
    "experiment_2": "data/experiment_2.csv",
    "all_themes": "data/all_themes.csv",
}

# The release's condition names -> the registered arms.
CONDITION_ARMS: dict[str, str] = {
    "Control": "control",
    "Influencer": "video",
    "AICoach": "coach",
    "CoachPlusInfluencer": "combined",
}
# Text answers of the baseline empathy items (and of self-ratings, should they be text) -> 1-5.
TEXT_LEVELS: dict[str, int] = {"not_at_all": 1, "slightly": 2, "somewhat": 3, "quite_a_bit": 4, "very_much": 5}
# Prolific's placeholders for withdrawn demographics: imported as missing.
MISSING_MARKERS: frozenset[str] = frozenset({"data_expired", "consent_revoked", "revoked", "n/a", "na", "none"})
# Perception choices -> left/right (the authors' notebook accepts the same spellings).
CHOICE_SIDES: dict[str, str] = {
    "left": "left", "a": "left", "conversation_a": "left",
    "right": "right", "b": "right", "conversation_b": "right",
}

# Columns of experiment_1.csv the adapter reads (the authors' conversation-level columns).
EXPERIMENT_1_COLUMNS: tuple[str, ...] = (
    "user_id", "conversation_id", "conversation", "seeker_count", "supporter_count", *SELF_RATINGS,
    *DIMENSIONS, "conversation_number", "starter", "condition", "Age", "Sex",
    *(f"baseline_empathy_item_{k}" for k in range(1, 9)),
)
PARTICIPANT_LEVEL_COLUMNS: tuple[str, ...] = ("condition", "Age", "Sex", *(f"baseline_empathy_item_{k}" for k in range(1, 9)))
EXPERIMENT_2_COLUMNS: tuple[str, ...] = ("participant_id", "scenario", "conversation_left_id", "conversation_right_id", "participant_choice")
THEMES_COLUMNS: tuple[str, ...] = ("user_id", "conversation_number", "turn_number", "Level 1", "Level 2")
# The Level 3 interpretation column is spelled in three ways across the authors' files.
INTERPRETATION_COLUMNS: tuple[str, ...] = ("Level 3 - interpretation", "Interpretation", "interpretation")
# Columns of the native themes.csv the import writes: the Level 3 theme, its category (from Level 1)
# and its two parent levels.
NATIVE_THEME_COLUMNS: list[str] = ["conversation_id", "turn", "theme", "category", "theme_level2", "theme_level1"]
# The optional cohort files, the release file each comes from, and the analysis families that need it.
OPTIONAL_SOURCES: dict[str, str] = {"perception": "experiment_2", "elo": "elo_rankings", "themes": "all_themes"}
OPTIONAL_FAMILIES: dict[str, str] = {
    "perception": "the perception task (logit, gap bins, Bradley-Terry strengths)",
    "elo": "the perception task against the LLM's Elo ranking",
    "themes": "the theme change analyses (Level 3 and Level 2)",
}
OPTIONAL_COLUMNS: dict[str, list[str]] = {
    "perception": ["rater_id", "pair_id", "scenario", "conversation_left_id", "conversation_right_id", "choice"],
    "elo": ["conversation_id", "elo_rating"],
    "themes": NATIVE_THEME_COLUMNS,
}
RELEASE_JUDGE = "paper_judge"
# A column only simulated releases (analysis.simulate.release) have: the import record then says synthetic.
SYNTHETIC_MARKER = "synthetic_data"

ISSUE_COLUMNS = ["file", "row", "column", "value", "action", "reason"]

# Every mapping from the release onto the native contract, as written into the import record.
MAPPINGS: dict[str, str] = {
    "participants.participant_id": "experiment_1.user_id",
    "participants.arm": "experiment_1.condition: " + ", ".join(f"{k} -> {v}" for k, v in CONDITION_ARMS.items()),
    "participants.age": "experiment_1.Age as an integer; Prolific placeholders (DATA_EXPIRED, CONSENT_REVOKED) -> missing",
    "participants.sex": "experiment_1.Sex in lower case; Prolific placeholders -> missing",
    "participants.empathy_item_k": "experiment_1.baseline_empathy_item_k: "
    + ", ".join(f"{k} -> {v}" for k, v in TEXT_LEVELS.items()) + " (integers 1-5 kept)",
    "conversations.conversation_id": "experiment_1.conversation_id (text; never read as a number)",
    "conversations.participant_id": "experiment_1.user_id",
    "conversations.conversation_number": "experiment_1.conversation_number",
    "conversations.scenario": "experiment_1.starter matched to the five opening lines (curly/straight quotes, "
    "ellipses, whitespace and case normalised) or to a scenario label such as 'job loss'",
    "conversations.trouble_type": "from the scenario: job_loss, promotion, undervalued -> workplace; loss_dad, mom_unwell -> personal",
    "conversations.self_*": "experiment_1.self_empathized, self_encourage_elaboration, self_showed_understanding, "
    "self_demonstrate_desire (integers 1-5 or the five text levels)",
    "messages": "experiment_1.conversation (one transcript per conversation, repeated on each supporter-message row) split into turns at lines starting 'Seeker:' or 'Supporter:'; turn = order; "
    "continuation lines belong to the turn above; text stripped of surrounding whitespace",
    "scores": f"experiment_1's six dimension columns, judge '{RELEASE_JUDGE}' (the release holds one judge's scores)",
    "perception.csv": "experiment_2: rater_id = participant_id; pair_id = the two conversation IDs sorted and joined by '~'; "
    "scenario matched as above; choice = participant_choice (left/a/conversation_a -> left, right/b/conversation_b -> right)",
    "elo.csv": "elo_rankings: conversation_id, elo_rating (leading index column restarting per starter block dropped)",
    "themes.csv": "all_themes: conversation_id from (user_id, conversation_number) (or its own conversation_id column); "
    "turn = turn_number; theme = the Level 3 interpretation; theme_level2 = Level 2; theme_level1 = Level 1; "
    "category from Level 1 through the configured mapping (paper_release.theme_categories); rows whose Level 1 is a "
    "configured placeholder (paper_release.junk_levels) left out and listed",
}


# --------------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------------
def release_marks_synthetic(experiment_1: str | Path) -> bool:
    """Whether a local ``experiment_1.csv`` is a simulated release's (its header has the marker column).

    Read at planning time, before the import, so that every table and figure of the cohort is
    labelled synthetic; a file that does not exist yet (a download) is not marked.
    """
    try:
        with open(experiment_1, encoding="utf-8-sig", errors="replace", newline="") as handle:
            header = next(csv.reader([handle.readline()]), [])
    except FileNotFoundError:
        return False
    return SYNTHETIC_MARKER in header


def read_manifest(path: str | Path = MANIFEST_PATH) -> pd.DataFrame:
    """The release manifest: path, size (nullable), sha256 (empty when unpublished), git_blob (the blob id
    in the pinned tree; for a Git LFS file, the pointer's), lfs, content, source."""
    manifest = pd.read_csv(path, dtype={"path": str, "sha256": str, "git_blob": str, "content": str, "source": str},
                           keep_default_na=False)
    if "git_blob" not in manifest.columns:
        manifest["git_blob"] = ""
    manifest["size"] = pd.to_numeric(manifest["size"].replace("", None), errors="raise").astype("Int64")
    return manifest


def verify_release_files(files: Mapping[str, str | Path], manifest: pd.DataFrame, verify: bool = True) -> dict[str, dict]:
    """Check local release files against the pinned tree.

    Each file's sha256 (and size) is compared with the manifest where the authors published it, and
    its git blob id with the blob id of the pinned tree. For the Git LFS file the tree holds the
    pointer: the content is checked by sha256 and size, and the pointer those make must have the
    pinned pointer's blob id.

    Parameters
    ----------
    files : mapping
        Paths of the release files by role (keys of :data:`RELEASE_FILES`; absent optional files omitted).
    manifest : pandas.DataFrame
        The manifest (:func:`read_manifest`).
    verify : bool
        False for a copy that is not the authors' (reconstructed, partial): the checksums are
        recorded, nothing is compared, and each file is marked unverified.

    Returns
    -------
    dict of str to dict
        Per role: name, size, sha256, git_blob, verified (bool) and verified_against.

    Raises
    ------
    InputFileError
        When a file is a Git LFS pointer instead of the data (a clone without ``git lfs pull``).
    ReleaseChecksumError
        Naming the file, the expected and the actual checksum on the first mismatch.
    """
    by_path = manifest.set_index("path")
    records = {}
    for role, path in sorted(files.items()):
        path = Path(path)
        sums = file_checksums(path)
        if sums["size"] <= 1024 and parse_lfs_pointer(path.read_bytes()) is not None:
            raise InputFileError(
                f"{path}: this is a Git LFS pointer, not the data; run `git lfs pull` in the copy, or leave out the "
                "cohort's `path` to download the pinned release"
            )
        entry = by_path.loc[RELEASE_FILES[role]]
        checked = []
        if verify:
            expected_size = None if pd.isna(entry["size"]) else int(entry["size"])
            lfs = bool(entry["git_blob"]) and str(entry["lfs"]).lower() == "true"
            mismatch = checksum_mismatch(sums, sha256=entry["sha256"], size=expected_size, git_blob=entry["git_blob"], lfs=lfs)
            if mismatch == "sha256":
                raise ReleaseChecksumError(
                    f"{path}: checksum mismatch against the pinned release ({RELEASE_FILES[role]} at commit {RELEASE_COMMIT[:12]}): "
                    f"expected sha256 {entry['sha256']} ({expected_size} bytes), actual sha256 {sums['sha256']} ({sums['size']} bytes); "
                    "declare `verify_checksums: false` for a copy that is not the authors'"
                )
            if mismatch == "git_blob":
                what = "git blob id of the Git LFS pointer of the content" if lfs else "git blob id"
                raise ReleaseChecksumError(
                    f"{path}: checksum mismatch against the pinned release ({RELEASE_FILES[role]} at commit {RELEASE_COMMIT[:12]}): "
                    f"expected {what} {entry['git_blob']}, actual {pinned_blob_id(sums, lfs)}; "
                    "declare `verify_checksums: false` for a copy that is not the authors'"
                )
            if entry["sha256"]:
                checked.append("sha256")
            if entry["git_blob"]:
                checked.append("git blob (LFS pointer)" if lfs else "git blob")
        records[role] = {"name": path.name, **sums, "verified": bool(verify and checked),
                         "verified_against": " and ".join(checked) if verify else "not verified (verify_checksums: false)"}
    return records


def download_release(
    destination: str | Path,
    manifest: pd.DataFrame | None = None,
    raw_base: str = RAW_BASE,
    media_base: str = MEDIA_BASE,
    timeout: float = 120.0,
) -> list[dict]:
    """Download the release's files from the pinned commit and verify them.

    Each file is fetched from ``raw_base + path``. When that is a Git LFS pointer, the content is
    fetched from ``media_base + path`` (GitHub's LFS media endpoint) and checked against the
    pointer's size and oid. Sizes and sha256 published in the manifest are checked too; a file whose
    checksum is not published is verified against its LFS pointer when it has one, and its sha256
    is recorded either way.

    Parameters
    ----------
    destination : str or Path
        Directory receiving the files under their release paths (``data/experiment_1.csv``, ...).
    manifest : pandas.DataFrame, optional
        The manifest (:func:`read_manifest`); the packaged one by default.
    raw_base, media_base : str
        URL prefixes (ending in ``/``) of the raw files and of the LFS media endpoint at the pinned
        commit; tests point them at a local server or ``file://`` folder.
    timeout : float
        Seconds to wait for each connection.

    Returns
    -------
    list of dict
        Per file: path, url, size, sha256, lfs (bool) and verified_against (``manifest``,
        ``lfs pointer``, both, or ``recorded only``).

    Raises
    ------
    ReleaseChecksumError
        Naming the file, the expected and the received size or sha256 on any mismatch.
    ReleaseDownloadError
        Naming the file and the URL that could not be fetched.

    Nothing is left at the destination for a file that fails.
    """
    manifest = read_manifest() if manifest is None else manifest
    destination = Path(destination)
    records = []
    for entry in manifest.itertuples(index=False):
        target = destination / entry.path
        url = release_url(raw_base, entry.path)
        log.info("downloading %s", url)
        # The file reaches ``target`` only once every check passed (analysis.runtime.atomic removes it otherwise).
        with atomic.atomic_open(target, "wb") as handle:
            partial = Path(handle.name)
            try:
                size, sha256 = fetch_to(url, handle, timeout)
                pointer = parse_lfs_pointer(partial.read_bytes()) if size <= 1024 else None
                expected_blob = getattr(entry, "git_blob", "")
                if expected_blob:
                    actual_blob = file_checksums(partial)["git_blob"]
                    if checksum_mismatch({"git_blob": actual_blob}, git_blob=expected_blob):
                        raise ReleaseChecksumError(
                            f"{entry.path}: checksum mismatch against the pinned tree: expected git blob id {expected_blob}, "
                            f"received {actual_blob} ({size} bytes from {url})"
                        )
                if pointer is not None:
                    url = release_url(media_base, entry.path)
                    log.info("  %s is a Git LFS pointer (%s bytes); fetching %s", entry.path, pointer["size"], url)
                    size, sha256 = fetch_to(url, handle, timeout)
                    if checksum_mismatch({"size": size, "sha256": sha256}, sha256=pointer["sha256"], size=pointer["size"]):
                        raise ReleaseChecksumError(
                            f"{entry.path}: the LFS content does not match its pointer: expected {pointer['size']} bytes, "
                            f"sha256 {pointer['sha256']}; received {size} bytes, sha256 {sha256}"
                        )
            except OSError as error:
                raise ReleaseDownloadError(f"{entry.path}: could not download {url}: {error}") from error
            verified = ["lfs pointer"] if pointer is not None else []
            if getattr(entry, "git_blob", ""):
                verified.append("git blob")
            expected_size = None if pd.isna(entry.size) else int(entry.size)
            if entry.sha256:
                if checksum_mismatch({"size": size, "sha256": sha256}, sha256=entry.sha256, size=expected_size):
                    raise ReleaseChecksumError(
                        f"{entry.path}: checksum mismatch against {MANIFEST_PATH.name}: expected {expected_size} bytes, "
                        f"sha256 {entry.sha256}; received {size} bytes, sha256 {sha256}"
                    )
                verified.append("manifest")
        records.append(
            {"path": entry.path, "url": url, "size": size, "sha256": sha256, "lfs": pointer is not None,
             "verified_against": " and ".join(verified) or "recorded only"}
        )
        log.info("  %s: %s bytes, sha256 %s (%s)", entry.path, size, sha256, records[-1]["verified_against"])
    return records


# --------------------------------------------------------------------------------------------
# Reading and mapping
# --------------------------------------------------------------------------------------------
def read_release_csv(path: str | Path, required: Sequence[str], name: str) -> pd.DataFrame:
    """Read one release file with every column as text (IDs stay exact), checking its columns.

    Raises
    ------
    InputFileError
        When the file is missing, empty, not UTF-8 or not CSV, has no data rows or names a required
        column twice (:func:`analysis.cohorts.contract.read_csv_text`).
    CohortValidationError
        Naming every required column that is missing and the columns the file has.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: file not found; expected the release's {name}")
    frame = read_csv_text(path, only_once=required)
    frame = frame.drop(columns=[c for c in frame.columns if c == "" or c.startswith("Unnamed:")])
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise CohortValidationError(
            [ValidationIssue(str(path), None, column, None, f"a column with this name in the release's {name} (found: {list(frame.columns)})")
             for column in missing]
        )
    return frame


def normalise_text(values: pd.Series) -> pd.Series:
    """Text normalised for matching: NFKC (so an ellipsis character becomes ``...``), curly quotes
    made straight, runs of dots collapsed, whitespace collapsed, trailing punctuation dropped, lower case."""
    text = values.fillna("").map(lambda value: unicodedata.normalize("NFKC", value))
    text = text.str.replace(r"[\u2018\u2019\u201a\u201b\u2032`]", "'", regex=True)
    text = text.str.replace(r"[\u201c\u201d\u201e\u201f\u2033]", '"', regex=True)
    text = text.str.replace(r"\.{2,}", "..", regex=True)
    text = text.str.replace(r"\s+", " ", regex=True).str.strip()
    text = text.str.replace(r"[\s.!?]+$", "", regex=True)
    return text.str.lower()


def _label(values: pd.Series) -> pd.Series:
    return values.fillna("").str.strip().str.lower().str.replace(r"[^a-z0-9]+", "_", regex=True).str.strip("_")


def match_scenarios(starters: pd.Series) -> pd.Series:
    """Scenario of each opening line or scenario label (NaN where nothing matches).

    A value matches a scenario when, after :func:`normalise_text`, it equals the scenario's opening
    line, when one of the two starts with the other (a truncated line), or when it is the
    scenario's label in any spelling (``job loss``, ``Job-Loss``, ``job_loss``).
    """
    normalised = normalise_text(starters)
    lines = normalise_text(pd.Series(list(SCENARIO_OPENING_LINES.values()), index=list(SCENARIO_OPENING_LINES)))
    result = pd.Series(np.nan, index=starters.index, dtype=object)
    labels = _label(starters)
    result[labels.isin(SCENARIO_TROUBLE_TYPE)] = labels[labels.isin(SCENARIO_TROUBLE_TYPE)]
    lengths = normalised.str.len().to_numpy()
    for scenario, line in lines.items():
        prefixes = np.array([line[:n] for n in range(len(line) + 1)], dtype=object)
        line_starts_with_value = normalised.to_numpy(dtype=object) == prefixes[np.minimum(lengths, len(line))]
        matches = (normalised == line) | ((lengths >= 20) & (line_starts_with_value | normalised.str.startswith(line)))
        result[result.isna() & matches] = scenario
    return result


def _levels(values: pd.Series) -> pd.Series:
    """Integers 1-5 or the five text levels -> Int64 (NaN for anything else, including missing)."""
    text = values.fillna("").str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    numeric = numeric.where(numeric.isin([1, 2, 3, 4, 5]))
    labelled = _label(values).map(TEXT_LEVELS)
    return numeric.fillna(labelled).astype("Int64")


def issue_rows(frame: pd.DataFrame, mask: pd.Series, file: str, column: str, action: str, reason: str) -> pd.DataFrame:
    """Rows of ``import_issues.csv`` for the rows of ``frame`` that ``mask`` marks: 1-based row, the ``column``'s
    value as a scrubbed excerpt, what the import did (``action``) and why.

    Parameters
    ----------
    frame : pandas.DataFrame
        A release file as read (default integer index: row ``i`` is the file's data row ``i + 1``).
    mask : pandas.Series of bool
        The rows to list, aligned with ``frame``.
    file, column : str
        The release file's name and the column whose value is excerpted.
    action, reason : str
        What the import did with each row and why.

    Returns
    -------
    pandas.DataFrame
        ``ISSUE_COLUMNS`` (``file, row, column, value, action, reason``), one row per marked row.
    """
    rows = frame.index[mask.to_numpy()]
    return pd.DataFrame(
        {"file": file, "row": (rows + 1).astype(int), "column": column, "value": excerpt(frame.loc[rows, column].fillna("").astype(str)).to_numpy(),
         "action": action, "reason": reason},
        columns=ISSUE_COLUMNS,
    )


def deduplicate_conversations(frame: pd.DataFrame, file: str) -> tuple[pd.DataFrame, int]:
    """One row per conversation_id from experiment_1's repeated rows.

    Returns the first row of each conversation (index: the row's position in the file) and the
    number of repeated rows collapsed.

    Raises
    ------
    CohortValidationError
        Listing every conversation whose repeated rows disagree on a conversation-level column
        (with the rows and the distinct values), and every participant whose conversations disagree
        on a participant-level column (condition, Age, Sex, baseline items).
    """
    issues = []
    columns = [c for c in EXPERIMENT_1_COLUMNS if c != "conversation_id"]
    distinct = frame.groupby("conversation_id", sort=True)[columns].nunique(dropna=False)
    for conversation_id, row in distinct[(distinct > 1).any(axis=1)].iterrows():
        rows = frame.index[frame["conversation_id"] == conversation_id] + 1
        for column in row.index[row > 1]:
            values = sorted(frame.loc[frame["conversation_id"] == conversation_id, column].fillna("<empty>").unique().tolist())
            issues.append(ValidationIssue(file, int(rows[1]), column, conversation_id,
                                          f"repeated rows of one conversation to agree (rows {list(map(int, rows))} hold {values})"))
    unique = frame.drop_duplicates("conversation_id", keep="first")  # keeps the file's row numbers (index + 1)
    per_participant = unique.groupby("user_id", sort=True)[list(PARTICIPANT_LEVEL_COLUMNS)].nunique(dropna=False)
    for user_id, row in per_participant[(per_participant > 1).any(axis=1)].iterrows():
        for column in row.index[row > 1]:
            values = sorted(unique.loc[unique["user_id"] == user_id, column].fillna("<empty>").unique().tolist())
            issues.append(ValidationIssue(file, None, column, user_id, f"one value per participant (their conversations hold {values})"))
    if issues:
        raise CohortValidationError(issues)
    return unique, int(len(frame) - len(unique))


def parse_transcripts(conversations: pd.Series) -> tuple[pd.DataFrame, list[str]]:
    """Split transcripts into messages (vectorised).

    Parameters
    ----------
    conversations : pandas.Series
        Transcripts indexed by conversation_id, turns as ``Seeker: ...`` / ``Supporter: ...`` lines;
        a line that starts with neither continues the turn above (multi-line turns).

    Returns
    -------
    messages : pandas.DataFrame
        conversation_id, turn (1, 2, ...), role (seeker or supporter), text.
    unparsed : list of str
        Conversations whose transcript does not start with a role prefix.
    """
    text = conversations.fillna("").str.replace("\r\n", "\n").str.replace("\r", "\n")
    turns = text.str.split(r"\n\s*(?=(?i:seeker|supporter)\s*:)", regex=True).explode()
    turns = turns[turns.str.strip() != ""]
    parts = turns.str.extract(r"^\s*(?P<role>(?i:seeker|supporter))\s*:[ \t]?(?P<text>.*)$", flags=re.S)
    unparsed = sorted(set(parts.index[parts["role"].isna()]))
    parts = parts.dropna(subset=["role"])
    messages = pd.DataFrame(
        {
            "conversation_id": parts.index.to_numpy(),
            "role": parts["role"].str.lower().to_numpy(),
            "text": parts["text"].str.strip().to_numpy(),
        }
    )
    messages.insert(1, "turn", messages.groupby("conversation_id", sort=False).cumcount().to_numpy() + 1)
    return messages, [str(value) for value in unparsed]


@dataclass(frozen=True)
class ReleaseImport:
    """The release mapped onto the native contract and the optional cohort files.

    Attributes
    ----------
    tables : CohortTables
        participants, conversations, messages, scores.
    perception, elo, themes : pandas.DataFrame
        The optional files perception.csv, elo.csv and themes.csv (no rows when unavailable).
    issues : pandas.DataFrame
        Every value set missing or record left out (file, row, column, value, action, reason).
    record : dict
        Counts, the mappings applied, checksums and verification of every release file read, and
        the availability of each optional file.
    unavailable : dict of str to str
        Optional file (perception, elo, themes) -> why its analysis families are skipped.
    """

    tables: CohortTables
    perception: pd.DataFrame
    elo: pd.DataFrame
    themes: pd.DataFrame
    issues: pd.DataFrame
    record: dict
    unavailable: dict


def _participants(unique: pd.DataFrame, file: str, arms: Sequence[str]) -> tuple[pd.DataFrame, list, list]:
    first = unique.drop_duplicates("user_id", keep="first")
    problems, issues = [], []
    arm = first["condition"].map(CONDITION_ARMS)
    for index in first.index[arm.isna() | ~arm.isin(list(arms))]:
        problems.append(ValidationIssue(file, int(index) + 1, "condition", first.loc[index, "condition"],
                                        f"one of {sorted(CONDITION_ARMS)} (mapped to the registered arms {list(arms)})"))
    age_text = first["Age"].fillna("").str.strip()
    age = pd.to_numeric(age_text, errors="coerce")
    bad_age = (age_text != "") & (age.isna() | (age != age.round()) | (age < 0) | (age > 120))
    issues.append(issue_rows(first, bad_age, file, "Age", "set missing", "not an integer age from 0 to 120 (e.g. a Prolific placeholder)"))
    sex = first["Sex"].str.strip().str.lower()
    placeholder = sex.isin(MISSING_MARKERS)
    issues.append(issue_rows(first, placeholder, file, "Sex", "set missing", "Prolific placeholder for withdrawn data"))
    # Integer columns are passed as .array (Int64): to_numpy() turns a missing value into NaN and 30 into
    # 30.0, which the native contract rejects as an integer.
    participants = pd.DataFrame(
        {
            "participant_id": first["user_id"].to_numpy(),
            "arm": arm.to_numpy(),
            "age": age.where(~bad_age).astype("Int64").array,
            "sex": sex.where(~placeholder).to_numpy(),
        }
    )
    for k, item in enumerate(EMPATHY_ITEMS, start=1):
        column = f"baseline_empathy_item_{k}"
        levels = _levels(first[column])
        for index in first.index[levels.isna() & first[column].notna()]:
            problems.append(ValidationIssue(file, int(index) + 1, column, first.loc[index, column],
                                            f"one of the text levels {list(TEXT_LEVELS)} or an integer 1-5"))
        participants[item] = levels.array
    return participants, problems, issues


def _conversations(unique: pd.DataFrame, file: str, conversations_per_participant: int | None) -> tuple[pd.DataFrame, list]:
    problems = []
    scenario = match_scenarios(unique["starter"])
    for index in unique.index[scenario.isna()]:
        problems.append(ValidationIssue(file, int(index) + 1, "starter", unique.loc[index, "starter"],
                                        "one of the five opening lines or a scenario label (docs/paper_release.md)"))
    number = pd.to_numeric(unique["conversation_number"], errors="coerce")
    number = number.where(np.isfinite(number) & (number == number.round()))
    expected = "an integer" if conversations_per_participant is None else f"an integer from 1 to {conversations_per_participant}"
    outside = number.isna()
    if conversations_per_participant is not None:
        outside |= (number < 1) | (number > conversations_per_participant)
    for index in unique.index[outside]:
        problems.append(ValidationIssue(file, int(index) + 1, "conversation_number", unique.loc[index, "conversation_number"], expected))
    numbered = pd.DataFrame({"user_id": unique["user_id"], "conversation_number": number}, index=unique.index).dropna()
    numbered["conversation_number"] = numbered["conversation_number"].astype("int64").astype(str)  # shown as 2, not 2.0
    problems += duplicate_issues(numbered, ["user_id", "conversation_number"], file, "each participant's conversation_number to be")
    conversations = pd.DataFrame(
        {
            "conversation_id": unique["conversation_id"].to_numpy(),
            "participant_id": unique["user_id"].to_numpy(),
            "conversation_number": number.astype("Int64").array,
            "scenario": scenario.to_numpy(),
            "trouble_type": scenario.map(SCENARIO_TROUBLE_TYPE).to_numpy(),
        }
    )
    for rating in SELF_RATINGS:
        levels = _levels(unique[rating])
        for index in unique.index[levels.isna() & unique[rating].notna()]:
            problems.append(ValidationIssue(file, int(index) + 1, rating, unique.loc[index, rating],
                                            f"an integer 1-5 or one of the text levels {list(TEXT_LEVELS)}"))
        conversations[rating] = levels.array
    return conversations, problems


def _scores(unique: pd.DataFrame, file: str) -> tuple[pd.DataFrame, list, pd.DataFrame]:
    problems = []
    long = unique.melt(id_vars=["conversation_id"], value_vars=list(DIMENSIONS), var_name="dimension", value_name="text")
    long["row"] = np.tile(unique.index.to_numpy() + 1, len(DIMENSIONS))
    long["score"] = pd.to_numeric(long["text"], errors="coerce")
    outside = long["text"].notna() & ~long["score"].between(SCORE_MIN, SCORE_MAX)
    for record in long[outside].itertuples():
        problems.append(ValidationIssue(file, int(record.row), record.dimension, record.text, "a number from 1 to 5"))
    missing = long[long["text"].isna()]
    issues = pd.DataFrame({"file": file, "row": missing["row"].to_numpy(), "column": missing["dimension"].to_numpy(), "value": "",
                           "action": "no score row", "reason": "the conversation has no score on this dimension"}, columns=ISSUE_COLUMNS)
    scored = long.dropna(subset=["score"])
    scores = pd.DataFrame({"conversation_id": scored["conversation_id"].to_numpy(), "judge": RELEASE_JUDGE,
                           "dimension": scored["dimension"].to_numpy(), "score": scored["score"].to_numpy()})
    return scores, problems, issues


def _perception(frame: pd.DataFrame, file: str) -> tuple[pd.DataFrame, list, pd.DataFrame]:
    problems = []
    choice = frame["participant_choice"].fillna("").str.strip().str.lower().map(CHOICE_SIDES)
    no_choice = frame["participant_choice"].isna()
    problems += _by_value(frame, choice.isna() & ~no_choice, file, "participant_choice", f"one of {sorted(CHOICE_SIDES)}")
    scenario = match_scenarios(frame["scenario"])
    problems += _by_value(frame, scenario.isna(), file, "scenario", "one of the five opening lines or a scenario label")
    for column in ("participant_id", "conversation_left_id", "conversation_right_id"):
        for index in frame.index[frame[column].isna()]:
            problems.append(ValidationIssue(file, int(index) + 1, column, None, "an ID (the cell is empty)"))
        for index in frame.index[frame[column].notna() & ~frame[column].fillna("").str.match(IDENTIFIER_PATTERN)]:
            problems.append(ValidationIssue(file, int(index) + 1, column, frame.loc[index, column], IDENTIFIER_RULE))
    issues = issue_rows(frame, no_choice, file, "participant_choice", "row left out", "no choice recorded")
    kept = ~no_choice
    left, right = frame["conversation_left_id"].fillna(""), frame["conversation_right_id"].fillna("")
    pair = np.where(left <= right, left + "~" + right, right + "~" + left)
    # what the perception rule checks (analysis.cohorts.optional.load_perception), named by the row of this file
    for index in frame.index[kept & (left != "") & (left == right)]:
        problems.append(ValidationIssue(file, int(index) + 1, "conversation_right_id", right[index], "a conversation other than conversation_left_id"))
    shown = pd.DataFrame({"rater": frame["participant_id"], "pair": pair}, index=frame.index)[kept]
    for index in shown.index[shown.duplicated(keep="first")]:
        problems.append(ValidationIssue(file, int(index) + 1, "participant_id", frame.loc[index, "participant_id"],
                                        f"each rater to choose once between two conversations (pair {pair[index]} repeats an earlier row)"))
    perception = pd.DataFrame(
        {
            "rater_id": frame["participant_id"],
            "pair_id": pair,
            "scenario": scenario,
            "conversation_left_id": left,
            "conversation_right_id": right,
            "choice": choice,
        }
    )[kept.to_numpy()].reset_index(drop=True)
    return perception, problems, issues


def _elo(frame: pd.DataFrame, file: str) -> tuple[pd.DataFrame, list]:
    problems = []
    rating = pd.to_numeric(frame["elo_rating"], errors="coerce")
    problems += _by_value(frame, ~np.isfinite(rating), file, "elo_rating", "a finite number")
    elo = pd.DataFrame({"conversation_id": frame["conversation_id"], "elo_rating": rating})
    conflicting = elo.groupby("conversation_id")["elo_rating"].nunique() > 1
    for conversation_id in conflicting.index[conflicting]:
        problems.append(ValidationIssue(file, None, "elo_rating", conversation_id, "one Elo rating per conversation"))
    return elo.drop_duplicates("conversation_id").reset_index(drop=True), problems


def _canonical(values: pd.Series) -> pd.Series:
    """Labels compared in any case and spacing (``Advice-Giving`` = ``advice-giving``)."""
    return values.fillna("").astype(str).str.replace(r"\s+", " ", regex=True).str.strip().str.casefold()


def _by_value(frame: pd.DataFrame, mask: pd.Series, file: str, column: str, expected: str) -> list[ValidationIssue]:
    """One issue per distinct bad value (first row, and how many rows hold it): a wrong mapping can
    touch thousands of rows, and the user needs the values, not every row."""
    issues = []
    bad = frame.loc[mask.to_numpy(), column].fillna("")
    for value, rows in bad.groupby(bad, sort=True).groups.items():
        issues.append(ValidationIssue(file, int(rows[0]) + 1, column, value, f"{expected} ({len(rows)} row(s))"))
    return issues


def _themes(
    frame: pd.DataFrame,
    file: str,
    conversations: pd.DataFrame,
    messages: pd.DataFrame,
    theme_categories: Mapping[str, Sequence[str]],
    junk_levels: Sequence[str],
) -> tuple[pd.DataFrame, list, list]:
    """all_themes.csv -> themes.csv (conversation_id, turn, theme, category, theme_level2, theme_level1)."""
    problems: list[ValidationIssue] = []
    present = [column for column in INTERPRETATION_COLUMNS if column in frame.columns]
    if len(present) != 1:
        raise CohortValidationError([ValidationIssue(
            file, None, " / ".join(INTERPRETATION_COLUMNS), None,
            f"exactly one Level 3 interpretation column, spelled {' or '.join(map(repr, INTERPRETATION_COLUMNS))} "
            f"(found {present or 'none'} among {list(frame.columns)})")])
    interpretation = present[0]
    if not theme_categories:
        raise ConfigError("paper_release.theme_categories is empty: the Level 1 labels of all_themes.csv cannot be mapped onto "
                          "categories (config/config.yaml holds the mapping for the authors' release; pass it with --configfile)")
    label_of: dict[str, tuple[str, str]] = {}
    for category, labels in theme_categories.items():
        if category not in THEME_CATEGORIES:
            raise ConfigError(f"paper_release.theme_categories: {category!r} is not one of {list(THEME_CATEGORIES)}")
        for label in labels:
            label_of.setdefault(_canonical(pd.Series([label])).iloc[0], (category, label))
    junk = set(_canonical(pd.Series(list(junk_levels), dtype=object)))
    level1 = _canonical(frame["Level 1"])
    is_junk = level1.isin(junk)
    category = level1.map(lambda key: label_of.get(key, (None, None))[0])
    known_labels = sorted({label for _, label in label_of.values()})
    problems += _by_value(frame, ~is_junk & category.isna(), file, "Level 1",
                          f"a Level 1 theme of paper_release.theme_categories ({known_labels}) or a placeholder of "
                          f"paper_release.junk_levels ({list(junk_levels)})")
    turn = pd.to_numeric(frame["turn_number"], errors="coerce")
    bad_turn = turn.isna() | (turn < 1) | (turn != turn.round())
    problems += _by_value(frame, bad_turn & ~is_junk, file, "turn_number", "an integer of at least 1 (the message's position in the transcript)")
    if "conversation_id" in frame.columns:
        conversation_id = frame["conversation_id"]
    else:
        number = pd.to_numeric(frame["conversation_number"], errors="coerce")
        keyed = pd.DataFrame({"participant_id": frame["user_id"].to_numpy(), "conversation_number": number.to_numpy(dtype=float)})
        lookup = conversations[["participant_id", "conversation_number", "conversation_id"]].astype({"conversation_number": float})
        conversation_id = pd.Series(keyed.merge(lookup, how="left", on=["participant_id", "conversation_number"])["conversation_id"].to_numpy(),
                                    index=frame.index)
    level3 = frame[interpretation].fillna("").str.strip()
    level2 = frame["Level 2"].fillna("").str.strip()
    issues = [issue_rows(frame, is_junk, file, "Level 1", "row left out", "placeholder Level 1 (no theme coded; paper_release.junk_levels)")]
    kept = ~is_junk & category.notna() & ~bad_turn
    no_conversation = kept & conversation_id.isna()
    issues.append(issue_rows(frame, no_conversation, file, "conversation_number", "row left out",
                          "no conversation of experiment_1.csv has this user_id and conversation_number"))
    kept &= ~no_conversation
    known = pd.MultiIndex.from_frame(messages[["conversation_id", "turn"]].astype({"turn": "int64"}))
    keys = pd.MultiIndex.from_arrays([conversation_id.fillna("").to_numpy(), turn.fillna(0).astype("int64").to_numpy()])
    not_a_message = kept & ~pd.Series(keys.isin(known), index=frame.index)
    issues.append(issue_rows(frame, not_a_message, file, "turn_number", "row left out",
                          "the conversation's transcript has no message with this number"))
    kept &= ~not_a_message
    for column, values in ((interpretation, level3), ("Level 2", level2)):
        empty = kept & (values == "")
        issues.append(issue_rows(frame, empty, file, column, "row left out", f"empty {column}"))
        kept &= ~empty
    # a theme is one line of text (analysis.cohorts.optional.validate_themes)
    problems += _by_value(frame, kept & level3.str.contains("\n", regex=False), file, interpretation, "a Level 3 theme on one line")
    if "theme" in frame.columns:
        trouble = conversation_id.map(conversations.set_index("conversation_id")["trouble_type"])
        differs = kept & (frame["theme"].fillna("").str.strip().str.lower() != trouble.fillna(""))
        issues.append(issue_rows(frame, differs, file, "theme", "kept",
                              "the row's trouble type (column theme) differs from the conversation's scenario in experiment_1.csv"))
    themes = pd.DataFrame(
        {
            "conversation_id": conversation_id,
            "turn": turn.astype("Int64"),
            "theme": level3,
            "category": category,
            "theme_level2": level2,
            "theme_level1": level1.map(lambda key: label_of.get(key, (None, None))[1]),
        }
    )[kept.to_numpy()]
    duplicated = themes.duplicated(["conversation_id", "turn", "theme"])
    issues.append(issue_rows(frame.loc[themes.index], duplicated, file, interpretation, "row left out",
                          "the same theme coded twice on one message"))
    themes = themes[~duplicated.to_numpy()]
    for child, parent, expected in (("theme", "category", "one category per Level 3 theme"),
                                    ("theme", "theme_level2", "one Level 2 parent per Level 3 theme"),
                                    ("theme_level2", "category", "one category per Level 2 theme")):
        counts = themes.groupby(child, sort=True)[parent].nunique()
        for value in counts.index[counts > 1]:
            rows = themes.index[themes[child] == value]
            problems.append(ValidationIssue(file, int(rows[0]) + 1, interpretation if child == "theme" else "Level 2", value,
                                            f"{expected} (found {sorted(themes.loc[rows, parent].unique())})"))
    if not problems and themes.empty:
        problems.append(ValidationIssue(file, None, "Level 1", None, "at least one row with a theme that maps onto a message"))
    themes = themes.sort_values(["conversation_id", "turn", "theme"], kind="stable").reset_index(drop=True)
    return themes[NATIVE_THEME_COLUMNS], problems, issues


def _references(frame: pd.DataFrame, file: str, columns: Sequence[str], conversation_ids: pd.Series) -> list[ValidationIssue]:
    """Conversation IDs of an optional file that experiment_1.csv does not hold (one issue per ID)."""
    problems = []
    known = set(conversation_ids)
    for column in columns:
        values = frame[column].dropna()
        unknown = values[~values.isin(known)]
        for value, rows in unknown.groupby(unknown, sort=True).groups.items():
            problems.append(ValidationIssue(file, int(rows[0]) + 1, column, value, f"a conversation_id of experiment_1.csv ({len(rows)} row(s))"))
    return problems


def _primary(path: Path, name: str, arms: Sequence[str], conversations_per_participant: int | None
             ) -> tuple[CohortTables, pd.DataFrame, int, int, bool]:
    """experiment_1.csv -> the four native tables (the registered primary analysis needs nothing else),
    the issues, the file's rows, the repeated rows collapsed and whether the file is synthetic."""
    experiment_1 = read_release_csv(path, EXPERIMENT_1_COLUMNS, "experiment_1.csv")
    not_ids = [
        ValidationIssue(name, int(index) + 1, column, None if pd.isna(experiment_1.loc[index, column]) else experiment_1.loc[index, column],
                        IDENTIFIER_RULE)
        for column in ("user_id", "conversation_id")
        for index in experiment_1.index[~experiment_1[column].fillna("").str.match(IDENTIFIER_PATTERN)]
    ]
    if not_ids:
        raise CohortValidationError(not_ids)
    unique, collapsed = deduplicate_conversations(experiment_1, name)
    log.info("experiment_1: %s rows -> %s conversations (%s repeated rows collapsed)", len(experiment_1), len(unique), collapsed)
    problems: list[ValidationIssue] = []
    issue_frames = []
    participants, found, issues = _participants(unique, name, arms)
    problems += found
    issue_frames += issues
    conversations, found = _conversations(unique, name, conversations_per_participant)
    problems += found
    scores, found, issues = _scores(unique, name)
    problems += found
    issue_frames.append(issues)
    messages, unparsed = parse_transcripts(unique.set_index("conversation_id")["conversation"])
    row_of = pd.Series(unique.index + 1, index=unique["conversation_id"])
    for conversation_id in unparsed:
        problems.append(ValidationIssue(name, int(row_of[conversation_id]), "conversation", conversation_id,
                                        "a transcript of lines starting 'Seeker:' or 'Supporter:'"))
    for conversation_id in messages.loc[messages["text"].str.contains(CONTROL_CHARACTERS, regex=True), "conversation_id"].unique():
        problems.append(ValidationIssue(name, int(row_of[conversation_id]), "conversation", conversation_id,
                                        "a transcript without control characters (tab, newline and carriage return are allowed)"))
    # the native contract needs at least one message and one score
    if messages.empty:
        problems.append(ValidationIssue(name, None, "conversation", None, "at least one transcript with a turn (none has one)"))
    if scores.empty:
        problems.append(ValidationIssue(name, None, ", ".join(DIMENSIONS), None, "at least one score (every score cell is empty)"))
    if problems:
        raise CohortValidationError(problems)
    counts = messages.pivot_table(index="conversation_id", columns="role", values="turn", aggfunc="count").reindex(
        columns=["seeker", "supporter"]).reindex(unique["conversation_id"]).fillna(0)
    declared = unique.set_index("conversation_id")[["seeker_count", "supporter_count"]].apply(pd.to_numeric, errors="coerce")
    declared = declared.where(np.isfinite(declared))  # an infinite count is no count
    differs = (counts["seeker"] != declared["seeker_count"]) | (counts["supporter"] != declared["supporter_count"])
    differs &= declared.notna().all(axis=1)
    issue_frames.append(pd.DataFrame(
        {"file": name, "row": row_of[differs.index[differs]].to_numpy(), "column": "conversation",
         "value": [f"{int(counts.loc[c, 'seeker'])} seeker / {int(counts.loc[c, 'supporter'])} supporter turns parsed; declared "
                   f"{int(declared.loc[c, 'seeker_count'])} / {int(declared.loc[c, 'supporter_count'])}" for c in differs.index[differs]],
         "action": "kept as parsed", "reason": "parsed turn counts differ from seeker_count/supporter_count"}, columns=ISSUE_COLUMNS))
    tables = CohortTables(
        participants=participants.sort_values("participant_id", kind="stable").reset_index(drop=True),
        conversations=conversations.sort_values(["participant_id", "conversation_number"], kind="stable").reset_index(drop=True),
        messages=messages.sort_values(["conversation_id", "turn"], kind="stable").reset_index(drop=True),
        scores=scores.sort_values(["conversation_id", "judge", "dimension"], kind="stable").reset_index(drop=True),
    )
    return tables, pd.concat(issue_frames, ignore_index=True), len(experiment_1), collapsed, SYNTHETIC_MARKER in experiment_1.columns


def import_release(
    files: Mapping[str, str | Path],
    arms: Sequence[str],
    theme_categories: Mapping[str, Sequence[str]],
    junk_levels: Sequence[str],
    verify_checksums: bool = True,
    manifest: pd.DataFrame | None = None,
    conversations_per_participant: int | None = None,
    withhold_values: bool = False,
) -> ReleaseImport:
    """Map the authors' release onto the native contract and the optional cohort files.

    The primary step (``experiment_1.csv`` -> participants, conversations, messages, scores) must
    succeed. Each optional file is mapped on its own: one that is missing or cannot be mapped is
    marked unavailable with the reason (its analysis families are then skipped for the cohort), and
    the rest of the import goes on.

    Parameters
    ----------
    files : mapping
        Paths of the release files by role (keys of :data:`RELEASE_FILES`); an optional role may be
        absent (a partial copy).
    arms : sequence of str
        The registered arms; every mapped condition must be one of them.
    theme_categories : mapping of str to sequence of str
        Category (affective, cognitive, motivational, misattuned) -> the ``Level 1`` labels of
        ``all_themes.csv`` that belong to it, in every spelling the release uses (any case and spacing).
    junk_levels : sequence of str
        ``Level 1`` placeholders of uncoded messages (``No match found``, ``unknown``, empty): rows left
        out and listed.
    verify_checksums : bool
        Compare every file with the pinned tree (:func:`verify_release_files`); False for a copy that
        is not the authors' (recorded as unverified).
    manifest : pandas.DataFrame, optional
        The manifest (:func:`read_manifest`); the packaged one by default.
    conversations_per_participant : int, optional
        The registered conversations per participant: a ``conversation_number`` outside 1 to this is
        an error (default: any integer).
    withhold_values : bool
        For a cohort whose IDs are pseudonymised: the issues table and the reasons name file, row and
        column but withhold the cited values (:func:`analysis.cohorts.privacy.withhold_cited_values`), which may
        be raw IDs.

    Returns
    -------
    ReleaseImport
        The native tables, perception/elo/themes (empty with their columns when unavailable), the
        optional files' availability, the issues table and the import record.

    Raises
    ------
    InputFileError
        When experiment_1.csv is missing or unreadable, or a file is a Git LFS pointer.
    PipelineError
        When a file's checksum differs from the pinned tree's (naming file, expected and actual).
    CohortValidationError
        Listing every problem of experiment_1.csv at once: missing columns, repeated rows that
        disagree, a participant whose conversations disagree on participant-level fields, unknown
        conditions, opening lines or text levels, non-numeric scores, transcripts without role prefixes.

    Notes
    -----
    Values that cannot be imported but are not errors (Prolific placeholders in Age/Sex, empty
    scores, perception rows without a choice, placeholder theme codes) are set missing or left out
    and listed in ``issues``; transcript turn counts that differ from seeker_count/supporter_count
    are listed too. An unavailable optional file adds one row (action ``file not imported``) naming
    the families skipped and why.
    """
    manifest = read_manifest() if manifest is None else manifest
    if "experiment_1" not in files:
        raise InputFileError("the release's experiment_1.csv is required (the primary analysis reads it)")
    present = {role: Path(path) for role, path in files.items() if role == "experiment_1" or Path(path).is_file()}
    if not present["experiment_1"].is_file():
        raise InputFileError(f"{present['experiment_1']}: file not found; expected the release's experiment_1.csv")
    checksums = verify_release_files(present, manifest, verify=verify_checksums)
    names = {role: Path(path).name for role, path in files.items()}
    tables, primary_issues, n_rows, collapsed, synthetic = _primary(present["experiment_1"], names["experiment_1"], arms,
                                                                   conversations_per_participant)
    issue_frames = [primary_issues]

    def perception_step(path: Path, name: str):
        frame = read_release_csv(path, EXPERIMENT_2_COLUMNS, "experiment_2.csv")
        perception, problems, issues = _perception(frame, name)
        problems += _references(frame, name, ["conversation_left_id", "conversation_right_id"], tables.conversations["conversation_id"])
        scenario_of = tables.conversations.set_index("conversation_id")["scenario"]
        chosen, scenario = frame["participant_choice"].notna(), match_scenarios(frame["scenario"])
        for side in ("conversation_left_id", "conversation_right_id"):
            expected = frame[side].map(scenario_of)
            for index in frame.index[chosen & expected.notna() & scenario.notna() & (expected != scenario)]:
                problems.append(ValidationIssue(name, int(index) + 1, "scenario", frame.loc[index, "scenario"],
                                                f"the scenario of {frame.loc[index, side]} in experiment_1.csv ({expected[index]})"))
        return perception, problems, [issues]

    def elo_step(path: Path, name: str):
        frame = read_release_csv(path, ELO_COLUMNS, "elo_rankings.csv")
        elo, problems = _elo(frame, name)
        problems += _references(frame, name, ["conversation_id"], tables.conversations["conversation_id"])
        return elo, problems, []

    def themes_step(path: Path, name: str):
        frame = read_release_csv(path, THEMES_COLUMNS, "all_themes.csv")
        return _themes(frame, name, tables.conversations, tables.messages, theme_categories, junk_levels)

    optional: dict[str, pd.DataFrame] = {}
    status: dict[str, dict] = {}
    for target, step in (("perception", perception_step), ("elo", elo_step), ("themes", themes_step)):
        role = OPTIONAL_SOURCES[target]
        file = Path(RELEASE_FILES[role]).name
        entry = {"source": file, "families": OPTIONAL_FAMILIES[target], "mapped": False, "available": False, "rows": 0, "reason": ""}
        if role not in present:
            entry["reason"] = f"{file}: file not found" + (f" at {files[role]}" if role in files else "")
        else:
            try:
                frame, problems, issues = step(present[role], names[role])
                if not problems and frame.empty:
                    # the rules reading the optional file need rows: a file without any is unavailable
                    problems = [ValidationIssue(names[role], None, None, None, f"at least one row to map onto {target}.csv (none is left)")]
                if problems:
                    raise CohortValidationError(problems)
            except (CohortValidationError, InputFileError, ConfigError) as error:
                entry["reason"] = f"{file} could not be mapped: {error}"
            else:
                optional[target] = frame
                issue_frames += issues
                entry.update(mapped=True, available=True, rows=len(frame))
        status[target] = entry
    if status["elo"]["available"] and not status["perception"]["available"]:
        status["elo"].update(available=False, reason="the Elo comparison needs perception.csv, which is unavailable: "
                             + status["perception"]["reason"])
    if withhold_values:
        for entry in status.values():
            if entry.get("reason"):
                entry["reason"] = withhold_cited_values(entry["reason"])
    for target, entry in status.items():
        if not entry["available"]:
            log.warning("%s unavailable, skipped for this cohort: %s", target, entry["reason"])
            issue_frames.append(pd.DataFrame([{
                "file": entry["source"], "row": pd.NA, "column": "", "value": "", "action": "file not imported",
                "reason": f"{entry['families']} skipped for this cohort: {entry['reason']}"}], columns=ISSUE_COLUMNS))

    issues = pd.concat([frame for frame in issue_frames if not frame.empty] or [pd.DataFrame(columns=ISSUE_COLUMNS)], ignore_index=True)
    issues["row"] = issues["row"].astype("Int64")
    if withhold_values:
        issues["value"] = issues["value"].where(issues["value"].isna() | (issues["value"] == ""), WITHHELD)
        issues["reason"] = withhold_cited_values(issues["reason"])
    issues = issues.sort_values(["file", "row", "column"], kind="stable", na_position="first").reset_index(drop=True)
    unverified = sorted(info["name"] for info in checksums.values() if not info["verified"])
    record = {
        "release": {"repository": RELEASE_REPOSITORY, "commit": RELEASE_COMMIT},
        "files": checksums,
        "verification": {"verified": not unverified, "unverified_files": unverified,
                         "policy": "checked against the pinned tree" if verify_checksums else "verify_checksums: false"},
        "optional": status,
        "rows": {
            "experiment_1": n_rows, "experiment_1_repeated_rows_collapsed": collapsed,
            **{name: len(optional.get(name, ())) for name in OPTIONAL_SOURCES},
            **{name: len(frame) for name, frame in tables.items()},
        },
        "issues": issues.groupby(["file", "column", "action"]).size().rename("n").reset_index().to_dict("records"),
        "judge": RELEASE_JUDGE,
        "synthetic": synthetic,
        "mappings": MAPPINGS,
    }
    frames = {name: optional.get(name, pd.DataFrame(columns=OPTIONAL_COLUMNS[name])) for name in OPTIONAL_SOURCES}
    unavailable = {name: entry["reason"] for name, entry in status.items() if not entry["available"]}
    return ReleaseImport(tables, frames["perception"], frames["elo"], frames["themes"], issues, record, unavailable)


def write_import_record(record: Mapping, path: str | Path) -> None:
    """Write the import record as sorted, indented JSON, atomically."""
    atomic.write_json(path, record, default=int)


# --------------------------------------------------------------------------------------------
# Published versus reproduced
# --------------------------------------------------------------------------------------------
COMPARISON_COLUMNS = [
    "quantity", "key", "published", "decimals", "reproduced", "reproduced_rounded", "agrees", "difference", "source",
    "published_file", "result_file", "note",
]
# Result folders (relative to results/NAME/) made only from an optional cohort file: the longest
# matching prefix names the file a result needs.
RESULT_REQUIREMENTS: dict[str, str] = {"perception/elo_": "elo", "perception/": "perception", "taxonomy/theme_": "themes"}


def result_requirement(result_file: str) -> str | None:
    """The optional cohort file (perception, elo, themes) a result file is made from, or None."""
    matches = [prefix for prefix in RESULT_REQUIREMENTS if result_file.startswith(prefix)]
    return RESULT_REQUIREMENTS[max(matches, key=len)] if matches else None


def decimals_of(text: str) -> int:
    """Number of decimals a published number was given with (``"0.040"`` -> 3, ``"2904"`` -> 0)."""
    text = str(text).strip()
    return len(text.split(".", 1)[1]) if "." in text else 0


def round_half_up(value: float, decimals: int) -> Decimal:
    """``value`` rounded half away from zero to ``decimals`` places (as a reader rounds)."""
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def agrees_at_precision(published: str, reproduced: float) -> bool:
    """Whether ``reproduced`` rounded to the published number of decimals equals the published number."""
    if reproduced is None or not np.isfinite(reproduced):
        return False
    try:
        target = Decimal(str(published).strip())
    except InvalidOperation as error:
        raise PipelineError(f"published value {published!r} is not a number") from error
    return round_half_up(reproduced, decimals_of(published)) == target


def _select(frame: pd.DataFrame, where: str, file: str) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for condition in filter(None, (part.strip() for part in str(where or "").split(";"))):
        column, _, value = condition.partition("=")
        if column not in frame.columns:
            raise PipelineError(f"{file}: no column {column!r} to select {condition!r} (columns: {list(frame.columns)})")
        mask &= frame[column].astype(str) == value
    return frame[mask]


def _statistic(values: pd.Series, statistic: str) -> float:
    values = pd.to_numeric(values, errors="coerce").dropna()
    if statistic == "value":
        if len(values) != 1:
            raise PipelineError(f"expected exactly one reproduced value, found {len(values)}")
        return float(values.iloc[0])
    functions = {"mean": lambda v: v.mean(), "sd": lambda v: v.std(ddof=1), "min": lambda v: v.min(), "max": lambda v: v.max(),
                 "count": lambda v: float(len(v))}
    if statistic not in functions:
        raise PipelineError(f"unknown statistic {statistic!r}; expected value, {', '.join(functions)}")
    return float(functions[statistic](values))


def read_comparisons(path: str | Path = COMPARISONS_PATH) -> pd.DataFrame:
    """The registry of published numbers and where the pipeline reproduces them (see docs/paper_release.md)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def compare_published(
    comparisons: pd.DataFrame,
    published: Mapping[str, pd.DataFrame],
    results: Mapping[str, pd.DataFrame],
    unavailable: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Each published number beside the value the pipeline reproduced.

    Parameters
    ----------
    comparisons : pandas.DataFrame
        The registry (:func:`read_comparisons`): per row, ``quantity``, ``published_file``,
        ``published_where`` and ``published_column`` (where the published number is), ``keys``
        (columns matched between the published and the result file, ``;``-separated), and
        ``result_file`` (relative to results/NAME/), ``result_where``, ``result_column``,
        ``statistic`` (value, mean, sd, min, max or count over the selected rows) and ``scale``.
    published : mapping of str to pandas.DataFrame
        Published reference files by file name, read as text (so the precision is kept).
    results : mapping of str to pandas.DataFrame
        The cohort's result files by their ``result_file`` name.
    unavailable : mapping of str to str, optional
        Result files the cohort cannot have (an optional input could not be imported) -> why: their
        published numbers are listed as not reproduced, with the reason in ``note``.

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARISON_COLUMNS`: the published number as written, its decimals, the reproduced
        value at full precision and rounded to those decimals, ``agrees`` (rounded reproduced equals
        published), ``difference`` (reproduced - published) and the source of the published number.
    """
    rows = []
    for spec in comparisons.to_dict("records"):
        table = published[spec["published_file"]]
        chosen = _select(table, spec["published_where"], spec["published_file"])
        keys = [key for key in spec["keys"].split(";") if key]
        scale = float(spec["scale"] or 1)
        missing = (unavailable or {}).get(spec["result_file"]) if spec["result_file"] not in results else None
        result = None if missing else results[spec["result_file"]]
        for record in chosen.to_dict("records"):
            if missing:
                rows.append({"quantity": spec["quantity"], "key": "; ".join(f"{key}={record[key]}" for key in keys) or spec["published_where"],
                             "published": str(record[spec["published_column"]]).strip(),
                             "decimals": decimals_of(record[spec["published_column"]]), "reproduced": float("nan"),
                             "reproduced_rounded": "", "agrees": False, "difference": float("nan"), "source": record.get("source", ""),
                             "published_file": spec["published_file"], "result_file": spec["result_file"],
                             "note": f"not reproduced: {missing}"})
                continue
            match = _select(result, spec["result_where"], spec["result_file"])
            for key in keys:
                match = match[match[key].astype(str) == str(record[key])]
            text = str(record[spec["published_column"]]).strip()
            reproduced = _statistic(match[spec["result_column"]], spec["statistic"] or "value") * scale if len(match) else float("nan")
            decimals = decimals_of(text)
            finite = np.isfinite(reproduced)
            rows.append(
                {
                    "quantity": spec["quantity"],
                    "key": "; ".join(f"{key}={record[key]}" for key in keys) or spec["published_where"],
                    "published": text,
                    "decimals": decimals,
                    "reproduced": reproduced,
                    "reproduced_rounded": str(round_half_up(reproduced, decimals)) if finite else "",
                    "agrees": agrees_at_precision(text, reproduced),
                    "difference": reproduced - float(text) if finite else float("nan"),
                    "source": record.get("source", ""),
                    "published_file": spec["published_file"],
                    "result_file": spec["result_file"],
                    "note": "" if len(match) else "no matching row in the result file",
                }
            )
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def read_text_csv(path: str | Path) -> pd.DataFrame:
    """Read a published reference file with every column as text."""
    return pd.read_csv(io.StringIO(Path(path).read_text(encoding="utf-8")), dtype=str, keep_default_na=False)
