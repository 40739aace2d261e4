"""Property-based tests of the two release adapters: every generated release, not a list of them.

For the authors' release (:func:`analysis.adapters.paper_release.import_release`) and the pilot release
(:func:`analysis.adapters.pilot_release.import_pilot_release`):

1. A valid release in the upstream layout (tests/release_strategies.py: any IDs, message text with
   quotes, commas, line ends, emoji and right-to-left marks, every documented spelling) imports into
   exactly the tables it describes, and what the import writes passes the native contract and, for
   the optional files, the loaders of the rules that read them.
2. Any single corruption of one release file (tests/cohort_strategies.py: a cell, a repeated, missing
   or orphaned row, a missing, renamed or repeated column, a cut-off file, a wrong encoding, a stray
   delimiter, ...) either imports, and then everything written still passes those checks, or raises
   the pipeline's own error (:class:`~analysis.errors.CohortValidationError` naming file, row and
   column, or :class:`~analysis.errors.InputFileError` naming the file) before anything is written.
   A corrupted optional file of the authors' release never stops the import: it is unavailable, with
   the reason.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from analysis.adapters.paper_release import OPTIONAL_SOURCES, import_release
from analysis.adapters.pilot_release import PILOT_OUTPUT_FILES, import_pilot_release, read_crowd_annotations, read_scenarios
from analysis.cohorts.contract import load_and_validate, read_validated
from analysis.cohorts.native import write_csv, write_native
from analysis.cohorts.optional import load_elo, load_perception, load_themes
from analysis.constants import DIMENSIONS
from analysis.errors import CohortValidationError, InputFileError
from analysis.simulate.release import simulate_release
from tests.cohort_strategies import (
    ARMS,
    CONVERSATIONS_PER_PARTICIPANT,
    REGISTERED_DIMENSIONS,
    REPO,
    Corruption,
    CsvDialect,
    corrupt_bytes,
    corrupt_frame,
    corruptions,
    csv_bytes,
    dialects,
    typed_tables,
)
from tests.release_strategies import (
    PILOT_JUDGES,
    PILOT_PATHS,
    paper_releases,
    pilot_manifest,
    pilot_releases,
    write_pilot_files,
    write_release_files,
)

RELEASE_CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))["paper_release"]
DESIGN = {"arms": list(ARMS), "dimensions": list(REGISTERED_DIMENSIONS), "conversations_per_participant": CONVERSATIONS_PER_PARTICIPANT}
LOADERS = {"perception": load_perception, "elo": load_elo, "themes": load_themes}
NATIVE = ("participants", "conversations", "messages", "scores")


def import_paper(files: dict[str, Path]):
    """The import as the rule runs it, on a copy that is not the authors' (checksums recorded, not compared)."""
    return import_release(files, list(ARMS), theme_categories=RELEASE_CONFIG["theme_categories"],
                          junk_levels=RELEASE_CONFIG["junk_levels"], verify_checksums=False,
                          conversations_per_participant=CONVERSATIONS_PER_PARTICIPANT)


def downstream(imported, directory: Path) -> dict[str, pd.DataFrame]:
    """Write what the import gives as the rule does, then read it as the next rules do: the native tables through
    the contract, each available optional file through its loader. Returns the tables so read."""
    written = write_native(imported.tables, directory)
    tables, _ = load_and_validate({name: str(path) for name, path in written.items()}, **DESIGN)
    read = {name: getattr(tables, name) for name in NATIVE}
    for name, loader in LOADERS.items():
        if name in imported.unavailable:
            assert imported.record["optional"][name]["reason"], f"{name} unavailable without a reason"
            continue
        path = directory / f"{name}.csv"
        write_csv(getattr(imported, name), path)
        read[name] = loader(path, tables.messages if name == "themes" else tables.conversations)
    return read


