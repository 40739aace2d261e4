"""The Lend an Ear pilot rating release (cohort format ``pilot_release``): fetch, verify, import.

The authors' companion study (Kumar et al., "When Large Language Models are Reliable for Judging
Empathic Communication", Nature Machine Intelligence 2026) released 50 real Lend an Ear pilot
conversations rated on the six dimensions by three experts, by crowd workers and by three LLM
judges (MIT licence). This module

* names the exact files of that release at a pinned upstream commit, with their sha256
  (``analysis/reference/pilot_release_manifest.csv``), and verifies every file before use, whether
  it comes from a local copy or from a download (:func:`verify_release`, :func:`download_release`);
* decides where the release comes from on this machine (:func:`locate_release`): a local folder laid
  out as upstream, an earlier download, a new download, or nowhere;
* parses the transcripts into the native messages table and every annotator file into the native
  scores table (``judge`` = expert1..3, crowd, gpt, claude, gemini), plus the crowd workers'
  individual annotations into a table of their own (:func:`import_pilot_release`).

Whatever cannot be parsed is listed (file, row, column, value, reason) in the import's issue table and
left out; nothing is dropped silently. A checksum mismatch, a missing file or a missing column stops
the import with an error naming the file.

The pilot is a rating study, not a randomised trial: there are no participants, arms or conversation
numbers. The import writes ``conversations.csv`` (one pseudo-participant per conversation,
``participant_id = "pilot-<conversation_id>"``, ``conversation_number = 1``, the scenario read from
the seeker's opening line), ``messages.csv``, ``scores.csv`` and ``crowd_annotations.csv``, and no
``participants.csv``; the three native tables are checked with the contract's own schemas and
cross-table checks (:mod:`analysis.cohorts.contract`). See ``docs/measurement_validity.md``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.adapters.download import ReleaseChecksumError, fetch, probe_url, release_url
from analysis.cohorts import contract
from analysis.cohorts.privacy import excerpt
from analysis.constants import DIMENSIONS, SCORE_MAX, SCORE_MIN
from analysis.errors import CohortValidationError, InputFileError, ValidationIssue
from analysis.runtime import atomic
from analysis.runtime.checksums import file_checksums

__all__ = [
    "PILOT_RELEASE_REPOSITORY", "PILOT_RELEASE_COMMIT", "DEFAULT_BASE_URL", "REFERENCE_DIR", "MANIFEST_PATH",
    "SCENARIOS_PATH", "PROBE_TIMEOUT", "DOWNLOAD_TIMEOUT", "PILOT_OUTPUT_FILES", "ISSUE_COLUMNS", "CROWD_ANNOTATION_COLUMNS",
    "CONVERSATION_COLUMNS", "PSEUDO_PARTICIPANT_PREFIX", "UNMATCHED_SCENARIO", "PILOT_TROUBLE_TYPE", "ROLE_LABELS",
    "read_manifest", "manifest_inputs", "verify_release", "download_release", "ReleaseSource", "locate_release",
    "split_turns", "read_scenarios", "parse_transcripts", "parse_ratings", "parse_crowd_annotations",
    "compare_transcript_copies", "crowd_mean_issues", "PilotImport", "import_pilot_release", "read_crowd_annotations",
]

PILOT_RELEASE_REPOSITORY = "aakriti1kumar/replication-data-and-code-when-LLMs-reliable-empathic-communication"
PILOT_RELEASE_COMMIT = "713458108e28897fccf136a6337296b5199cb617"
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/{PILOT_RELEASE_REPOSITORY}/{PILOT_RELEASE_COMMIT}/"
REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"
MANIFEST_PATH = REFERENCE_DIR / "pilot_release_manifest.csv"
SCENARIOS_PATH = REFERENCE_DIR / "pilot_scenarios.csv"
# Seconds: the reachability probe at DAG construction must be quick; a download may take longer.
PROBE_TIMEOUT = 5.0
DOWNLOAD_TIMEOUT = 60.0

PILOT_OUTPUT_FILES: dict[str, str] = {
    "conversations": "conversations.csv",
    "messages": "messages.csv",
    "scores": "scores.csv",
    "crowd_annotations": "crowd_annotations.csv",
}
ISSUE_COLUMNS = ["file", "row", "column", "value", "reason"]
CROWD_ANNOTATION_COLUMNS = ["annotation_id", "worker_id", "conversation_id", "dimension", "score", "example"]
CONVERSATION_COLUMNS = [
    "conversation_id", "participant_id", "conversation_number", "scenario", "trouble_type", "response_length",
]
PSEUDO_PARTICIPANT_PREFIX = "pilot-"
UNMATCHED_SCENARIO = "unknown"
PILOT_TROUBLE_TYPE = "workplace"
ROLE_LABELS = {"Seeker": "seeker", "Supporter": "supporter"}
_TURN_MARKER = r"^(Seeker|Supporter):[ \t]?(.*)$"


# --- the manifest -------------------------------------------------------------------------------


def read_manifest(path: str | Path = MANIFEST_PATH) -> pd.DataFrame:
    """Read the pinned file list of the release.

    Parameters
    ----------
    path : str or Path
        CSV with columns ``path`` (upstream path), ``content`` (transcripts, crowd_annotations,
        ratings or copy), ``judge`` (the annotator of a ratings file, or the judge whose ratings a
        copy repeats) and ``sha256``.

    Returns
    -------
    pandas.DataFrame
        The manifest plus ``key``: the name of the file among the import step's inputs
        (``transcripts``, ``crowd_annotations``, the judge of a ratings file, ``<judge>_copy``).
    """
    manifest = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = sorted({"path", "content", "judge", "sha256"} - set(manifest.columns))
    if missing:
        raise InputFileError(f"{path}: missing column(s) {missing}; expected path, content, judge, sha256")
    unknown = sorted(set(manifest["content"]) - {"transcripts", "crowd_annotations", "ratings", "copy"})
    if unknown:
        raise InputFileError(f"{path}: unknown content {unknown}; expected transcripts, crowd_annotations, ratings or copy")
    key = manifest["content"].where(~manifest["content"].isin(["ratings", "copy"]), manifest["judge"])
    key = key.where(manifest["content"] != "copy", manifest["judge"] + "_copy")
    manifest = manifest.assign(key=key)
    if manifest["key"].duplicated().any():
        raise InputFileError(f"{path}: duplicate entries {sorted(manifest.loc[manifest['key'].duplicated(), 'key'])}")
    return manifest


def manifest_inputs(manifest: pd.DataFrame, root: str | Path) -> dict[str, str]:
    """The release's files under ``root`` (laid out as upstream), keyed as in :func:`read_manifest`."""
    return {row.key: os.path.join(str(root), row.path) for row in manifest.itertuples(index=False)}


