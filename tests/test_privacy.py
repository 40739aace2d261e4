"""Tests of the privacy filters (analysis.cohorts.privacy): scrubbed text, excerpts in issue files and error
messages, and keyed pseudonyms of IDs."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest

import analysis.cohorts.privacy as privacy
from analysis.adapters.paper_release import ISSUE_COLUMNS, import_release, issue_rows
from analysis.adapters.pilot_release import parse_transcripts, read_scenarios
from analysis.cohorts.contract import load_and_validate
from analysis.cohorts.native import write_native
from analysis.cohorts.privacy import (
    excerpt,
    opaque_id,
    pseudonymisation_record,
    pseudonymise_cohort,
    pseudonymise_tables,
    pseudonyms,
    read_pseudonym_key,
    scrub_text,
    shown_items,
    withhold_cited_values,
)
from analysis.errors import AnalysisError, CohortValidationError, ConfigError, ValidationIssue
from analysis.simulate.release import simulate_release, write_release
from tests.conftest import make_small_cohort
from tests.workflow_runs import RELEASE_CONFIG


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at john.doe+x@example.co.uk now", "mail me at [email] now"),
        ("JANE_D@Uni-Mail.edu.", "[email]."),
        ("call +1 (555) 123-4567 or 555.123.4567", "call [phone] or [phone]"),
        ("my number is 07700 900123", "my number is [phone]"),
        ("see https://x.org/a?b=1, www.foo.com and foo.com/bar.", "see [url], [url] and [url]."),
        ("(http://a.io/x)", "([url])"),
        ("write to me@site.com or visit site.com", "write to [email] or visit [url]"),
    ],
)
def test_scrub_replaces_contact_details(text, expected):
    assert scrub_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I am 35, born 1989, step 1. rest 2. plan",
        "It's 10:30 and I lost my job on 12/05/2024",
        "ok... fine. That sounds really hard.",
        "code 123456",
        'It\'s okay to feel "not okay" right now.',
    ],
)
def test_scrub_leaves_ordinary_text_alone(text):
    assert scrub_text(text) == text


def test_scrub_series_keeps_index_and_missing_values():
    series = pd.Series(["a@b.com", None, "plain"], index=[5, 7, 9], dtype=object)
    scrubbed = scrub_text(series)
    assert list(scrubbed.index) == [5, 7, 9]
    assert scrubbed[5] == "[email]" and scrubbed[9] == "plain"
    assert pd.isna(scrubbed[7])


def test_shown_items_keeps_expressions_of_at_least_k_participants():
    table = pd.DataFrame({"phrase": ["a b", "c d", "e f"], "support_participants": [4, 5, 6]})
    shown = shown_items(table, "support_participants", 5)
    assert shown["phrase"].tolist() == ["c d", "e f"]
    assert shown_items(table, "support_participants", 1).equals(table)


@pytest.mark.parametrize("k", [0, -1, 2.5])
def test_shown_items_rejects_bad_k(k):
    table = pd.DataFrame({"support_participants": np.arange(3)})
    with pytest.raises(AnalysisError, match="positive integer"):
        shown_items(table, "support_participants", k)


def test_shown_items_needs_support_column():
    with pytest.raises(AnalysisError, match="missing"):
        shown_items(pd.DataFrame({"phrase": ["x"]}), "support_participants", 5)


def test_opaque_id_is_stable_and_hides_text():
    first = opaque_id("my private theme")
    assert first == opaque_id("my private theme")
    assert first != opaque_id("another theme")
    assert "private" not in first and first.startswith("suppressed_")


# --- excerpts ---------------------------------------------------------------------------------------

LONG_MESSAGE = (
    "Honestly I have been struggling a lot since my dad died last week,\\n\\tand my sister "
    "(jane.roe@example.org, +44 7700 900123) keeps telling me to just move on, which hurts."
).replace("\\n", "\n").replace("\\t", "\t")
CONTROLS = "".join(chr(code) for code in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)])
INVISIBLE = "\u200b\u200e\u202e\u2066\ufeff"


def test_excerpt_is_short_scrubbed_and_cut_at_a_word():
    shown = excerpt(LONG_MESSAGE)
    assert len(shown) <= 40 and shown.endswith("\u2026")
    assert shown == "Honestly I have been struggling a lot\u2026"
    assert LONG_MESSAGE.startswith(shown[:-1])  # a prefix of the message, ending at a word


def test_excerpt_scrubs_before_it_cuts():
    # the address straddles the cut and no word ends in range: cut first, "contact jane.roe@ex" would be shown
    assert excerpt("contact jane.roe@example.org please", max_chars=20) == "contact [email]\u2026"
    assert excerpt("please write to me at jane.roe@example.org tonight", max_chars=30) == "please write to me at [email]\u2026"
    assert excerpt("call me on 0 7 7 0 0 9 0 0 1 2 3 now") == "call me on [phone] now"


def test_excerpt_makes_one_line_without_control_or_invisible_characters():
    text = f"line one\r\nline\ttwo{CONTROLS}{INVISIBLE}\u2028three\x1b[31mred"
    shown = excerpt(text, max_chars=200)
    assert shown == "line one line two three[31mred"
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\u2028]", shown)


def test_excerpt_invariants_on_random_text():
    rng = np.random.default_rng(11)
    alphabet = np.array(list("abc XYZ 0123456789 @.-+/:\n\t\r") + list(CONTROLS[:8]) + list(INVISIBLE) + ["é", "字"])
    texts = pd.Series(["".join(rng.choice(alphabet, size=rng.integers(0, 120))) for _ in range(300)], dtype=object)
    shown = excerpt(texts, max_chars=25)
    assert (shown.str.len() <= 25).all()
    assert not shown.str.contains(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]", regex=True).any()
    assert not shown.str.contains(r"^\s|\s\s", regex=True).any()
    assert (shown[texts.str.len() <= 20] == excerpt(texts[texts.str.len() <= 20], max_chars=200)).all()


def test_excerpt_keeps_short_values_missing_values_and_index():
    values = pd.Series(["short note", None, 12345, "", np.nan], index=[4, 8, 15, 16, 23], dtype=object)
    shown = excerpt(values)
    assert list(shown.index) == [4, 8, 15, 16, 23]
    assert shown[4] == "short note" and shown[15] == "12345" and shown[16] == ""
    assert pd.isna(shown[8]) and pd.isna(shown[23])
    assert excerpt("x" * 41) == "x" * 39 + "\u2026"  # no word boundary: cut mid-word
    assert excerpt("x" * 40) == "x" * 40


@pytest.mark.parametrize("max_chars", [9, 0, 12.5, True, "40"])
def test_excerpt_rejects_a_bad_length(max_chars):
    with pytest.raises(AnalysisError, match="at least 10"):
        excerpt("text", max_chars=max_chars)


def test_error_messages_show_text_values_only_as_excerpts():
    issue = ValidationIssue("messages.csv", 7, "text", LONG_MESSAGE, "text without control characters")
    line = issue.describe()
    assert "struggling a lot\u2026'" in line and "jane" not in line and "7700" not in line and "hurts" not in line
    # IDs, codes and numbers as they are, so that the user can find them
    assert "'20241031144237228364'" in ValidationIssue("f.csv", 1, "conversation_id", "20241031144237228364", "x").describe()
    assert "'jo@x.org'" in ValidationIssue("f.csv", 1, "participant_id", "jo@x.org", "x").describe()
    assert "('p1', 2)" in ValidationIssue("f.csv", 1, "participant_id+conversation_number", ("p1", 2), "x").describe()


def test_contract_errors_never_print_a_whole_message(tmp_path):
    cohort = make_small_cohort(n_per_arm=2)
    messages = cohort.messages.copy()
    messages.loc[3, "text"] = LONG_MESSAGE + "\x00"
    write_native(type(cohort)(cohort.participants, cohort.conversations, messages, cohort.scores), tmp_path)
    files = {name: str(tmp_path / f"{name}.csv") for name in ("participants", "conversations", "messages", "scores")}
    with pytest.raises(CohortValidationError) as caught:
        load_and_validate(files, arms=["control", "video", "coach", "combined"],
                          dimensions=list(cohort.scores["dimension"].unique()), conversations_per_participant=3)
    message = str(caught.value)
    assert "row 4, column 'text'" in message and "Honestly I have been" in message
    assert "move on" not in message and "jane.roe" not in message


def test_pilot_issues_show_transcript_text_as_excerpts():
    transcript = f"Note from the moderator: {LONG_MESSAGE}\nSeeker: I feel awful today, truly awful.\nSupporter: I'm here."
    frame = pd.DataFrame({"conversation_id": ["20241031144237228364"], "full_conversation": [transcript]})
    _, _, issues = parse_transcripts(frame, "conversations.csv", read_scenarios())
    shown = issues.set_index("reason")["value"]
    leading = shown[shown.index.str.startswith("text before")].iloc[0]
    opening = shown[shown.index.str.startswith("the seeker's opening line")].iloc[0]
    assert leading == "Note from the moderator: Honestly I\u2026"
    assert opening == "I feel awful today, truly awful."


def test_release_issues_show_cell_values_as_excerpts():
    frame = pd.DataFrame({"Level 2": [LONG_MESSAGE, "Validating", None]})
    issues = issue_rows(frame, pd.Series([True, True, True]), "all_themes.csv", "Level 2", "row left out", "why")
    assert list(issues.columns) == ISSUE_COLUMNS and issues["row"].tolist() == [1, 2, 3]
    assert issues["value"].tolist() == ["Honestly I have been struggling a lot\u2026", "Validating", ""]


# --- pseudonyms ---------------------------------------------------------------------------------------

KEY = b"0123456789abcdef0123456789abcdef"
# printf 'participant\0P0001' | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
#   SHA2-256(stdin)= 7700a9aef64517d4d66cd23ba3fc3ddbe009c65aa2318ccd536c386b4a86db68
OPENSSL_P0001 = "p_7700a9aef64517d4"


def hmac_sha256_by_hand(key: bytes, message: bytes) -> str:
    """HMAC (RFC 2104) built from hashlib alone: H((K ^ opad) || H((K ^ ipad) || m)), 64-byte blocks."""
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\x00")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in block) + inner).hexdigest()


def test_pseudonyms_equal_an_independent_hmac():
    ids = pd.Series(["P0001", "P0002", "P0001", None, "Ünïcode id"])
    mapping = pseudonyms(ids, key=KEY, kind="participant")
    assert mapping["P0001"] == OPENSSL_P0001
    for raw in ["P0001", "P0002", "Ünïcode id"]:
        expected = "p_" + hmac_sha256_by_hand(KEY, b"participant\x00" + raw.encode("utf-8"))[:16]
        assert mapping[raw] == expected
    assert list(mapping.index) == ["P0001", "P0002", "Ünïcode id"]
    conversation = pseudonyms(pd.Series(["P0001"]), key=KEY, kind="conversation")["P0001"]
    assert conversation == "c_" + hmac_sha256_by_hand(KEY, b"conversation\x00P0001")[:16]
    assert conversation[2:] != OPENSSL_P0001[2:]  # kinds are hashed apart


def test_pseudonym_collisions_are_errors(monkeypatch):
    monkeypatch.setattr(privacy, "PSEUDONYM_HEX_DIGITS", 1)  # 16 possible pseudonyms for 40 IDs
    ids = pd.Series([f"secret-id-{i}" for i in range(40)])
    with pytest.raises(AnalysisError, match="shared by different IDs") as caught:
        pseudonyms(ids, key=KEY, kind="participant")
    assert "secret-id" not in str(caught.value)


def native_tables():
    cohort = make_small_cohort(n_per_arm=2)
    conversation_ids = cohort.conversations["conversation_id"]
    perception = pd.DataFrame({
        "rater_id": ["r1", "r1", "r2"], "pair_id": ["x", "y", "x"], "scenario": ["job_loss"] * 3,
        "conversation_left_id": conversation_ids[[0, 3, 0]].to_numpy(), "conversation_right_id": conversation_ids[[6, 9, 6]].to_numpy(),
        "choice": ["left", "right", "left"],
    })
    return {**dict(cohort.items()), "perception": perception, "elo": pd.DataFrame({"conversation_id": conversation_ids, "elo_rating": 1.0})}


def test_pseudonymise_tables_replaces_every_id_and_keeps_the_joins():
    tables = native_tables()
    out = pseudonymise_tables(tables, key=KEY)
    assert set(out) == set(tables)
    for name, columns in privacy.ID_COLUMNS.items():
        for column, kind in columns.items():
            if name in out and column in out[name]:
                pattern = rf"^{privacy.PSEUDONYM_PREFIXES[kind]}[0-9a-f]{{16}}$"
                assert out[name][column].str.fullmatch(pattern).all(), (name, column)
    raw_ids = set(tables["participants"]["participant_id"]) | set(tables["conversations"]["conversation_id"]) | {"r1", "r2", "x", "y"}
    for frame in out.values():
        assert not set(frame.astype(str).to_numpy().ravel()) & raw_ids
    # joins survive: the same raw ID has the same pseudonym in every table
    assert set(out["conversations"]["participant_id"]) == set(out["participants"]["participant_id"])
    for name in ("messages", "scores", "elo"):
        assert set(out[name]["conversation_id"]) == set(out["conversations"]["conversation_id"])
    assert out["perception"]["pair_id"].nunique() == 2 and out["perception"]["rater_id"].nunique() == 2
    # other columns unchanged, rows sorted by their pseudonymised keys
    before = tables["participants"].assign(key=pseudonyms(tables["participants"]["participant_id"], key=KEY, kind="participant")
                                           .loc[tables["participants"]["participant_id"]].to_numpy())
    expected = before.sort_values("key").drop(columns="participant_id").rename(columns={"key": "participant_id"})
    pd.testing.assert_frame_equal(out["participants"], expected[out["participants"].columns].reset_index(drop=True))
    assert out["messages"][["conversation_id", "turn"]].equals(out["messages"][["conversation_id", "turn"]].sort_values(
        ["conversation_id", "turn"]).reset_index(drop=True))


def test_pseudonymise_tables_is_deterministic_and_keyed():
    tables = native_tables()
    first, again = pseudonymise_tables(tables, key=KEY), pseudonymise_tables(tables, key=KEY)
    other = pseudonymise_tables(tables, key=KEY[::-1])
    for name in tables:
        pd.testing.assert_frame_equal(first[name], again[name])
    assert not set(first["participants"]["participant_id"]) & set(other["participants"]["participant_id"])


def test_pseudonymise_tables_keeps_row_order_and_missing_ids_on_request():
    perception = native_tables()["perception"]
    perception.loc[1, "rater_id"] = None
    out = pseudonymise_tables({"perception": perception}, key=KEY, keep_row_order=True)["perception"]
    assert pd.isna(out.loc[1, "rater_id"]) and out["choice"].tolist() == ["left", "right", "left"]
    assert out.loc[0, "conversation_left_id"] == out.loc[2, "conversation_left_id"]


def test_pseudonymise_tables_refuses_a_table_it_does_not_know():
    with pytest.raises(AnalysisError, match=r"no ID columns are known for table\(s\) \['crowd_annotations'\]"):
        pseudonymise_tables({"crowd_annotations": pd.DataFrame({"worker_id": ["w"]})}, key=KEY)


def write_key(path, content: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_key_is_read_stripped_of_surrounding_white_space(tmp_path):
    key = write_key(tmp_path / "keys" / "cohort.key", b"  " + KEY.hex().encode() + b"\n")
    assert read_pseudonym_key(key, protected_dirs=[tmp_path / "repo"]) == KEY.hex().encode()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b" \n\t\n", "is empty"), (b"x" * 31 + b"\n", "holds 31 bytes; expected at least 32")],
)
def test_a_short_or_empty_key_is_refused(tmp_path, content, message):
    key = write_key(tmp_path / "keys" / "cohort.key", content)
    with pytest.raises(ConfigError, match=message) as caught:
        read_pseudonym_key(key, protected_dirs=[tmp_path / "repo"])
    assert str(key) in str(caught.value) and "secrets.token_hex(32)" in str(caught.value)


def test_a_missing_key_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="key file not found"):
        read_pseudonym_key(tmp_path / "nowhere.key", protected_dirs=[])


def test_a_key_inside_a_protected_folder_is_refused_even_through_a_link(tmp_path):
    repository = tmp_path / "repo"
    inside = write_key(repository / "config" / "cohort.key", KEY)
    with pytest.raises(ConfigError, match="lies inside") as caught:
        read_pseudonym_key(inside, protected_dirs=[tmp_path / "elsewhere", repository])
    assert KEY.decode() not in str(caught.value)
    link = tmp_path / "outside" / "cohort.key"
    link.parent.mkdir()
    link.symlink_to(inside)
    with pytest.raises(ConfigError, match="lies inside"):
        read_pseudonym_key(link, protected_dirs=[repository])


def test_the_record_names_the_key_file_never_the_key(tmp_path):
    key = write_key(tmp_path / "keys" / "cohort.key", KEY)
    tables, record = pseudonymise_cohort(native_tables(), key_file=str(key), protected_dirs=[tmp_path / "repo"])
    assert record == pseudonymisation_record(key_file=str(key), tables=tables)
    assert record["key_file"] == str(key) and record["columns"]["conversations"] == ["conversation_id", "participant_id"]
    text = json.dumps(record)
    assert KEY.decode() not in text and KEY.hex() not in text


# --- what a pseudonymised release's import cites ------------------------------------------------------


def test_withheld_values_keep_file_row_and_column():
    message = "perception.csv, row 2, column 'rater_id': value \"R-17's\"; expected an ID without spaces"
    assert withhold_cited_values(message) == (
        "perception.csv, row 2, column 'rater_id': value [withheld: IDs pseudonymised]; expected an ID without spaces"
    )
    cited = pd.Series(["x, row 1, column 'a': value 'c9 turn 1'; expected y", None])
    assert withhold_cited_values(cited).tolist()[0] == "x, row 1, column 'a': value [withheld: IDs pseudonymised]; expected y"


@pytest.mark.parametrize("withhold", [False, True])
def test_a_pseudonymised_release_import_cites_no_raw_id(tmp_path, withhold):
    """An optional file that cannot be mapped because it names an unknown conversation: the reason cites
    the raw ID, unless the cohort is pseudonymised (the unwithheld case shows that the check can fail)."""
    release = simulate_release({arm: 4 for arm in ("control", "video", "coach", "combined")}, seed=3, messages_per_conversation=4,
                               n_raters=4, pairs_per_rater=4, pool_per_scenario=4)
    files = write_release(release, tmp_path / "release")
    perception = pd.read_csv(files["experiment_2"], dtype=str, keep_default_na=False)
    perception.loc[0, "conversation_left_id"] = "99990000111122223333"
    perception.to_csv(files["experiment_2"], index=False)
    imported = import_release(files, arms=["control", "video", "coach", "combined"], theme_categories=RELEASE_CONFIG["theme_categories"],
                              junk_levels=RELEASE_CONFIG["junk_levels"], verify_checksums=False, withhold_values=withhold)
    shown = imported.issues.to_csv() + json.dumps(imported.record, default=str)
    assert not imported.record["optional"]["perception"]["available"]
    assert ("99990000111122223333" in shown) is not withhold
    assert ("[withheld: IDs pseudonymised]" in shown) is withhold
