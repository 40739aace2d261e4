"""Tests of the privacy filters on message text (analysis.privacy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.privacy import opaque_id, scrub_text, shown_items


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