def verify_release(files: Mapping[str, str | Path], manifest: pd.DataFrame) -> dict[str, str]:
    """Check every release file against its pinned sha256.

    Parameters
    ----------
    files : mapping of str to path
        The release's files keyed as in :func:`read_manifest` (every manifest key must be present).
    manifest : pandas.DataFrame
        From :func:`read_manifest`.

    Returns
    -------
    dict of str to str
        Upstream path to the sha256 found (equal to the pinned one).

    Raises
    ------
    InputFileError
        When a file is missing.
    ReleaseChecksumError
        Naming every file whose bytes differ from the pinned release (expected and found sha256).
    """
    found, problems = {}, []
    for row in manifest.itertuples(index=False):
        if row.key not in files:
            raise InputFileError(f"release file {row.path} ({row.key}) was not given to the import step")
        path = Path(files[row.key])
        if not path.is_file():
            raise InputFileError(f"{path}: file not found; expected the release file {row.path}")
        digest = file_checksums(path)["sha256"]
        if digest != row.sha256:
            problems.append(f"{path}: sha256 {digest}, expected {row.sha256} (release file {row.path})")
        found[row.path] = digest
    if problems:
        raise ReleaseChecksumError(
            f"{len(problems)} release file(s) differ from the pinned release at commit {PILOT_RELEASE_COMMIT}; "
            "replace them with the published files:\n  " + "\n  ".join(problems)
        )
    return found


# --- where the release comes from -------------------------------------------------------------


def download_release(
    base_url: str, destination: str | Path, manifest: pd.DataFrame, timeout: float = DOWNLOAD_TIMEOUT
) -> dict[str, str]:
    """Download exactly the manifest's files into ``destination`` (upstream layout), verifying each.

    Each file is fetched in memory, its sha256 checked against the manifest, and only then written
    (atomically: a temporary file renamed into place), so a corrupt or tampered file never lands.

    Parameters
    ----------
    base_url : str
        Where the upstream tree lies, e.g. :data:`DEFAULT_BASE_URL` (raw files at the pinned commit),
        or a ``file://`` URL of a local copy.
    destination : str or Path
        Folder to write to; files go to ``destination/<upstream path>``.
    manifest : pandas.DataFrame
        From :func:`read_manifest`.
    timeout : float
        Seconds per request.

    Returns
    -------
    dict of str to str
        Upstream path to the verified sha256.

    Raises
    ------
    ReleaseDownloadError
        When a file cannot be fetched (its URL and the reason are named).
    ReleaseChecksumError
        When a fetched file's sha256 differs from the pinned one (the file is named; nothing is written).
    """
    destination = Path(destination)
    written = {}
    for row in manifest.itertuples(index=False):
        url = release_url(base_url, row.path)
        data = fetch(url, timeout)
        digest = hashlib.sha256(data).hexdigest()
        if digest != row.sha256:
            raise ReleaseChecksumError(
                f"{row.path}: downloaded from {url} with sha256 {digest}, expected {row.sha256} "
                f"(the pinned release at commit {PILOT_RELEASE_COMMIT}); nothing was written"
            )
        atomic.write_bytes(destination / row.path, data)
        written[row.path] = digest
    return written


