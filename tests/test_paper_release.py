"""The authors' release: download (pinned, checksummed, Git LFS), import onto the native contract, and
the published-versus-reproduced comparison."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import CohortValidationError, InputFileError, PipelineError
from analysis.paper_release import (
    MANIFEST_PATH,
    RELEASE_COMMIT,
    RELEASE_FILES,
    agrees_at_precision,
    compare_published,
    decimals_of,
    download_release,
    import_release,
    match_scenarios,
    parse_lfs_pointer,
    parse_transcripts,
    read_comparisons,
    read_manifest,
    read_text_csv,
)
from analysis.simulate_release import simulate_release, write_release

ARMS = ["control", "video", "coach", "combined"]
REFERENCE = Path(MANIFEST_PATH).parent


@pytest.fixture(scope="module")
def release():
    return simulate_release({arm: 10 for arm in ARMS}, seed=21, messages_per_conversation=5, n_raters=12, pairs_per_rater=6)


@pytest.fixture
def release_files(release, tmp_path):
    return write_release(release, tmp_path / "release")


def _edit(path: Path, change) -> None:
    """Rewrite a release file after ``change`` (which edits the frame in place, or returns a new one)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    changed = change(frame)
    (frame if changed is None else changed).to_csv(path, index=False)


def test_manifest_holds_the_published_sizes_and_checksums():
    manifest = read_manifest().set_index("path")
    assert list(manifest.index) == list(RELEASE_FILES.values())
    assert manifest.loc["data/experiment_1.csv", "size"] == 65160966
    assert manifest.loc["data/experiment_1.csv", "sha256"] == "2297b191e1f4023b8133edcabbbd7cfd3dd55671a26820540c9b49c0abb487d0"
    assert manifest.loc["data/elo_rankings.csv", "size"] == 167171
    assert manifest.loc["data/elo_rankings.csv", "sha256"] == "6ef1b0ba0f5c4f4ad76ff2e61cbd5251dd1b11eed4efbe57a7e8f6f802225c77"
    assert RELEASE_COMMIT == "c83641805333df0d435cb172a4460e34615a8254"


def test_import_gives_back_the_simulated_native_cohort(release, release_files):
    imported = import_release(release_files, ARMS)
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
    assert imported.issues.empty
    record = imported.record
    assert record["rows"]["experiment_1"] == len(release.files["experiment_1"]) > len(native.conversations)
    assert record["rows"]["experiment_1_repeated_rows_collapsed"] == len(release.files["experiment_1"]) - len(native.conversations)
    assert record["synthetic"] is True
    assert record["files"]["experiment_1"]["sha256"] == hashlib.sha256(release_files["experiment_1"].read_bytes()).hexdigest()
    assert set(record["mappings"]) >= {"participants.arm", "conversations.scenario", "messages", "scores", "perception.csv"}


def test_optional_files_are_mapped(release, release_files):
    imported = import_release(release_files, ARMS)
    experiment_2 = release.files["experiment_2"]
    perception = imported.perception
    assert list(perception.columns) == ["rater_id", "pair_id", "scenario", "conversation_left_id", "conversation_right_id", "choice"]
    assert len(perception) == len(experiment_2)
    assert (perception["choice"] == experiment_2["participant_choice"]).all()
    assert set(perception["scenario"]) <= {"job_loss", "promotion", "undervalued", "loss_dad", "mom_unwell"}
    swapped = perception["conversation_right_id"] + "~" + perception["conversation_left_id"]
    straight = perception["conversation_left_id"] + "~" + perception["conversation_right_id"]
    assert ((perception["pair_id"] == swapped) | (perception["pair_id"] == straight)).all()
    elo = imported.elo
    assert list(elo.columns) == ["conversation_id", "elo_rating"]
    assert elo["conversation_id"].str.fullmatch(r"\d{20}").all()  # 20-digit IDs never pass through a float
    assert set(elo["conversation_id"]) == set(release.conversation_ids.values())
    themes = imported.themes
    assert list(themes.columns) == ["conversation_id", "turn", "theme", "category"]
    assert set(themes["category"]) <= {"affective", "cognitive", "motivational", "misattuned"}
    supporter_turns = imported.tables.messages.query("role == 'supporter'")[["conversation_id", "turn"]]
    assert len(themes.merge(supporter_turns)) == len(themes)


def test_repeated_rows_that_disagree_fail_loudly(release_files):
    def change(frame):
        target = frame["conversation_id"].duplicated(keep=False).idxmax()
        conversation = frame.loc[target, "conversation_id"]
        rows = frame.index[frame["conversation_id"] == conversation]
        frame.loc[rows[-1], "advice_giving"] = "5" if frame.loc[rows[0], "advice_giving"] != "5" else "1"

    _edit(release_files["experiment_1"], change)
    with pytest.raises(CohortValidationError, match=r"column 'advice_giving'.*repeated rows of one conversation to agree"):
        import_release(release_files, ARMS)


def test_a_participant_with_two_conditions_fails(release_files):
    def change(frame):
        first = frame["user_id"].iloc[0]
        rows = frame.index[frame["user_id"] == first]
        conversation = frame.loc[rows[0], "conversation_id"]
        frame.loc[frame["conversation_id"] == conversation, "condition"] = "Influencer" if frame.loc[rows[0], "condition"] != "Influencer" else "Control"

    _edit(release_files["experiment_1"], change)
    with pytest.raises(CohortValidationError, match=r"column 'condition'.*one value per participant"):
        import_release(release_files, ARMS)


def test_missing_columns_are_named(release_files):
    _edit(release_files["all_themes"], lambda frame: frame.drop(columns=["category"]))
    with pytest.raises(CohortValidationError, match=r"all_themes.csv, column 'category'; expected a column with this name"):
        import_release(release_files, ARMS)


def test_missing_file_is_named(release_files):
    release_files["experiment_2"].unlink()
    with pytest.raises(InputFileError, match="experiment_2.csv: file not found"):
        import_release(release_files, ARMS)


def test_bad_values_are_listed_together(release_files):
    def change(frame):
        frame.loc[:, "starter"] = frame["starter"].where(frame["conversation_number"] != "1", "Hello, how are you?")
        frame.loc[frame["user_id"] == frame["user_id"].iloc[0], "baseline_empathy_item_3"] = "a lot"
        frame.loc[frame["condition"] == "Control", "condition"] = "Placebo"

    _edit(release_files["experiment_1"], change)
    with pytest.raises(CohortValidationError) as error:
        import_release(release_files, ARMS)
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
    imported = import_release(release_files, ARMS)
    issues = imported.issues
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
        "Hello there", None,
    ])
    expected = ["job_loss", "promotion", "undervalued", "loss_dad", "mom_unwell", "job_loss", "mom_unwell", "mom_unwell", np.nan, np.nan]
    assert match_scenarios(lines).tolist()[:8] == expected[:8]
    assert match_scenarios(lines).iloc[8:].isna().all()


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


# ---------------------------------------------------------------------------------------- download
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *arguments):
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


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