def assert_rows_equal(actual: pd.DataFrame, expected: pd.DataFrame, numbers: dict[str, type], what: str) -> None:
    """Same rows in the same order, column by column: text exactly (an empty text is a missing value, as in the
    written file), numbers as Python parses the expected text."""
    assert list(actual.columns[: len(expected.columns)]) == list(expected.columns), what
    assert len(actual) == len(expected), f"{what}: {len(actual)} rows, expected {len(expected)}"
    for column in expected.columns:
        parse = numbers.get(column, str)
        want = [None if value in (None, "") else parse(value) for value in expected[column]]
        got = [None if value is None or value is pd.NA or value == "" or (isinstance(value, float) and np.isnan(value)) else value
               for value in actual[column].tolist()]
        differing = [index for index, (a, b) in enumerate(zip(got, want)) if a != b]
        assert not differing, f"{what}.{column}, row {differing[0]}: {got[differing[0]]!r} != {want[differing[0]]!r}"


def check_rejection(error: CohortValidationError, names: set[str]) -> None:
    """Every issue names one of the release's files, a data row (or none) and a column (or none)."""
    assert error.issues
    for issue in error.issues:
        assert issue.file in names or Path(issue.file).name in names, f"issue names a file that is not an input: {issue}"
        assert issue.row is None or (isinstance(issue.row, int) and issue.row >= 1), issue
        assert issue.column is None or (isinstance(issue.column, str) and issue.column), issue


def corrupted(files: dict[str, pd.DataFrame], corruption: Corruption, dialect) -> dict:
    content = dict(files)
    role = corruption.table
    content[role] = corrupt_bytes(csv_bytes(files[role], dialect), corruption) if corruption.on_bytes else corrupt_frame(files[role], corruption)
    return content


# --- the authors' release ---------------------------------------------------------------------------

paper_release_strategy = paper_releases(RELEASE_CONFIG["theme_categories"], RELEASE_CONFIG["junk_levels"])


@given(release=paper_release_strategy, dialect=dialects)
def test_a_valid_paper_release_imports_into_exactly_its_tables(release, dialect):
    with tempfile.TemporaryDirectory() as scratch:
        files = write_release_files(release.files, Path(scratch) / "release", dialect)
        imported = import_paper(files)
        read = downstream(imported, Path(scratch) / "imported")
    expected = typed_tables({name: release.expected[name] for name in NATIVE})
    for name in NATIVE:
        pd.testing.assert_frame_equal(read[name], expected[name], check_exact=True, obj=name)
    for name in OPTIONAL_SOURCES:
        if release.expected[name].empty:
            assert name in imported.unavailable, f"{name}.csv would hold no rows: it must be unavailable"
        elif name != "elo" or "perception" not in imported.unavailable:
            assert name not in imported.unavailable, imported.unavailable.get(name)
    if "perception" in read:
        assert_rows_equal(read["perception"], release.expected["perception"], {}, "perception")
    if "elo" in read:
        assert_rows_equal(read["elo"], release.expected["elo"], {"elo_rating": float}, "elo")
    if "themes" in read:
        themes = release.expected["themes"].assign(order=lambda frame: frame["turn"].astype(int))
        themes = themes.sort_values(["conversation_id", "order", "theme"], kind="stable").drop(columns="order").reset_index(drop=True)
        assert_rows_equal(read["themes"], themes, {"turn": int}, "themes")


@given(release=paper_release_strategy, dialect=dialects, data=st.data())
def test_any_single_corruption_of_the_paper_release_imports_or_is_named(release, dialect, data):
    corruption = data.draw(corruptions(release.files), label="corruption")
    content = corrupted(release.files, corruption, dialect)
    with tempfile.TemporaryDirectory() as scratch:
        files = write_release_files(content, Path(scratch) / "release", dialect)
        try:
            imported = import_paper(files)
        except CohortValidationError as error:
            event(f"{corruption.table} {corruption.kind}: CohortValidationError")
            assert corruption.table == "experiment_1", f"a corrupted optional file stopped the import: {error}"
            check_rejection(error, {"experiment_1.csv"})
            return
        except InputFileError as error:
            event(f"{corruption.table} {corruption.kind}: InputFileError")
            assert corruption.table == "experiment_1", f"a corrupted optional file stopped the import: {error}"
            assert str(files["experiment_1"]) in str(error) or "experiment_1.csv" in str(error), error
            return
        assert set(imported.issues["file"]) <= {path.name for path in files.values()}, imported.issues["file"].unique()
        assert (imported.issues["row"].dropna() >= 1).all()
        unavailable = sorted(set(imported.unavailable) & {"perception", "elo", "themes"})
        event(f"{corruption.table} {corruption.kind}: imported" + (f", unavailable {unavailable}" if unavailable else ""))
        downstream(imported, Path(scratch) / "imported")