@dataclass(frozen=True)
class ReleaseSource:
    """Where a pilot cohort's release comes from on this machine.

    Attributes
    ----------
    kind : {"local", "downloaded", "download", "unavailable"}
        ``local``: the configured folder exists; ``downloaded``: every file lies in the download
        folder already; ``download``: it will be downloaded (the URL answered a probe);
        ``unavailable``: none of these.
    root : str
        The folder the import step reads the release from (upstream layout); empty when unavailable.
    message : str
        One sentence for the log saying which source is used, or why none can be.
    """

    kind: str
    root: str
    message: str


def locate_release(
    path: str | None,
    download_dir: str | Path,
    base_url: str,
    manifest: pd.DataFrame,
    probe_timeout: float = PROBE_TIMEOUT,
    cohort: str = "pilot",
) -> ReleaseSource:
    """Decide, without downloading, where the release comes from: local copy, earlier download, download.

    Parameters
    ----------
    path : str or None
        The cohort's configured local copy (a folder laid out as upstream), if any.
    download_dir : str or Path
        Where a download lands.
    base_url : str
        Download base URL; probed with its first file (HEAD request, ``probe_timeout`` seconds)
        only when neither a local copy nor a complete earlier download exists.
    manifest : pandas.DataFrame
        From :func:`read_manifest`.
    probe_timeout : float
        Seconds to wait for the probe.
    cohort : str
        Cohort name, for the message.

    Returns
    -------
    ReleaseSource
    """
    if path and os.path.isdir(path):
        return ReleaseSource("local", str(path), f"cohort '{cohort}': reading the pilot release from the local copy {path}")
    files = manifest_inputs(manifest, download_dir)
    if all(os.path.isfile(file) for file in files.values()):
        return ReleaseSource(
            "downloaded", str(download_dir), f"cohort '{cohort}': reading the pilot release downloaded earlier to {download_dir}"
        )
    where = f"no local copy at '{path}' (the folder does not exist)" if path else "no local copy is configured (`path`)"
    probe = release_url(base_url, manifest["path"].iloc[0])
    reason = probe_url(probe, probe_timeout)
    if reason is None:
        return ReleaseSource(
            "download", str(download_dir), f"cohort '{cohort}': {where}; the pinned release will be downloaded from {base_url}"
        )
    return ReleaseSource(
        "unavailable",
        "",
        f"cohort '{cohort}' (format pilot_release) is SKIPPED: {where}, and the pinned release cannot be "
        f"downloaded from {base_url} ({reason}). Its outputs are left out of this run; the other cohorts "
        f"run as usual. To include it, put a copy of the release (upstream layout, see PROVENANCE.md) at "
        f"the configured path, or run on a machine that reaches the download URL.",
    )


# --- parsing ------------------------------------------------------------------------------------


def _issues(file: str, rows, column, values, reason) -> pd.DataFrame:
    """Issue rows (file, 1-based data row or missing for the whole file, column, value, reason).

    ``column``, ``values`` and ``reason`` are scalars or sequences aligned with ``rows`` (Series are
    taken by position, not by index).
    """
    frame = pd.DataFrame({"row": pd.array(np.asarray(rows, dtype=object), dtype="Int64")})
    frame.insert(0, "file", file)
    frame["column"] = column.to_numpy() if isinstance(column, pd.Series) else column
    frame["value"] = values.to_numpy() if isinstance(values, pd.Series) else values
    frame["reason"] = reason
    return frame[ISSUE_COLUMNS]


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], file: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise InputFileError(f"{file}: missing column(s) {missing}; found {list(frame.columns)}")


