"""Privacy of message text: scrub contact details and show only expressions many people used.

Message text is the most sensitive input of the trial. Anything derived from it that an output or
the report shows goes through two filters:

* :func:`scrub_text` replaces e-mail addresses, URLs and phone numbers by the placeholders
  ``[email]``, ``[url]`` and ``[phone]`` (applied to the messages before phrases are mined, and
  again to every phrase or label shown);
* :func:`shown_items` keeps an expression only when at least ``k`` distinct participants used it
  (k is registered: ``taxonomy.min_participants`` in ``config/prereg.yaml``).

Whole messages are never written by the taxonomy rules: only n-grams of 2-6 words and theme labels.
"""

from __future__ import annotations

import hashlib
import re

import pandas as pd

from analysis.errors import AnalysisError

PLACEHOLDERS: dict[str, str] = {"email": "[email]", "url": "[url]", "phone": "[phone]"}

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
URL_PATTERN = re.compile(
    r"(?:\bhttps?://|\bwww\.)[^\s<>\"']*[^\s<>\"'.,;:!?)]"
    r"|\b[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:com|org|net|edu|gov|io|co|uk|de|info|biz|me|ly)\b"
    r"(?:/[^\s<>\"']*[^\s<>\"'.,;:!?)])?",
    re.IGNORECASE,
)
# A run of at least seven digits, possibly split by spaces, dots, dashes or brackets, with an optional
# leading +; shorter numbers (ages, years, list items) and dates written with slashes are left alone.
PHONE_PATTERN = re.compile(r"(?<![\w/])\+?\(?\d(?:[\s.()-]{0,2}\d){6,}(?![\w/])")


def scrub_text(text: pd.Series | str) -> pd.Series | str:
    """Replace e-mail addresses, URLs and phone numbers by placeholders.

    Parameters
    ----------
    text : pandas.Series of str, or str
        Message texts, phrases or labels (missing values stay missing).

    Returns
    -------
    pandas.Series or str
        The same texts with every e-mail address replaced by ``[email]``,
        every URL (``http(s)://...``, ``www....`` or a bare domain with a
        common top-level domain) by ``[url]`` and every phone number (seven
        or more digits, optionally grouped by spaces, dots, dashes or
        brackets, optional leading ``+``) by ``[phone]``.

    Notes
    -----
    E-mail addresses are replaced first so that their domain is not taken for
    a URL. Over-scrubbing (e.g. a long digit string that is not a phone
    number) is accepted: the filter errs on the side of privacy.
    """
    if isinstance(text, str):
        return scrub_text(pd.Series([text], dtype=object)).iloc[0]
    series = pd.Series(text, dtype=object)
    scrubbed = series.str.replace(EMAIL_PATTERN, PLACEHOLDERS["email"], regex=True)
    scrubbed = scrubbed.str.replace(URL_PATTERN, PLACEHOLDERS["url"], regex=True)
    return scrubbed.str.replace(PHONE_PATTERN, PLACEHOLDERS["phone"], regex=True)


def shown_items(table: pd.DataFrame, support_column: str, k: int) -> pd.DataFrame:
    """The rows of ``table`` whose expression was used by at least ``k`` participants.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per expression (phrase or theme), with its participant support.
    support_column : str
        Column holding the number of distinct participants who used it.
    k : int
        Registered minimum (at least 1).

    Returns
    -------
    pandas.DataFrame
        The rows with ``support_column >= k``, in their original order.

    Raises
    ------
    AnalysisError
        When ``k`` is below 1 or the support column is missing.
    """
    if int(k) != k or k < 1:
        raise AnalysisError(f"the minimum number of participants k must be a positive integer, got {k!r}")
    if support_column not in table.columns:
        raise AnalysisError(f"cannot apply the privacy filter: column {support_column!r} is missing")
    return table[table[support_column] >= k]


def opaque_id(text: str) -> str:
    """A short stable identifier of an expression that must not be shown (sha256 prefix).

    Used to list suppressed expressions in left-out tables without their text.
    """
    return "suppressed_" + hashlib.sha256(str(text).encode("utf-8")).hexdigest()[:12]
