"""The authors' release: download (pinned, checksummed, Git LFS), verification of local copies, import of
the real layout onto the native contract (an optional file that cannot be mapped never stops the
primary import), and the published-versus-reproduced comparison."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.adapters.download import lfs_pointer_text, parse_lfs_pointer
from analysis.adapters.paper_release import (
    INTERPRETATION_COLUMNS,
    MANIFEST_PATH,
    NATIVE_THEME_COLUMNS,
    RELEASE_COMMIT,
    RELEASE_FILES,
    agrees_at_precision,
    compare_published,
    decimals_of,
    download_release,
    import_release,
    match_scenarios,
    parse_transcripts,
    read_comparisons,
    read_manifest,
    read_text_csv,
    result_requirement,
)
from analysis.errors import CohortValidationError, InputFileError, PipelineError
from analysis.runtime.checksums import git_blob_id
from analysis.simulate.release import simulate_release, theme_levels, write_release
from tests.conftest import REPO
from tests.local_server import serving

ARMS = ["control", "video", "coach", "combined"]
REFERENCE = Path(MANIFEST_PATH).parent
# The shipped mapping of all_themes.csv's Level 1 labels (config/config.yaml): the tests use what users run.
RELEASE_CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))["paper_release"]


def run_import(files, verify_checksums=False, **overrides):
    """import_release with the shipped theme mapping; simulated files are not the authors', so unverified."""
    settings = {"theme_categories": RELEASE_CONFIG["theme_categories"], "junk_levels": RELEASE_CONFIG["junk_levels"], **overrides}
    return import_release(files, ARMS, verify_checksums=verify_checksums, **settings)


@pytest.fixture(scope="module")
def release():
    return simulate_release({arm: 10 for arm in ARMS}, seed=21, messages_per_conversation=5, n_raters=12, pairs_per_rater=6,
                            pool_per_scenario=6)


@pytest.fixture
def release_files(release, tmp_path):
    return write_release(release, tmp_path / "release")