def split_turns(transcripts: pd.DataFrame, text_column: str = "full_conversation") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split transcripts into turns, vectorised.

    A line starting with ``Seeker:`` or ``Supporter:`` opens a turn; every following line up to the
    next marker (blank lines included) belongs to that turn (multi-line turns). A marker with
    nothing after it is an empty turn and is kept with empty text. Whitespace around each turn's text
    is removed; ``\\r\\n`` line ends are accepted.

    Parameters
    ----------
    transcripts : pandas.DataFrame
        ``conversation_id``, ``row`` (1-based data row in its file) and ``text_column``.
    text_column : str
        Column holding the transcript.

    Returns
    -------
    messages : pandas.DataFrame
        conversation_id, row (of the transcript), turn (1, 2, ...), role (seeker or supporter), text.
        Turns are counted per transcript row, so several copies of one conversation stay apart.
    leading : pandas.DataFrame
        conversation_id, row, text: non-blank text before the first marker (not a turn; reported).
    """
    lines = transcripts[["conversation_id", "row"]].assign(line=transcripts[text_column].fillna("").str.split("\n"))
    lines = lines.explode("line", ignore_index=True)
    lines["line"] = lines["line"].fillna("").str.removesuffix("\r")
    marker = lines["line"].str.extract(_TURN_MARKER)
    lines["role"] = marker[0].map(ROLE_LABELS)
    lines["content"] = marker[1].where(marker[0].notna(), lines["line"])
    lines["turn"] = lines["role"].notna().astype("int64").groupby(lines["row"], sort=False).cumsum()
    before = lines[(lines["turn"] == 0) & (lines["line"].str.strip() != "")]
    leading = before.groupby(["conversation_id", "row"], sort=False)["line"].agg("\n".join).rename("text").reset_index()
    in_turns = lines[lines["turn"] > 0]
    messages = (
        in_turns.groupby(["row", "turn"], sort=False)
        .agg(conversation_id=("conversation_id", "first"), role=("role", "first"), text=("content", "\n".join))
        .reset_index()
    )
    messages["text"] = messages["text"].str.strip()
    return messages[["conversation_id", "row", "turn", "role", "text"]], leading


def read_scenarios(path: str | Path = SCENARIOS_PATH) -> pd.DataFrame:
    """The pilot's seeker opening lines and the scenario and trouble type each stands for."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def parse_transcripts(frame: pd.DataFrame, file: str, scenarios: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Parse the release's conversations file into native conversations and messages.

    Parameters
    ----------
    frame : pandas.DataFrame
        The file as read by :func:`analysis.cohorts.contract.read_csv_text` (text columns
        ``conversation_id``, ``full_conversation``, optionally ``response_length``).
    file : str
        The file's name, used in issues.
    scenarios : pandas.DataFrame
        From :func:`read_scenarios`.

    Returns
    -------
    conversations : pandas.DataFrame
        conversation_id, participant_id (``pilot-<conversation_id>``: one pseudo-participant per
        conversation), conversation_number (1), scenario (matched on the seeker's opening line;
        ``unknown`` when none matches), trouble_type (``workplace``), response_length (as released).
    messages : pandas.DataFrame
        conversation_id, turn, role, text (see :func:`split_turns`).
    issues : pandas.DataFrame
        file, row, column, value, reason: rows without an ID, repeated IDs (later rows left out),
        empty transcripts or transcripts without any turn (left out), text before the first turn
        (left out of the messages), unmatched opening lines.
    """
    _require_columns(frame, ["conversation_id", "full_conversation"], file)
    table = frame.assign(row=np.arange(1, len(frame) + 1))
    problems = []
    no_id = table["conversation_id"].isna()
    problems.append(_issues(file, table.loc[no_id, "row"], "conversation_id", None, "empty conversation_id; row left out"))
    table = table[~no_id]
    not_id = ~table["conversation_id"].str.match(contract.IDENTIFIER_PATTERN)
    problems.append(_issues(file, table.loc[not_id, "row"], "conversation_id", table.loc[not_id, "conversation_id"],
                            f"not {contract.IDENTIFIER_RULE}; row left out"))
    table = table[~not_id]
    repeated = table["conversation_id"].duplicated(keep="first")
    problems.append(
        _issues(file, table.loc[repeated, "row"], "conversation_id", table.loc[repeated, "conversation_id"],
                "conversation_id repeats an earlier row; row left out")
    )
    table = table[~repeated]
    empty = table["full_conversation"].fillna("").str.strip() == ""
    problems.append(_issues(file, table.loc[empty, "row"], "full_conversation", None, "empty transcript; conversation left out"))
    table = table[~empty]
    controlled = table["full_conversation"].str.contains(contract.CONTROL_CHARACTERS, regex=True)
    problems.append(_issues(file, table.loc[controlled, "row"], "full_conversation", None,
                            "a control character in the transcript (only tab, newline and carriage return are allowed); "
                            "conversation left out"))
    table = table[~controlled]
    messages, leading = split_turns(table)
    messages = messages.drop(columns="row")
    problems.append(
        _issues(file, leading["row"], "full_conversation", excerpt(leading["text"]),
                "text before the first 'Seeker:' or 'Supporter:' line; left out of the messages")
    )
    turnless = ~table["conversation_id"].isin(messages["conversation_id"])
    problems.append(
        _issues(file, table.loc[turnless, "row"], "full_conversation", None,
                "no line starts with 'Seeker:' or 'Supporter:'; conversation left out")
    )
    table = table[~turnless]
    first_seeker = messages[messages["role"] == "seeker"].drop_duplicates("conversation_id").set_index("conversation_id")["text"]
    opening = table["conversation_id"].map(first_seeker)
    lookup = scenarios.set_index("opening_line")
    scenario = opening.map(lookup["scenario"])
    unmatched = scenario.isna()
    problems.append(
        _issues(file, table.loc[unmatched, "row"], "full_conversation", excerpt(opening[unmatched]),
                f"the seeker's opening line matches no pilot scenario ({SCENARIOS_PATH.name}); scenario set to '{UNMATCHED_SCENARIO}'")
    )
    conversations = pd.DataFrame(
        {
            "conversation_id": table["conversation_id"].to_numpy(),
            "participant_id": (PSEUDO_PARTICIPANT_PREFIX + table["conversation_id"]).to_numpy(),
            "conversation_number": 1,
            "scenario": scenario.fillna(UNMATCHED_SCENARIO).to_numpy(),
            "trouble_type": opening.map(lookup["trouble_type"]).fillna(PILOT_TROUBLE_TYPE).to_numpy(),
            "response_length": table["response_length"].to_numpy() if "response_length" in table else pd.NA,
        }
    )
    return conversations[CONVERSATION_COLUMNS], messages, pd.concat(problems, ignore_index=True)


def _annotator_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop a leading unnamed index column (written by pandas' ``to_csv`` with its index)."""
    unnamed = [column for column in frame.columns if column == "" or str(column).startswith("Unnamed:")]
    return frame.drop(columns=unnamed)