# --- the pilot release ------------------------------------------------------------------------------


def import_pilot(files: dict[str, Path], manifest: pd.DataFrame):
    return import_pilot_release({key: str(path) for key, path in files.items()}, manifest=manifest, scenarios=read_scenarios())


@given(release=pilot_releases(), dialect=dialects)
def test_a_valid_pilot_release_imports_into_exactly_its_tables(release, dialect):
    with tempfile.TemporaryDirectory() as scratch:
        files = write_pilot_files(release.files, Path(scratch) / "release", dialect)
        imported = import_pilot(files, pilot_manifest(files))
        # what the import rule writes, read back as the agreement rules read it
        paths = {name: Path(scratch) / "imported" / filename for name, filename in PILOT_OUTPUT_FILES.items()}
        for name, path in paths.items():
            write_csv(getattr(imported, name), path)
        read_back = {name: read_validated(paths[name], name) for name in ("conversations", "messages", "scores")}
        read_back["crowd_annotations"] = read_crowd_annotations(paths["crowd_annotations"])
    # the only records listed: conversations whose opening line is none of the pilot's scenarios
    unmatched = release.files["transcripts"]["conversation_id"].isin(
        release.expected["conversations"].loc[release.expected["conversations"]["scenario"] == "unknown", "conversation_id"])
    assert imported.issues["row"].tolist() == [row + 1 for row in np.flatnonzero(unmatched)], imported.issues.to_dict("records")
    assert imported.issues["reason"].str.contains("matches no pilot scenario").all()
    order = {
        "conversations": ["conversation_id"], "messages": ["conversation_id", "turn"], "scores": ["conversation_id", "judge", "dimension"],
        "crowd_annotations": ["conversation_id", "worker_id", "annotation_id", "dimension"],
    }
    numbers = {"turn": int, "conversation_number": int, "score": float}
    for name in PILOT_OUTPUT_FILES:
        expected = release.expected[name]
        keys = expected[order[name]].astype({"turn": int} if name == "messages" else {})
        expected = expected.loc[keys.sort_values(order[name], kind="stable").index].reset_index(drop=True)
        assert_rows_equal(getattr(imported, name), expected, numbers, name)
        assert_rows_equal(read_back[name], expected, numbers, f"{name} (written and read back)")


@given(release=pilot_releases(), dialect=dialects, data=st.data())
def test_any_single_corruption_of_the_pilot_release_imports_or_is_named(release, dialect, data):
    corruption = data.draw(corruptions(release.files), label="corruption")
    content = corrupted(release.files, corruption, dialect)
    with tempfile.TemporaryDirectory() as scratch:
        files = write_pilot_files(content, Path(scratch) / "release", dialect)
        manifest = pilot_manifest(files)
        try:
            imported = import_pilot(files, manifest)
        except CohortValidationError as error:
            event(f"{corruption.table} {corruption.kind}: CohortValidationError")
            check_rejection(error, set(PILOT_PATHS.values()))
            return
        except InputFileError as error:
            event(f"{corruption.table} {corruption.kind}: InputFileError")
            assert any(str(path) in str(error) or PILOT_PATHS[key] in str(error) for key, path in files.items()), error
            return
        event(f"{corruption.table} {corruption.kind}: imported, {len(imported.issues)} issue(s) listed")
        assert set(imported.issues["file"]) <= set(PILOT_PATHS.values()), imported.issues["file"].unique()
        rows = imported.issues["row"].dropna()
        assert (rows >= 1).all()


# --- found by these properties: each case failed before its fix ----------------------------------------


@pytest.fixture(scope="module")
def simulated_release():
    return simulate_release({arm: 2 for arm in ARMS}, seed=5, messages_per_conversation=4, n_raters=4, pairs_per_rater=3,
                            pool_per_scenario=4)


def import_edited(simulated_release, directory: Path, role: str, change):
    """Import the simulated release with ``change`` applied to the text of one file (a frame of str cells)."""
    files = {name: frame.astype(str).where(frame.notna(), "") for name, frame in simulated_release.files.items()}
    files[role] = change(files[role].copy())
    return import_paper(write_release_files(files, directory, CsvDialect("utf-8", "\n", False)))