def _edit(path: Path, change, index: bool = False) -> None:
    """Rewrite a release file after ``change`` (which edits the frame in place, or returns a new one)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    changed = change(frame)
    (frame if changed is None else changed).to_csv(path, index=index)


def test_manifest_holds_the_published_sizes_and_checksums():
    manifest = read_manifest().set_index("path")
    assert list(manifest.index) == list(RELEASE_FILES.values())
    assert manifest.loc["data/experiment_1.csv", "size"] == 65160966
    assert manifest.loc["data/experiment_1.csv", "sha256"] == "2297b191e1f4023b8133edcabbbd7cfd3dd55671a26820540c9b49c0abb487d0"
    assert manifest.loc["data/elo_rankings.csv", "size"] == 167171
    assert manifest.loc["data/elo_rankings.csv", "sha256"] == "6ef1b0ba0f5c4f4ad76ff2e61cbd5251dd1b11eed4efbe57a7e8f6f802225c77"
    assert manifest["git_blob"].to_dict() == {
        "data/experiment_1.csv": "afca814a9eabb3e3cc017944991be8c89059a75e",
        "data/elo_rankings.csv": "f16c3320108711fb1ea907de69e13fe54dfda993",
        "data/experiment_2.csv": "940bbebc2d4b95f7d47ad84f80cb66ac5984b05f",
        "data/all_themes.csv": "f093627638247b088c484166db342b9b967d4061",
    }
    assert RELEASE_COMMIT == "c83641805333df0d435cb172a4460e34615a8254"


def test_git_blob_ids_and_the_pinned_lfs_pointer():
    # `printf 'hello\n' | git hash-object --stdin` -> ce013625030ba8dba906f756967f9e9ca394464a
    assert git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    # Two independent published facts agree: the pointer git writes for experiment_1's published sha256 and size
    # has the blob id the pinned tree holds for it.
    manifest = read_manifest().set_index("path").loc["data/experiment_1.csv"]
    assert git_blob_id(lfs_pointer_text(manifest["sha256"], int(manifest["size"]))) == manifest["git_blob"]


def _pinned_manifest(files: dict[str, Path]) -> pd.DataFrame:
    """A manifest pinning ``files`` as they are (elo also by sha256, as the real manifest does)."""
    rows = []
    for role, path in files.items():
        data = path.read_bytes()
        published = role == "elo_rankings"
        rows.append({"path": RELEASE_FILES[role], "size": len(data) if published else pd.NA,
                     "sha256": hashlib.sha256(data).hexdigest() if published else "", "git_blob": git_blob_id(data),
                     "lfs": False, "content": "", "source": "test"})
    manifest = pd.DataFrame(rows)
    manifest["size"] = manifest["size"].astype("Int64")
    return manifest


def test_local_copies_are_verified_against_the_pinned_tree(release, release_files):
    manifest = _pinned_manifest(release_files)
    imported = run_import(release_files, verify_checksums=True, manifest=manifest)
    assert imported.record["verification"] == {"verified": True, "unverified_files": [], "policy": "checked against the pinned tree"}
    assert imported.record["files"]["elo_rankings"]["verified_against"] == "sha256 and git blob"
    assert imported.record["files"]["all_themes"]["verified_against"] == "git blob"
    expected = manifest.set_index("path").loc["data/experiment_2.csv", "git_blob"]
    with release_files["experiment_2"].open("a", encoding="utf-8") as handle:
        handle.write("\n")
    actual = git_blob_id(release_files["experiment_2"].read_bytes())
    with pytest.raises(PipelineError, match=rf"experiment_2.csv: checksum mismatch.*expected git blob id {expected}, actual {actual}"):
        run_import(release_files, verify_checksums=True, manifest=manifest)
    unverified = run_import(release_files, verify_checksums=False, manifest=manifest)
    assert unverified.record["verification"]["unverified_files"] == sorted(path.name for path in release_files.values())


def test_the_real_manifest_rejects_a_copy_that_is_not_the_authors(release_files):
    with pytest.raises(PipelineError, match=r"checksum mismatch against the pinned release.*expected .* actual .*verify_checksums: false"):
        run_import(release_files, verify_checksums=True)


def test_a_git_lfs_pointer_instead_of_the_data_is_named(release_files):
    release_files["experiment_1"].write_bytes(lfs_pointer_text("ab" * 32, 65160966))
    with pytest.raises(InputFileError, match=r"experiment_1.csv: this is a Git LFS pointer, not the data; run `git lfs pull`"):
        run_import(release_files, verify_checksums=False)


def test_import_gives_back_the_simulated_native_cohort(release, release_files):
    imported = run_import(release_files)
    native = release.cohort
    to_native_p = {v: k for k, v in release.participant_ids.items()}
    to_native_c = {v: k for k, v in release.conversation_ids.items()}
    tables = imported.tables

    def back(frame, columns):
        frame = frame.copy()
        if "participant_id" in frame:
            frame["participant_id"] = frame["participant_id"].map(to_native_p)
        if "conversation_id" in frame:
            frame["conversation_id"] = frame["conversation_id"].map(to_native_c)
        return frame.sort_values(columns, kind="stable").reset_index(drop=True)

    participants = back(tables.participants, ["participant_id"])
    pd.testing.assert_frame_equal(participants, native.participants, check_dtype=False)
    conversations = back(tables.conversations, ["conversation_id"])
    pd.testing.assert_frame_equal(conversations[native.conversations.columns], native.conversations, check_dtype=False)
    pd.testing.assert_frame_equal(back(tables.messages, ["conversation_id", "turn"]), native.messages, check_dtype=False)
    pd.testing.assert_frame_equal(back(tables.scores, ["conversation_id", "judge", "dimension"]), native.scores, check_dtype=False)
    assert imported.unavailable == {}
    # what is listed: placeholder theme codes and perception rows without a choice, nothing else
    listed = imported.issues.groupby(["file", "column", "action"]).size().to_dict()
    assert set(listed) == {("all_themes.csv", "Level 1", "row left out"), ("experiment_2.csv", "participant_choice", "row left out")}
    record = imported.record
    experiment_1 = release.files["experiment_1"]
    n_supporter = (native.messages["role"] == "supporter").sum()
    assert record["rows"]["experiment_1"] == len(experiment_1) == n_supporter  # one row per supporter message
    assert record["rows"]["experiment_1_repeated_rows_collapsed"] == len(experiment_1) - len(native.conversations)
    assert record["synthetic"] is True
    assert record["files"]["experiment_1"]["sha256"] == hashlib.sha256(release_files["experiment_1"].read_bytes()).hexdigest()
    assert record["files"]["experiment_1"]["git_blob"] == git_blob_id(release_files["experiment_1"].read_bytes())
    assert set(record["mappings"]) >= {"participants.arm", "conversations.scenario", "messages", "scores", "perception.csv", "themes.csv"}
    assert {name: entry["available"] for name, entry in record["optional"].items()} == {"perception": True, "elo": True, "themes": True}


def test_a_leading_index_column_in_experiment_1_is_accepted(release, release_files):
    _edit(release_files["experiment_1"], lambda frame: None, index=True)
    assert release_files["experiment_1"].read_text(encoding="utf-8").startswith(",id,user_id,")
    imported = run_import(release_files)
    assert len(imported.tables.conversations) == len(release.cohort.conversations)


def test_optional_files_are_mapped(release, release_files):
    imported = run_import(release_files)
    experiment_2 = release.files["experiment_2"]
    perception = imported.perception
    assert list(perception.columns) == ["rater_id", "pair_id", "scenario", "conversation_left_id", "conversation_right_id", "choice"]
    chosen = experiment_2[experiment_2["participant_choice"] != ""]
    assert len(perception) == len(chosen) < len(experiment_2)  # empty choices are left out (and listed)
    assert (perception["choice"].to_numpy() == chosen["participant_choice"].to_numpy()).all()
    assert set(perception["scenario"]) <= {"job_loss", "promotion", "undervalued", "loss_dad", "mom_unwell"}
    swapped = perception["conversation_right_id"] + "~" + perception["conversation_left_id"]
    straight = perception["conversation_left_id"] + "~" + perception["conversation_right_id"]
    assert ((perception["pair_id"] == swapped) | (perception["pair_id"] == straight)).all()
    elo = imported.elo
    assert list(elo.columns) == ["conversation_id", "elo_rating"]
    assert elo["conversation_id"].str.fullmatch(r"\d{20}").all()  # 20-digit IDs never pass through a float
    assert set(elo["conversation_id"]) == set(release.files["elo_rankings"]["conversation_id"])
    # the themes come back as the native codes, Level 3 as the theme with Level 2 and Level 1 as parents
    themes = imported.themes
    assert list(themes.columns) == NATIVE_THEME_COLUMNS
    levels = theme_levels().set_index("theme")
    expected = release.themes.assign(
        conversation_id=release.themes["conversation_id"].map(release.conversation_ids),
        theme_level2=levels.loc[release.themes["theme"], "level_2"].to_numpy(),
        theme_level1=levels.loc[release.themes["theme"], "level_1"].to_numpy(),
        theme=levels.loc[release.themes["theme"], "level_3"].to_numpy(),
    )[NATIVE_THEME_COLUMNS].sort_values(["conversation_id", "turn", "theme"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(themes, expected, check_dtype=False)
    assert set(themes["theme_level1"]) >= {"Advice-giving"} and "Advice-Giving" not in set(themes["theme_level1"])


@pytest.mark.parametrize("spelling", INTERPRETATION_COLUMNS)
def test_each_spelling_of_the_interpretation_column_is_read(release_files, spelling):
    _edit(release_files["all_themes"], lambda frame: frame.rename(columns={"Level 3 - interpretation": spelling}))
    imported = run_import(release_files)
    assert imported.unavailable == {} and len(imported.themes) > 0


def test_a_conversation_id_column_in_all_themes_is_used(release, release_files):
    # joined on conversation_id when present: move every row to another conversation of the same participant
    experiment_1 = release.files["experiment_1"].drop_duplicates("conversation_id")
    by_key = experiment_1.set_index(["user_id", "conversation_number"])["conversation_id"]

    def change(frame):
        frame["conversation_id"] = [by_key[(user, 1)] for user in frame["user_id"]]

    _edit(release_files["all_themes"], change)
    imported = run_import(release_files)
    first = set(experiment_1.loc[experiment_1["conversation_number"] == 1, "conversation_id"])
    assert set(imported.themes["conversation_id"]) <= first
    # rows that land on a turn the first conversation does not have are left out and listed
    listed = imported.issues[imported.issues["column"] == "turn_number"]
    assert (listed["action"] == "row left out").all()


def test_level_1_spellings_and_placeholders(release_files):
    def change(frame):
        coded = frame.index[frame["Level 1"] == "Affirming"]
        frame.loc[coded[0], "Level 1"] = "  affirming "
        frame.loc[coded[1], "Level 1"] = "AFFIRMING"

    _edit(release_files["all_themes"], change)
    imported = run_import(release_files)
    assert imported.unavailable == {}
    left_out = imported.issues[(imported.issues["file"] == "all_themes.csv") & (imported.issues["column"] == "Level 1")]
    assert set(left_out["value"].replace("nan", "")) <= {"No match found", "unknown", ""} and len(left_out) > 0
    assert set(imported.themes.loc[imported.themes["category"] == "motivational", "theme_level1"]) <= {"Affirming", "Providing Reassurance"}


def _break(role: str, how: str):
    """Edits that make one optional release file impossible to map."""
    edits = {
        ("all_themes", "column"): lambda frame: frame.drop(columns=["Level 1"]),
        ("all_themes", "value"): lambda frame: frame.assign(**{"Level 1": frame["Level 1"].replace("Affirming", "Cheerleading")}),
        ("experiment_2", "column"): lambda frame: frame.drop(columns=["participant_choice"]),
        ("experiment_2", "value"): lambda frame: frame.assign(conversation_left_id="99999999999999999999"),
        ("elo_rankings", "column"): lambda frame: frame.drop(columns=["elo_rating"]),
        ("elo_rankings", "value"): lambda frame: frame.assign(elo_rating="high"),
    }
    return edits[(role, how)]


@pytest.mark.parametrize("how", ["column", "value", "missing"])
@pytest.mark.parametrize("role", ["all_themes", "experiment_2", "elo_rankings"])
def test_an_optional_file_that_cannot_be_mapped_leaves_the_primary_import(release, release_files, role, how):
    if how == "missing":
        release_files[role].unlink()
    else:
        _edit(release_files[role], _break(role, how), index=role == "elo_rankings")
    imported = run_import(release_files)
    target = {"all_themes": "themes", "experiment_2": "perception", "elo_rankings": "elo"}[role]
    # experiment_2 feeds the Elo comparison too
    expected = {"perception", "elo"} if target == "perception" else {target}
    assert set(imported.unavailable) == expected
    reason = imported.unavailable[target]
    assert reason.startswith(f"{role}.csv: file not found" if how == "missing" else f"{role}.csv could not be mapped")
    if how == "column":
        assert {"all_themes": "Level 1", "experiment_2": "participant_choice", "elo_rankings": "elo_rating"}[role] in reason
    assert len(imported.tables.conversations) == len(release.cohort.conversations)
    assert getattr(imported, target).empty and list(getattr(imported, target).columns)
    skipped = imported.issues[imported.issues["action"] == "file not imported"]
    assert set(skipped["file"]) == {f"{role}.csv"} | ({"elo_rankings.csv"} if target == "perception" else set())
    assert skipped["reason"].str.contains("skipped for this cohort").all()
    assert imported.record["optional"][target] | {"reason": ""} == {
        "source": f"{role}.csv", "families": imported.record["optional"][target]["families"], "mapped": False,
        "available": False, "rows": 0, "reason": ""}


def test_an_empty_theme_mapping_makes_themes_unavailable_with_the_reason(release_files):
    imported = run_import(release_files, theme_categories={})
    assert set(imported.unavailable) == {"themes"} and "paper_release.theme_categories is empty" in imported.unavailable["themes"]


def test_a_theme_under_two_parents_is_named(release_files):
    def change(frame):
        coded = frame.index[frame["Level 2"] != ""]
        frame.loc[coded[0], "Level 2"] = "Another parent"

    _edit(release_files["all_themes"], change)
    imported = run_import(release_files)
    assert "one Level 2 parent per Level 3 theme" in imported.unavailable["themes"]


def test_repeated_rows_that_disagree_fail_loudly(release_files):
    def change(frame):
        target = frame["conversation_id"].duplicated(keep=False).idxmax()
        conversation = frame.loc[target, "conversation_id"]
        rows = frame.index[frame["conversation_id"] == conversation]
        frame.loc[rows[-1], "advice_giving"] = "5" if frame.loc[rows[0], "advice_giving"] != "5" else "1"

    _edit(release_files["experiment_1"], change)
    with pytest.raises(CohortValidationError, match=r"column 'advice_giving'.*repeated rows of one conversation to agree"):
        run_import(release_files)


def test_a_participant_with_two_conditions_fails(release_files):
    def change(frame):
        first = frame["user_id"].iloc[0]
        rows = frame.index[frame["user_id"] == first]
        conversation = frame.loc[rows[0], "conversation_id"]
        frame.loc[frame["conversation_id"] == conversation, "condition"] = "Influencer" if frame.loc[rows[0], "condition"] != "Influencer" else "Control"

    _edit(release_files["experiment_1"], change)
    with pytest.raises(CohortValidationError, match=r"column 'condition'.*one value per participant"):
        run_import(release_files)


def test_missing_primary_columns_are_named(release_files):
    _edit(release_files["experiment_1"], lambda frame: frame.drop(columns=["starter"]))
    with pytest.raises(CohortValidationError, match=r"experiment_1.csv, column 'starter'; expected a column with this name"):
        run_import(release_files)


def test_missing_primary_file_is_named(release_files):
    release_files["experiment_1"].unlink()
    with pytest.raises(InputFileError, match="experiment_1.csv: file not found"):
        run_import(release_files)


def test_bad_values_are_listed_together(release_files):
    def change(frame):
        frame.loc[:, "starter"] = frame["starter"].where(frame["conversation_number"] != "1", "Hello, how are you?")
        frame.loc[frame["user_id"] == frame["user_id"].iloc[0], "baseline_empathy_item_3"] = "a lot"
        frame.loc[frame["condition"] == "Control", "condition"] = "Placebo"

    _edit(release_files["experiment_1"], change)
    with pytest.raises(CohortValidationError) as error:
        run_import(release_files)
    message = str(error.value)
    assert "column 'starter': value 'Hello, how are you?'" in message
    assert "column 'baseline_empathy_item_3': value 'a lot'" in message
    assert "column 'condition': value 'Placebo'" in message


def test_placeholders_and_empty_scores_are_set_missing_and_listed(release, release_files):
    def change(frame):
        user = frame["user_id"].iloc[0]
        frame.loc[frame["user_id"] == user, "Age"] = "DATA_EXPIRED"
        frame.loc[frame["user_id"] == user, "Sex"] = "CONSENT_REVOKED"
        conversation = frame["conversation_id"].iloc[1]
        frame.loc[frame["conversation_id"] == conversation, "self_oriented"] = ""

    _edit(release_files["experiment_1"], change)
    imported = run_import(release_files)
    issues = imported.issues[imported.issues["file"] == "experiment_1.csv"]
    assert set(issues["action"]) == {"set missing", "no score row"}
    assert set(issues.loc[issues["action"] == "set missing", "column"]) == {"Age", "Sex"}
    assert issues.loc[issues["column"] == "Age", "value"].tolist() == ["DATA_EXPIRED"]
    assert imported.tables.participants["age"].isna().sum() == 1 and imported.tables.participants["sex"].isna().sum() == 1
    assert len(imported.tables.scores) == len(release.cohort.scores) - 1


def test_opening_lines_are_matched_robustly():
    lines = pd.Series([
        "So, I just lost my job today. I had a sense this was coming, but it\u2019s still a shock\u2026",
        "  I'm feeling so discouraged..  I just got passed over for the promotion I was working hard for.  ",
        "I\u2019ve been working so hard but I don\u2019t think anyone cares...",
        "I LOST MY DAD LAST WEEK.. I still can't believe he's really gone..",
        "I still can't believe it... my mom just got diagnosed with cancer. It feels like my whole world just flipped.",
        "job loss", "Mom-Unwell", "I still can't believe it… my mom just got diagnosed",
        "I lost my dad last week\u2026 I still can\u2019t believe he\u2019s really gone\u2026",
        "Hello there", None,
    ])
    expected = ["job_loss", "promotion", "undervalued", "loss_dad", "mom_unwell", "job_loss", "mom_unwell", "mom_unwell", "loss_dad"]
    assert match_scenarios(lines).tolist()[:9] == expected
    assert match_scenarios(lines).iloc[9:].isna().all()


def test_transcripts_split_into_turns():
    transcripts = pd.Series(
        {
            "c1": "Seeker: I lost my job.\nSupporter: Oh no.\nHow are you?\n\nseeker:  Not great.\r\nSupporter:Hang in there",
            "c2": "Just some text without roles",
            "c3": "",
        }
    )
    messages, unparsed = parse_transcripts(transcripts)
    assert unparsed == ["c2"]
    c1 = messages[messages["conversation_id"] == "c1"]
    assert c1["turn"].tolist() == [1, 2, 3, 4]
    assert c1["role"].tolist() == ["seeker", "supporter", "seeker", "supporter"]
    assert c1["text"].tolist() == ["I lost my job.", "Oh no.\nHow are you?", "Not great.", "Hang in there"]
    assert "c3" not in set(messages["conversation_id"])


def test_published_numbers_of_an_unavailable_input_are_listed_as_not_reproduced():
    assert result_requirement("perception/elo_rank_correlations.csv") == "elo"
    assert result_requirement("perception/logit.csv") == "perception"
    assert result_requirement("primary/did_coefficients.csv") is None
    comparisons = read_comparisons()
    published = {name: read_text_csv(REFERENCE / name) for name in comparisons["published_file"].unique()}
    results = _results_reproducing(comparisons, published)
    gone = {file: "perception.csv unavailable: experiment_2.csv could not be mapped" for file in results if file.startswith("perception/")}
    table = compare_published(comparisons, published, {k: v for k, v in results.items() if k not in gone}, unavailable=gone)
    skipped = table[table["result_file"].isin(list(gone))]
    assert len(skipped) > 0 and skipped["reproduced"].isna().all() and not skipped["agrees"].any()
    assert skipped["note"].str.startswith("not reproduced: perception.csv unavailable").all()
    assert table.loc[~table["result_file"].isin(list(gone)), "agrees"].all()


# ---------------------------------------------------------------------------------------- download
@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    with serving(root) as url:
        yield root, url


def _serve(root: Path, content: dict[str, bytes], lfs: set[str]) -> pd.DataFrame:
    rows = []
    for path, data in content.items():
        digest = hashlib.sha256(data).hexdigest()
        media = root / "media" / path
        media.parent.mkdir(parents=True, exist_ok=True)
        media.write_bytes(data)
        raw = root / "raw" / path
        raw.parent.mkdir(parents=True, exist_ok=True)
        if path in lfs:
            raw.write_bytes(f"version https://git-lfs.github.com/spec/v1\noid sha256:{digest}\nsize {len(data)}\n".encode())
        else:
            raw.write_bytes(data)
        rows.append({"path": path, "size": len(data), "sha256": digest, "lfs": path in lfs, "content": "", "source": "test"})
    manifest = pd.DataFrame(rows)
    manifest["size"] = manifest["size"].astype("Int64")
    return manifest


def test_download_follows_lfs_pointers_and_verifies_checksums(server, tmp_path):
    root, url = server
    content = {"data/experiment_1.csv": b"a,b\n" + b"1,2\n" * 5000, "data/elo_rankings.csv": b",conversation_id\n0,1\n"}
    manifest = _serve(root, content, lfs={"data/experiment_1.csv"})
    manifest.loc[1, ["size", "sha256"]] = [pd.NA, ""]  # an unpublished checksum is recorded, not verified
    records = download_release(tmp_path / "out", manifest, raw_base=f"{url}/raw/", media_base=f"{url}/media/")
    for path, data in content.items():
        assert (tmp_path / "out" / path).read_bytes() == data
    by_path = {record["path"]: record for record in records}
    assert by_path["data/experiment_1.csv"]["lfs"] and by_path["data/experiment_1.csv"]["verified_against"] == "lfs pointer and manifest"
    assert by_path["data/experiment_1.csv"]["url"].endswith("/media/data/experiment_1.csv")
    assert by_path["data/elo_rankings.csv"]["verified_against"] == "recorded only"
    assert by_path["data/elo_rankings.csv"]["sha256"] == hashlib.sha256(content["data/elo_rankings.csv"]).hexdigest()


def test_download_rejects_a_checksum_mismatch(server, tmp_path):
    root, url = server
    manifest = _serve(root, {"data/elo_rankings.csv": b"x\n1\n"}, lfs=set())
    manifest.loc[0, "sha256"] = "0" * 64
    with pytest.raises(PipelineError, match=r"data/elo_rankings.csv: checksum mismatch.*expected 4 bytes, sha256 0{64}"):
        download_release(tmp_path / "out", manifest, raw_base=f"{url}/raw/", media_base=f"{url}/media/")
    assert not list((tmp_path / "out").rglob("*.csv*"))


def test_download_rejects_lfs_content_that_differs_from_its_pointer(server, tmp_path):
    root, url = server
    manifest = _serve(root, {"data/experiment_1.csv": b"real content\n"}, lfs={"data/experiment_1.csv"})
    (root / "media" / "data" / "experiment_1.csv").write_bytes(b"tampered\n")
    with pytest.raises(PipelineError, match="does not match its pointer"):
        download_release(tmp_path / "out", manifest, raw_base=f"{url}/raw/", media_base=f"{url}/media/")


def test_download_from_a_file_url_and_a_missing_file(tmp_path):
    root = tmp_path / "copy"
    manifest = _serve(root, {"data/elo_rankings.csv": b"x\n1\n"}, lfs=set())
    download_release(tmp_path / "out", manifest, raw_base=(root / "raw").as_uri() + "/", media_base=(root / "media").as_uri() + "/")
    assert (tmp_path / "out" / "data" / "elo_rankings.csv").read_bytes() == b"x\n1\n"
    manifest.loc[0, "path"] = "data/missing.csv"
    with pytest.raises(PipelineError, match="data/missing.csv: could not download"):
        download_release(tmp_path / "out2", manifest, raw_base=(root / "raw").as_uri() + "/", media_base=(root / "media").as_uri() + "/")


def test_lfs_pointer_parsing():
    pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"ab" * 32 + b"\nsize 65160966\n"
    assert parse_lfs_pointer(pointer) == {"sha256": "ab" * 32, "size": 65160966}
    assert parse_lfs_pointer(b"conversation_id,elo\n") is None
    with pytest.raises(PipelineError, match="malformed"):
        parse_lfs_pointer(b"version https://git-lfs.github.com/spec/v1\nsize 3\n")


# ----------------------------------------------------------------------------- published vs reproduced
def test_agreement_is_judged_at_the_published_precision():
    assert decimals_of("0.040") == 3 and decimals_of("2904") == 0 and decimals_of("1.12") == 2
    assert agrees_at_precision("0.648", 0.64849)
    assert not agrees_at_precision("0.648", 0.6485)  # half up: 0.649
    assert agrees_at_precision("-0.665", -0.6645)  # half away from zero
    assert agrees_at_precision("0.000", -0.0001)
    assert agrees_at_precision("2904", 2904.0) and not agrees_at_precision("2904", 2903.0)
    assert not agrees_at_precision("0.5", float("nan"))


def _results_reproducing(comparisons: pd.DataFrame, published: dict) -> dict:
    """Result tables whose every registered cell holds the published number (composite: a sample with
    the published mean, SD, minimum and maximum)."""
    rows: dict[str, dict] = {}
    for spec in comparisons.to_dict("records"):
        if spec["statistic"] != "value":
            continue
        table = published[spec["published_file"]]
        for condition in filter(None, spec["published_where"].split(";")):
            column, _, value = condition.partition("=")
            table = table[table[column] == value]
        keys = [key for key in spec["keys"].split(";") if key]
        for record in table.to_dict("records"):
            where = dict(part.split("=", 1) for part in filter(None, spec["result_where"].split(";")))
            where.update({key: record[key] for key in keys})
            row = rows.setdefault((spec["result_file"], tuple(sorted(where.items()))), dict(where))
            row[spec["result_column"]] = float(record[spec["published_column"]])
    results: dict[str, list] = {}
    for (file, _), row in rows.items():
        results.setdefault(file, []).append(row)
    composite = published["published_composite.csv"].set_index("quantity")["value"].astype(float)
    values = np.array([composite["composite_min"], composite["composite_max"], *([-0.19] * 2000)])
    values[2:] += np.resize([composite["composite_sd"], -composite["composite_sd"]], 2000) * 1.0015
    frames = {file: pd.DataFrame(rows) for file, rows in results.items()}
    frames["outcomes/conversation_scores.csv"] = pd.DataFrame({"overall_empathy": values})
    return frames


def test_published_numbers_reproduced_exactly_all_agree():
    comparisons = read_comparisons()
    published = {name: read_text_csv(REFERENCE / name) for name in comparisons["published_file"].unique()}
    table = compare_published(comparisons, published, _results_reproducing(comparisons, published))
    n_coefficients = len(published["published_primary_coefficients.csv"])
    assert len(table) >= 2 * n_coefficients + 3 * len(published["published_primary_fit.csv"]) + 4
    assert set(table["published_file"]) == set(comparisons["published_file"])
    assert table["agrees"].all(), table[~table["agrees"]]
    assert table["reproduced"].notna().all()


def test_published_versus_reproduced_reports_each_number():
    comparisons = read_comparisons()
    published = {name: read_text_csv(REFERENCE / name) for name in comparisons["published_file"].unique()}
    results = _results_reproducing(comparisons, published)
    coefficients = results["primary/did_coefficients.csv"]
    first_row = (coefficients["outcome"] == "encouraging_elaboration") & (coefficients["term"] == "intercept")
    coefficients.loc[first_row, "estimate"] += 0.01
    results["outcomes/conversation_scores.csv"] = pd.DataFrame({"overall_empathy": [1.0, 2.0, 4.0]})
    table = compare_published(comparisons, published, results)
    first = table.iloc[0]
    assert first["quantity"] == "DiD estimate" and first["key"] == "outcome=encouraging_elaboration; term=intercept"
    assert first["published"] == "2.159" and first["decimals"] == 3 and not first["agrees"]
    assert first["reproduced"] == pytest.approx(2.169) and first["reproduced_rounded"] == "2.169"
    assert first["difference"] == pytest.approx(0.01)
    assert table.iloc[1:]["quantity"].eq("DiD estimate").any() and table.iloc[1]["agrees"]
    mean = table[table["quantity"] == "Composite mean"].iloc[0]
    assert mean["reproduced"] == pytest.approx(7 / 3) and mean["published"] == "-0.19" and not mean["agrees"]
    sd = table[table["quantity"] == "Composite SD"].iloc[0]
    assert sd["reproduced"] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    assert "Kumar et al. 2026" in first["source"]
    share = table[(table["quantity"] == "Share reliably improved") & (table["key"] == "arm=coach")].iloc[0]
    assert share["published"] == "0.216" and share["agrees"]


def test_a_missing_selection_column_is_named():
    comparisons = read_comparisons().iloc[[0]].assign(result_where="model=arm")
    published = {"published_primary_coefficients.csv": read_text_csv(REFERENCE / "published_primary_coefficients.csv")}
    with pytest.raises(PipelineError, match=r"primary/did_coefficients.csv: no column 'model'"):
        compare_published(comparisons, published, {"primary/did_coefficients.csv": pd.DataFrame({"outcome": ["x"], "term": ["y"]})})