def _long_scores(table: pd.DataFrame, dimensions: Sequence[str], file: str, id_columns: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Melt dimension columns (any order) to long rows, keeping valid numbers in [1, 5]; list the rest."""
    long = table.melt(id_vars=[*id_columns, "row"], value_vars=list(dimensions), var_name="dimension", value_name="raw")
    number = pd.to_numeric(long["raw"], errors="coerce")
    missing = long["raw"].isna()
    not_number = number.isna() & ~missing
    out_of_range = number.notna() & ((number < SCORE_MIN) | (number > SCORE_MAX))
    problems = pd.concat(
        [
            _issues(file, long.loc[missing, "row"], long.loc[missing, "dimension"], None, "no rating given; left out"),
            _issues(file, long.loc[not_number, "row"], long.loc[not_number, "dimension"], excerpt(long.loc[not_number, "raw"]),
                    "not a number; left out"),
            _issues(file, long.loc[out_of_range, "row"], long.loc[out_of_range, "dimension"], long.loc[out_of_range, "raw"],
                    f"outside [{SCORE_MIN:g}, {SCORE_MAX:g}]; left out"),
        ],
        ignore_index=True,
    )
    keep = number.notna() & ~out_of_range
    return long[keep].assign(score=number[keep].astype("float64")), problems


def _known_rows(table: pd.DataFrame, known_ids: pd.Series, file: str) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    no_id = table["conversation_id"].isna()
    unknown = ~no_id & ~table["conversation_id"].isin(known_ids)
    problems = [
        _issues(file, table.loc[no_id, "row"], "conversation_id", None, "empty conversation_id; row left out"),
        _issues(file, table.loc[unknown, "row"], "conversation_id", table.loc[unknown, "conversation_id"],
                "conversation_id not among the parsed transcripts; row left out"),
    ]
    return table[~no_id & ~unknown], problems


def parse_ratings(
    frame: pd.DataFrame, file: str, judge: str, dimensions: Sequence[str], known_ids: pd.Series
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Parse one annotator's file (one row per conversation) into native scores.

    Copes with the release's quirks: a leading unnamed index column (dropped), dimension columns in
    any order (found by name), floats such as ``2.0`` or crowd means such as ``2.6666666666666665``
    (kept at full precision), and a repeated ``full_conversation`` column (returned for comparison
    with the conversations file, not used as a transcript).

    Parameters
    ----------
    frame : pandas.DataFrame
        The file as read by :func:`analysis.cohorts.contract.read_csv_text`.
    file : str
        Its name, used in issues.
    judge : str
        The annotator's label (``judge`` in the scores table).
    dimensions : sequence of str
        Dimension columns required in the file.
    known_ids : pandas.Series
        The conversation IDs parsed from the transcripts.

    Returns
    -------
    scores : pandas.DataFrame
        conversation_id, judge, dimension, score, and row (the 1-based data row in ``file``).
    issues : pandas.DataFrame
        Rows without an ID or with an unknown or repeated ID (left out), and every cell that is
        empty, not a number or outside [1, 5] (left out).
    copies : pandas.DataFrame
        conversation_id, row, full_conversation when the file repeats the transcripts (else empty).

    Raises
    ------
    InputFileError
        When ``conversation_id`` or a dimension column is missing.
    """
    table = _annotator_columns(frame)
    _require_columns(table, ["conversation_id", *dimensions], file)
    table = table.assign(row=np.arange(1, len(table) + 1))
    table, problems = _known_rows(table, known_ids, file)
    repeated = table["conversation_id"].duplicated(keep="first")
    problems.append(
        _issues(file, table.loc[repeated, "row"], "conversation_id", table.loc[repeated, "conversation_id"],
                "conversation_id repeats an earlier row of this annotator; row left out")
    )
    table = table[~repeated]
    long, value_problems = _long_scores(table, dimensions, file, ["conversation_id"])
    problems.append(value_problems)
    scores = long.assign(judge=judge)[["conversation_id", "judge", "dimension", "score", "row"]]
    copies = (
        table[["conversation_id", "row", "full_conversation"]]
        if "full_conversation" in table
        else pd.DataFrame(columns=["conversation_id", "row", "full_conversation"])
    )
    return scores, pd.concat(problems, ignore_index=True), copies


def parse_crowd_annotations(
    frame: pd.DataFrame, file: str, dimensions: Sequence[str], known_ids: pd.Series
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Parse the crowd workers' individual annotations (one row per worker and conversation).

    Parameters
    ----------
    frame : pandas.DataFrame
        ``original_data/sample_lend_an_ear_annotations.csv`` as read by
        :func:`analysis.cohorts.contract.read_csv_text`: ``id``, ``user_id`` (the worker), ``conversation_id``,
        one column per dimension (any order, floats accepted), ``<dimension>_example`` quotes,
        ``full_conversation`` (a copy of the transcript) and other columns (ignored).
    file : str
        Its name, used in issues.
    dimensions : sequence of str
        Dimension columns required.
    known_ids : pandas.Series
        The conversation IDs parsed from the transcripts.

    Returns
    -------
    annotations : pandas.DataFrame
        annotation_id, worker_id, conversation_id, dimension, score, example (long: one row per
        annotation and dimension with a rating).
    issues : pandas.DataFrame
        Rows without an ID, annotation ID or worker, with an unknown conversation or a repeated
        annotation ID (left out); empty, non-numeric or out-of-range ratings (left out).
    copies : pandas.DataFrame
        conversation_id, row, full_conversation (the repeated transcripts), for comparison.
    """
    _require_columns(frame, ["id", "user_id", "conversation_id", *dimensions], file)
    table = frame.assign(row=np.arange(1, len(frame) + 1))
    table, problems = _known_rows(table, known_ids, file)
    for column, what in (("id", "annotation id"), ("user_id", "worker (user_id)")):
        empty = table[column].isna()
        problems.append(_issues(file, table.loc[empty, "row"], column, None, f"no {what}; row left out"))
        table = table[~empty]
    repeated = table["id"].duplicated(keep="first")
    problems.append(
        _issues(file, table.loc[repeated, "row"], "id", table.loc[repeated, "id"], "annotation id repeats an earlier row; row left out")
    )
    table = table[~repeated]
    long, value_problems = _long_scores(table, dimensions, file, ["id", "user_id", "conversation_id"])
    problems.append(value_problems)
    examples = table.melt(
        id_vars=["id"],
        value_vars=[f"{dimension}_example" for dimension in dimensions if f"{dimension}_example" in table],
        var_name="dimension",
        value_name="example",
    )
    examples["dimension"] = examples["dimension"].str.removesuffix("_example")
    long = long.merge(examples, on=["id", "dimension"], how="left", validate="one_to_one")
    annotations = long.rename(columns={"id": "annotation_id", "user_id": "worker_id"})
    copies = (
        table[["conversation_id", "row", "full_conversation"]]
        if "full_conversation" in table
        else pd.DataFrame(columns=["conversation_id", "row", "full_conversation"])
    )
    return annotations[CROWD_ANNOTATION_COLUMNS], pd.concat(problems, ignore_index=True), copies


def _turn_signature(messages: pd.DataFrame, key: str) -> pd.Series:
    """Per transcript (``key``), its non-empty turns (role and text) joined into one comparable string."""
    spoken = messages[messages["text"] != ""]
    return (spoken["role"] + "\x1f" + spoken["text"]).groupby(spoken[key], sort=False).agg("\x1e".join)


def compare_transcript_copies(copies: pd.DataFrame, messages: pd.DataFrame, file: str) -> tuple[pd.DataFrame, dict]:
    """Compare transcripts repeated inside an annotator file with the parsed conversations file.

    Empty turns are ignored on both sides (one judge's copy carries empty ``Seeker:`` /
    ``Supporter:`` turns that the conversations file does not). The conversations file stays the
    source of the messages table either way.

    Returns
    -------
    issues : pandas.DataFrame
        One row per copy whose non-empty turns differ from the conversations file.
    summary : dict
        ``copies``, ``with_extra_empty_turns`` and ``differing`` counts.
    """
    if copies.empty:
        return pd.DataFrame(columns=ISSUE_COLUMNS), {"copies": 0, "with_extra_empty_turns": 0, "differing": 0}
    copy_messages, _ = split_turns(copies)
    ours = _turn_signature(messages, "conversation_id").reindex(copies["conversation_id"]).fillna("").to_numpy()
    theirs = _turn_signature(copy_messages, "row").reindex(copies["row"]).fillna("").to_numpy()
    differs = theirs != ours
    empty_turns = (copy_messages["text"] == "").groupby(copy_messages["row"]).sum().reindex(copies["row"], fill_value=0)
    original_empty = (messages["text"] == "").groupby(messages["conversation_id"]).sum()
    extra = empty_turns.to_numpy() - original_empty.reindex(copies["conversation_id"], fill_value=0).to_numpy()
    issues = _issues(
        file, copies.loc[differs, "row"], "full_conversation", None,
        "the transcript repeated in this file differs from the conversations file (ignoring empty turns); "
        "the conversations file is used",
    )
    summary = {
        "copies": int(len(copies)),
        "with_extra_empty_turns": int((extra > 0).sum()),
        "differing": int(differs.sum()),
    }
    return issues, summary


def crowd_mean_issues(annotations: pd.DataFrame, crowd_scores: pd.DataFrame, file: str, tolerance: float = 1e-9) -> tuple[pd.DataFrame, float]:
    """Check the released crowd means against the mean of the individual annotations.

    ``crowd_scores`` are the crowd judge's rows from :func:`parse_ratings` (with ``row``).

    Returns
    -------
    issues : pandas.DataFrame
        One row per (conversation, dimension) whose released mean differs from the mean of the
        parsed individual ratings by more than ``tolerance``, or that has no individual rating.
    max_difference : float
        Largest absolute difference found (NaN when nothing could be compared).
    """
    means = annotations.groupby(["conversation_id", "dimension"])["score"].mean().rename("individual_mean")
    joined = crowd_scores.join(means, on=["conversation_id", "dimension"])
    difference = (joined["score"] - joined["individual_mean"]).abs()
    bad = joined["individual_mean"].isna() | (difference > tolerance)
    issues = _issues(
        file, joined.loc[bad, "row"], joined.loc[bad, "dimension"],
        (joined.loc[bad, "conversation_id"] + ": " + joined.loc[bad, "score"].astype(str)).to_numpy(),
        "released crowd mean differs from the mean of the individual annotations (or has none); the released mean is used",
    )
    return issues, float(difference.max()) if difference.notna().any() else float("nan")


@dataclass(frozen=True)
class PilotImport:
    """The imported pilot cohort.

    Attributes
    ----------
    conversations, messages, scores : pandas.DataFrame
        Native tables (see :func:`parse_transcripts`, :func:`parse_ratings`), checked against the
        contract's schemas.
    crowd_annotations : pandas.DataFrame
        The crowd workers' individual ratings (:data:`CROWD_ANNOTATION_COLUMNS`).
    issues : pandas.DataFrame
        Everything that did not parse (:data:`ISSUE_COLUMNS`); each listed record was left out.
    summary : dict
        Commit, sha256 of every file, row counts, judges, workers, transcript-copy comparison.
    """

    conversations: pd.DataFrame
    messages: pd.DataFrame
    scores: pd.DataFrame
    crowd_annotations: pd.DataFrame
    issues: pd.DataFrame
    summary: dict = field(default_factory=dict)


def _check_native(conversations: pd.DataFrame, messages: pd.DataFrame, scores: pd.DataFrame, dimensions: Sequence[str]) -> None:
    """The contract's schemas and key checks on the three native tables the pilot has."""
    schemas = contract.table_schemas(arms=["pilot"], dimensions=dimensions, conversations_per_participant=1)
    found = []
    for name, frame in (("conversations", conversations), ("messages", messages), ("scores", scores)):
        found += contract.schema_issues(frame.reset_index(drop=True), schemas[name], f"{name}.csv")[1]
    found += contract.duplicate_issues(conversations, ["conversation_id"], "conversations.csv", "conversation_id to be")
    found += contract.duplicate_issues(messages, ["conversation_id", "turn"], "messages.csv", "each conversation's turn to be")
    found += contract.duplicate_issues(
        scores, ["conversation_id", "judge", "dimension"], "scores.csv", "(conversation_id, judge, dimension) to be"
    )
    for name, frame in (("messages.csv", messages), ("scores.csv", scores)):
        found += contract.reference_issues(
            frame.reset_index(drop=True), "conversation_id", conversations["conversation_id"], name, "conversations.csv"
        )
    if found:
        raise CohortValidationError(found)


def import_pilot_release(
    files: Mapping[str, str | Path],
    manifest: pd.DataFrame | None = None,
    dimensions: Sequence[str] = DIMENSIONS,
    scenarios: pd.DataFrame | None = None,
) -> PilotImport:
    """Verify and parse the pilot release into the native contract.

    Parameters
    ----------
    files : mapping of str to path
        The release's files keyed as in :func:`read_manifest` (from a local copy or a download).
    manifest : pandas.DataFrame, optional
        From :func:`read_manifest`; defaults to the pinned manifest in the package.
    dimensions : sequence of str
        Registered dimensions; each annotator file must have a column for each.
    scenarios : pandas.DataFrame, optional
        From :func:`read_scenarios`; defaults to the package's table.

    Returns
    -------
    PilotImport

    Raises
    ------
    ReleaseChecksumError
        When a file differs from the pinned release.
    InputFileError
        When a file is missing, unreadable or lacks a required column.
    """
    manifest = read_manifest() if manifest is None else manifest
    scenarios = read_scenarios() if scenarios is None else scenarios
    sha256 = verify_release(files, manifest)
    by_content = {content: group for content, group in manifest.groupby("content")}
    transcripts_row = by_content["transcripts"].iloc[0]
    conversations, messages, transcript_issues = parse_transcripts(
        contract.read_csv_text(files["transcripts"]), transcripts_row["path"], scenarios
    )
    known = conversations["conversation_id"]
    problems = [transcript_issues]
    scores, copy_summary = [], {}
    for row in by_content["ratings"].itertuples(index=False):
        judge_scores, judge_issues, copies = parse_ratings(
            contract.read_csv_text(files[row.key]), row.path, row.judge, dimensions, known
        )
        scores.append(judge_scores)
        problems.append(judge_issues)
        copy_issues, copy_summary[row.path] = compare_transcript_copies(copies, messages, row.path)
        problems.append(copy_issues)
    scores = pd.concat(scores, ignore_index=True)
    annotations_row = by_content["crowd_annotations"].iloc[0]
    annotations, annotation_issues, copies = parse_crowd_annotations(
        contract.read_csv_text(files["crowd_annotations"]), annotations_row["path"], dimensions, known
    )
    problems.append(annotation_issues)
    copy_issues, copy_summary[annotations_row["path"]] = compare_transcript_copies(copies, messages, annotations_row["path"])
    problems.append(copy_issues)
    crowd_path = by_content["ratings"].set_index("judge").loc["crowd", "path"] if "crowd" in set(by_content["ratings"]["judge"]) else None
    max_crowd_difference = float("nan")
    if crowd_path is not None:
        mean_issues, max_crowd_difference = crowd_mean_issues(annotations, scores[scores["judge"] == "crowd"], crowd_path)
        problems.append(mean_issues)
    scores = scores.drop(columns="row")
    copies_identical = {}
    for row in by_content.get("copy", pd.DataFrame(columns=manifest.columns)).itertuples(index=False):
        original = by_content["ratings"].set_index("judge").loc[row.judge, "path"]
        copies_identical[row.path] = sha256[row.path] == sha256[original]
        if not copies_identical[row.path]:
            problems.append(_issues(row.path, [None], None, None, f"differs from {original}, which it should repeat; {original} is used"))

    conversations = conversations.sort_values("conversation_id", kind="stable").reset_index(drop=True)
    messages = messages.sort_values(["conversation_id", "turn"], kind="stable").reset_index(drop=True)
    scores = scores.sort_values(["conversation_id", "judge", "dimension"], kind="stable").reset_index(drop=True)
    annotations = annotations.sort_values(["conversation_id", "worker_id", "annotation_id", "dimension"], kind="stable").reset_index(drop=True)
    for name, frame, sources in (("conversations", conversations, [transcripts_row["path"]]),
                                 ("messages", messages, [transcripts_row["path"]]), ("scores", scores, list(by_content["ratings"]["path"]))):
        if frame.empty:
            reasons = " | ".join(sorted({reason for found in problems for reason in found["reason"]}))
            raise CohortValidationError([ValidationIssue(
                source, None, None, None, f"at least one record that parses into {name}.csv (every one was left out; the reasons: {reasons})")
                for source in sources])
    _check_native(conversations, messages, scores, dimensions)
    found = [frame for frame in problems if not frame.empty]
    issues = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=ISSUE_COLUMNS)
    issues = issues.sort_values(["file", "row"], kind="stable", na_position="first").reset_index(drop=True)
    summary = {
        "repository": PILOT_RELEASE_REPOSITORY,
        "commit": PILOT_RELEASE_COMMIT,
        "sha256": dict(sorted(sha256.items())),
        "rows": {
            "conversations": int(len(conversations)),
            "messages": int(len(messages)),
            "empty_messages": int((messages["text"] == "").sum()),
            "scores": int(len(scores)),
            "crowd_annotations": int(len(annotations)),
        },
        "judges": sorted(scores["judge"].unique().tolist()),
        "crowd_workers": int(annotations["worker_id"].nunique()),
        "scenarios": {key: int(value) for key, value in conversations["scenario"].value_counts().sort_index().items()},
        "transcript_copies": copy_summary,
        "copies_identical": copies_identical,
        "crowd_mean_max_abs_difference": max_crowd_difference,
        "issues": int(len(issues)),
    }
    return PilotImport(conversations, messages, scores, annotations, issues, summary)


def read_crowd_annotations(path: str | Path) -> pd.DataFrame:
    """Read ``crowd_annotations.csv`` written by the import step (IDs as text, scores as numbers)."""
    text = {"annotation_id": "str", "worker_id": "str", "conversation_id": "str", "dimension": "str", "example": "str"}
    return pd.read_csv(path, dtype={**text, "score": "float64"}, keep_default_na=False, na_values=[""])