def first_conversation(frame: pd.DataFrame) -> pd.Series:
    """The experiment_1 rows of its first conversation (a conversation-level value repeats on each)."""
    return frame["conversation_id"] == frame["conversation_id"].iloc[0]


def test_missing_values_in_integer_columns_stay_integers(simulated_release, tmp_path):
    # pandas 3 turns an Int64 column with a missing value into floats on to_numpy(): the adapter wrote age 30
    # as 30.0 and the imported cohort failed the contract
    def change(frame):
        frame.loc[frame["user_id"] == frame["user_id"].iloc[0], "Age"] = "DATA_EXPIRED"
        frame.loc[first_conversation(frame), "self_empathized"] = ""
        return frame

    imported = import_edited(simulated_release, tmp_path / "release", "experiment_1", change)
    read = downstream(imported, tmp_path / "imported")
    assert read["participants"]["age"].isna().sum() == 1 and read["participants"]["age"].dtype == "Int64"
    assert read["conversations"]["self_empathized"].isna().sum() == 1


@pytest.mark.parametrize(
    ("role", "change", "reason"),
    [
        # every choice empty: perception.csv was written without rows and the perception rule failed on it
        ("experiment_2", lambda frame: frame.assign(participant_choice=""), "at least one row to map onto perception.csv"),
        # a rater choosing twice in one pair, and a pair showing one conversation twice: the perception rule rejected them
        ("experiment_2", lambda frame: pd.concat([frame, frame.iloc[[1]]], ignore_index=True), "each rater to choose once"),
        ("experiment_2", lambda frame: frame.assign(conversation_right_id=frame["conversation_left_id"]), "a conversation other than"),
        # an infinite rating: the Elo rule rejected it
        ("elo_rankings", lambda frame: frame.assign(elo_rating=frame["elo_rating"].where(frame.index != 0, "inf")), "a finite number"),
        # a Level 3 theme over two lines: the themes rule rejected it
        ("all_themes", lambda frame: frame.assign(**{"Level 3 - interpretation": frame["Level 3 - interpretation"].where(
            frame["Level 3 - interpretation"] == "", frame["Level 3 - interpretation"] + "\nsecond line")}), "a Level 3 theme on one line"),
    ],
)
def test_an_optional_file_the_next_rule_would_reject_is_unavailable(simulated_release, tmp_path, role, change, reason):
    imported = import_edited(simulated_release, tmp_path / "release", role, change)
    target = {"experiment_2": "perception", "elo_rankings": "elo", "all_themes": "themes"}[role]
    assert reason in imported.unavailable[target]
    downstream(imported, tmp_path / "imported")


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("user_id", " u1", "a non-empty ID without leading or trailing spaces or control characters"),
        ("conversation_id", "", "a non-empty ID without leading or trailing spaces or control characters"),
        ("validating_emotions", "7", "a number from 1 to 5"),
        ("advice_giving", "inf", "a number from 1 to 5"),
        ("conversation", "Seeker: I lost my job\x1b[2J", "a transcript without control characters"),
        ("conversation_number", "7", "an integer from 1 to 3"),
        ("conversation_number", "1e400", "an integer from 1 to 3"),  # raised OverflowError
    ],
)
def test_a_value_the_contract_rejects_is_named_in_experiment_1(simulated_release, tmp_path, column, value, expected):
    # each was imported and failed the contract only later, naming a row of the imported tables
    def change(frame):
        frame.loc[first_conversation(frame), column] = value
        return frame

    with pytest.raises(CohortValidationError) as caught:
        import_edited(simulated_release, tmp_path / "release", "experiment_1", change)
    issue = caught.value.issues[0]
    assert (Path(issue.file).name, issue.column) == ("experiment_1.csv", column) and issue.row >= 1 and expected in issue.expected


def test_a_conversation_split_in_two_is_named(simulated_release, tmp_path):
    # one row of a conversation given another conversation_id made a second conversation with the same
    # (user_id, conversation_number): joining all_themes.csv on that pair raised ValueError
    def change(frame):
        frame.loc[frame.index[frame["conversation_id"].duplicated(keep=False)][0], "conversation_id"] = "99999"
        return frame

    with pytest.raises(CohortValidationError, match=r"column 'user_id\+conversation_number'.*each participant's conversation_number to be unique"):
        import_edited(simulated_release, tmp_path / "release", "experiment_1", change)


def test_a_release_without_any_transcript_is_named(simulated_release, tmp_path):
    with pytest.raises(CohortValidationError, match=r"experiment_1.csv, column 'conversation'; expected at least one transcript"):
        import_edited(simulated_release, tmp_path / "release", "experiment_1", lambda frame: frame.assign(conversation=""))


def test_an_infinite_turn_count_is_no_count(simulated_release, tmp_path):
    # int(inf) raised OverflowError while listing the counts that differ from the parsed turns
    imported = import_edited(simulated_release, tmp_path / "release", "experiment_1", lambda frame: frame.assign(seeker_count="1e400"))
    assert not (imported.issues["reason"] == "parsed turn counts differ from seeker_count/supporter_count").any()


def small_pilot() -> dict[str, pd.DataFrame]:
    """A pilot release of two conversations rated by every annotator of :data:`PILOT_PATHS` (text cells)."""
    ids = ["20241031124050492385", "20241031124638971163"]
    transcripts = pd.DataFrame({"conversation_id": ids, "full_conversation": [
        "Seeker: I'm feeling so discouraged.. I just got passed over for the promotion I was working hard for\nSupporter: I'm sorry.",
        "Seeker: So, I just lost my job today. I had a sense this was coming, but it's still a shock..\nSupporter: That is hard.",
    ], "response_length": ["20", "12"]})
    ratings = pd.DataFrame({"conversation_id": ids, **{dimension: ["3", "4"] for dimension in DIMENSIONS}})
    annotations = pd.DataFrame({"id": ["1", "2"], "user_id": ["w1", "w2"], "conversation_id": ids,
                                **{dimension: ["3", "4"] for dimension in DIMENSIONS}})
    return {"transcripts": transcripts, "crowd_annotations": annotations, **{judge: ratings for judge in PILOT_JUDGES}}


def test_a_pilot_without_any_conversation_that_parses_is_named(tmp_path):
    # every conversation left out gave an empty conversations table, which failed the contract on its column types
    files = small_pilot()
    files["transcripts"] = files["transcripts"].assign(full_conversation="no role prefix here")
    written = write_pilot_files(files, tmp_path, CsvDialect("utf-8", "\n", False))
    with pytest.raises(CohortValidationError, match=r"original_data/conversations\.csv; expected at least one record that parses into "
                                                    r"conversations\.csv \(every one was left out; the reasons: .*no line starts with 'Seeker:'"):
        import_pilot(written, pilot_manifest(written))


def test_a_pilot_without_any_rating_that_parses_names_every_ratings_file(tmp_path):
    files = small_pilot()
    for judge in PILOT_JUDGES:
        files[judge] = files[judge].assign(conversation_id="not a transcript")
    written = write_pilot_files(files, tmp_path, CsvDialect("utf-8", "\n", False))
    with pytest.raises(CohortValidationError) as caught:
        import_pilot(written, pilot_manifest(written))
    assert [issue.file for issue in caught.value.issues] == [PILOT_PATHS[judge] for judge in PILOT_JUDGES]
    assert all("at least one record that parses into scores.csv" in issue.expected for issue in caught.value.issues)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [("conversation_id", " 20241031124050492385", "not a non-empty ID"),
     ("full_conversation", "Seeker: I lost my job\x00", "a control character in the transcript")],
)
def test_a_pilot_conversation_the_contract_rejects_is_left_out_and_listed(tmp_path, column, value, reason):
    # the contract rejected it after the import, naming a row of the sorted native tables, not of the release
    files = small_pilot()
    files["transcripts"].loc[0, column] = value
    written = write_pilot_files(files, tmp_path, CsvDialect("utf-8", "\n", False))
    imported = import_pilot(written, pilot_manifest(written))
    listed = imported.issues[imported.issues["reason"].str.contains(reason, regex=False)]
    assert listed[["file", "row", "column"]].values.tolist() == [["original_data/conversations.csv", 1, column]]
    assert imported.conversations["conversation_id"].tolist() == ["20241031124638971163"]
